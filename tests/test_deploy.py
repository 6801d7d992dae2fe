"""The deployment files: valid Kubernetes objects that agree with each other, with compose and with the app.

Every manifest under deploy/k8s/ is checked against the Kubernetes API schema (kubernetes-validate's
strict schemas, no cluster needed); then what a schema cannot see: labels and selectors, probe paths
in the URLconf, environment variables the app knows, one image and the same commands everywhere, and
one nginx configuration for compose and the pod.
"""

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from django.core.management import get_commands
from django.urls import resolve

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
KUBERNETES_VERSION = "1.33.0"
APP_IMAGE = "leaderforge:latest"
NGINX_IMAGE = "nginx:1.28-alpine"
SECRET_KEYS = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "METRICS_TOKEN", "NEW_RELIC_LICENSE_KEY"}
SCHEDULES = {
    "purge_idempotency_keys": "0 * * * *",
    "refresh_score_baselines": "30 3 * * *",
    "check_rank_index": "*/15 * * * *",
}
# Variables read by something other than the settings, each with who reads it.
READ_ELSEWHERE = {
    "NEW_RELIC_LICENSE_KEY": "the New Relic agent (newrelic-admin in the image's command)",
    "NGINX_ENTRYPOINT_QUIET_LOGS": "the nginx image's entrypoint",
}


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests() if doc["kind"] == kind]


def one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [doc for doc in by_kind(kind) if doc["metadata"]["name"] == name]
    return found


def pod_specs() -> list[dict[str, Any]]:
    specs = [doc["spec"]["template"]["spec"] for doc in by_kind("Deployment") + by_kind("Job")]
    specs += [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"] for doc in by_kind("CronJob")]
    return specs


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def app_services() -> dict[str, dict[str, Any]]:
    """The compose services that run the app image (built from this repository)."""
    return {name: svc for name, svc in compose()["services"].items() if svc.get("build") == "."}


def env_example() -> dict[str, str]:
    pairs = re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / ".env.example").read_text(), re.MULTILINE)
    return dict(pairs)


def known_variables() -> set[str]:
    read = set()
    for source in ("leaderforge/settings.py", "gunicorn.conf.py"):
        read |= set(re.findall(r"""["']([A-Z][A-Z0-9_]+)["']""", (ROOT / source).read_text()))
    return read | set(env_example()) | set(READ_ELSEWHERE)


def web_pod() -> dict[str, Any]:
    return one("Deployment", "leaderforge-web")["spec"]["template"]["spec"]


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in containers(spec) if c["name"] == name]
    return found


def dockerfile_cmd() -> list[str]:
    (line,) = re.findall(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    return list(json.loads(line))


def test_every_manifest_is_valid_against_the_kubernetes_api_schema() -> None:
    docs = manifests()
    assert len(docs) >= 12
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_catches_a_wrong_field() -> None:
    job = one("Job", "leaderforge-migrate")
    job["spec"]["template"]["spec"]["containers"][0]["comand"] = ["python"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert [image["name"] for image in kustomization["images"]] == [APP_IMAGE.split(":")[0]]


def test_the_kinds_asked_for_are_all_there() -> None:
    kinds = sorted(doc["kind"] for doc in manifests())
    for kind in ["ConfigMap", "CronJob", "Deployment", "HorizontalPodAutoscaler", "Job"]:
        assert kind in kinds
    for kind in ["PodDisruptionBudget", "Secret", "Service"]:
        assert kind in kinds
    assert one("HorizontalPodAutoscaler", "leaderforge-web")["apiVersion"] == "autoscaling/v2"
    assert one("Deployment", "leaderforge-rank-index-worker")["spec"]["replicas"] == 1


def test_selectors_match_the_labels_of_the_pods_they_mean() -> None:
    deployments = {d["metadata"]["name"]: d for d in by_kind("Deployment")}
    for deployment in deployments.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()

    def selected(selector: dict[str, str]) -> set[str]:
        return {
            name
            for name, d in deployments.items()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        }

    service = one("Service", "leaderforge-web")
    assert selected(service["spec"]["selector"]) == {"leaderforge-web"}
    pdb = one("PodDisruptionBudget", "leaderforge-web")
    assert selected(pdb["spec"]["selector"]["matchLabels"]) == {"leaderforge-web"}
    target = one("HorizontalPodAutoscaler", "leaderforge-web")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "leaderforge-web")
    # The service's port is the nginx container's, never gunicorn's.
    nginx_ports = {p["name"]: p["containerPort"] for p in container(web_pod(), "nginx")["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in nginx_ports
    assert "ports" not in container(web_pod(), "web")


def test_config_maps_secrets_and_volumes_that_pods_use_exist() -> None:
    config_maps = {doc["metadata"]["name"] for doc in by_kind("ConfigMap")}
    secrets = {doc["metadata"]["name"] for doc in by_kind("Secret")}
    for spec in pod_specs():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in containers(spec):
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets
            for mount in c.get("volumeMounts", []):
                assert mount["name"] in volumes, (c["name"], mount["name"])
        for volume in volumes.values():
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps


def test_probe_paths_exist_in_the_urlconf_and_ports_in_the_pod() -> None:
    pod = web_pod()
    ports = {p["name"] for c in pod["containers"] for p in c.get("ports", [])}
    paths = set()
    for c in pod["containers"]:
        assert c.get("livenessProbe") and c.get("readinessProbe"), c["name"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = c.get(kind)
            if probe is None:
                continue
            action = probe.get("httpGet") or probe.get("tcpSocket")
            assert action["port"] in ports
            if "httpGet" in probe:
                paths.add(probe["httpGet"]["path"])
    web = container(pod, "web")
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for path in paths:
        resolve(path)
    # Kubelet sends the pod's IP as Host unless told otherwise, and Django refuses hosts it does not know.
    allowed = one("ConfigMap", "leaderforge-config")["data"]["ALLOWED_HOSTS"].split(",")
    for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
        headers = {h["name"]: h["value"] for h in web[probe_name]["httpGet"].get("httpHeaders", [])}
        assert headers.get("Host") in allowed, probe_name
    # nginx passes the probes on to gunicorn: it proxies everything but /static/.
    assert not any(path.startswith("/static/") for path in paths)


def test_every_environment_variable_is_one_the_app_knows() -> None:
    known = known_variables()
    referenced: dict[str, str] = {}
    for doc in by_kind("ConfigMap"):
        if doc["metadata"]["name"] == "leaderforge-config":
            referenced |= dict.fromkeys(doc["data"], "ConfigMap leaderforge-config")
    for doc in by_kind("Secret"):
        referenced |= dict.fromkeys(doc["stringData"], "Secret " + doc["metadata"]["name"])
    for spec in pod_specs():
        for c in containers(spec):
            referenced |= {e["name"]: "container " + c["name"] for e in c.get("env", [])}
    for name, svc in {**app_services(), "nginx": compose()["services"]["nginx"]}.items():
        referenced |= dict.fromkeys(svc.get("environment", {}), "compose service " + name)
    unknown = {name: where for name, where in referenced.items() if name not in known}
    assert not unknown, f"not read by settings.py / gunicorn.conf.py nor listed in .env.example: {unknown}"


def test_the_secret_holds_exactly_the_secrets_as_placeholders_and_the_config_map_none() -> None:
    (secret,) = by_kind("Secret")
    assert set(secret["stringData"]) == SECRET_KEYS
    for name, value in secret["stringData"].items():
        assert value == "" or "REPLACE" in value or "example" in value, name
    config = one("ConfigMap", "leaderforge-config")["data"]
    assert not SECRET_KEYS & set(config)
    # Every variable production requires is provided by one or the other.
    required = re.findall(
        r"^# \(production\)[^\n]*\n([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE
    )
    assert required and set(required) <= SECRET_KEYS | set(config)
    assert config["DEBUG"] == "false"


def test_config_map_values_are_the_documented_ones_where_production_does_not_differ() -> None:
    config = one("ConfigMap", "leaderforge-config")["data"]
    documented = env_example()
    production_choices = {"ALLOWED_HOSTS", "TRUSTED_PROXY_COUNT", "BEHIND_TLS_PROXY", "GUNICORN_BIND"}
    for name, value in config.items():
        if name in documented and name not in production_choices:
            assert value == documented[name], name


def test_every_app_container_runs_the_one_image_as_non_root_on_a_read_only_root() -> None:
    for spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True
        for c in containers(spec):
            assert c["image"] == (NGINX_IMAGE if c["name"] == "nginx" else APP_IMAGE), c["name"]
            context = c["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert context["runAsUser"] != 0
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) & set(c["resources"]["limits"])
    assert compose()["services"]["nginx"]["image"] == NGINX_IMAGE


def test_commands_agree_between_kubernetes_compose_and_the_image() -> None:
    assert container(web_pod(), "web")["command"] == dockerfile_cmd()
    assert "command" not in app_services()["web"]  # compose runs the image's own command
    worker = one("Deployment", "leaderforge-rank-index-worker")["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"] == app_services()["rank_index_worker"]["command"]
    assert worker["command"] == ["python", "manage.py", "rank_index_worker"]
    migrate = one("Job", "leaderforge-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert (
        migrate["command"]
        == app_services()["migrate"]["command"]
        == ["python", "manage.py", "migrate", "--no-input"]
    )
    copy_static = container(web_pod(), "copy-static")["command"]
    assert copy_static[-1].endswith("cp -a /app/staticfiles/. /srv/static/")
    assert app_services()["static"]["command"][-1].endswith("cp -a /app/staticfiles/. /srv/static/")
    commands = get_commands()
    schedules = {}
    for cron in by_kind("CronJob"):
        (job,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        python, manage, name = job["command"]
        assert (python, manage) == ("python", "manage.py")
        assert name in commands
        schedules[name] = cron["spec"]["schedule"]
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert schedules == SCHEDULES


def test_compose_and_the_pod_use_the_same_nginx_config() -> None:
    conf = NGINX_CONF.read_text()
    config_map = one("ConfigMap", "leaderforge-nginx")
    assert config_map["data"]["nginx.conf"] == conf, "run bin/render-nginx-configmap after editing nginx.conf"
    nginx = compose()["services"]["nginx"]
    assert "./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    mount = next(m for m in container(web_pod(), "nginx")["volumeMounts"] if m["name"] == "nginx-config")
    assert (mount["mountPath"], mount["subPath"]) == ("/etc/nginx/nginx.conf", "nginx.conf")
    # Both put nginx in gunicorn's network namespace and send it to the address gunicorn listens on.
    assert nginx["network_mode"] == "service:web"
    (upstream,) = re.findall(r"^\s*server (\S+);", conf, re.MULTILINE)
    assert upstream == one("ConfigMap", "leaderforge-config")["data"]["GUNICORN_BIND"]
    assert upstream == app_services()["web"]["environment"]["GUNICORN_BIND"]
    (listen,) = re.findall(r"^\s*listen (\d+);", conf, re.MULTILINE)
    assert [p["containerPort"] for p in container(web_pod(), "nginx")["ports"]] == [int(listen)]
    assert app_services()["web"]["ports"] == [f"127.0.0.1:{listen}:{listen}"]
    (static_root,) = re.findall(r"alias (\S+)/;", conf)
    assert f"static:{static_root}:ro" in nginx["volumes"]
    assert any(m["mountPath"] == static_root for m in container(web_pod(), "nginx")["volumeMounts"])


def test_nginx_caps_bodies_at_the_apps_limit() -> None:
    conf = NGINX_CONF.read_text()
    (kib,) = re.findall(r"client_max_body_size (\d+)k;", conf)
    limit = int(kib) * 1024
    assert limit == int(env_example()["DATA_UPLOAD_MAX_MEMORY_SIZE"])
    assert limit == int(one("ConfigMap", "leaderforge-config")["data"]["DATA_UPLOAD_MAX_MEMORY_SIZE"])
    assert f"larger than {limit} bytes" in conf  # the JSON 413 says the same as the app's


def test_the_image_health_check_stays_the_liveness_check() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    (check,) = re.findall(r"^HEALTHCHECK .*\n\s+CMD (.*)$", dockerfile, re.MULTILINE)
    assert "127.0.0.1:8000/healthz" in check
    resolve("/healthz")
    assert "/readyz" in " ".join(app_services()["web"]["healthcheck"]["test"])
