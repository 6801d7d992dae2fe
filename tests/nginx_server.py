"""Run Debian's nginx with deploy/nginx/nginx.conf for a test: a private port, a temporary prefix.

The shipped file is rendered for the test by exact replacements (listen port, upstream, static root,
writable paths), each of which must match once, so a change to the file that a test would silently stop
covering fails here instead.
"""

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.gunicorn_server import ROOT
from tests.server_process import running

NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if found is None:
        raise RuntimeError("nginx is missing: bin/ensure-nginx installs it (make test runs it)")
    return found


def render(*, port: int, upstream: str, static_root: Path, prefix: Path) -> str:
    text = NGINX_CONF.read_text()
    replacements = {
        "listen 8080;": f"listen 127.0.0.1:{port};",
        "server 127.0.0.1:8000;": f"server {upstream};",
        "alias /srv/static/;": f"alias {static_root}/;",
        "pid /tmp/nginx.pid;": f"pid {prefix}/nginx.pid;",
        "access_log /dev/stdout;": f"access_log {prefix}/access.log;",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{old!r} should appear once in {NGINX_CONF.name}"
        text = text.replace(old, new)
    for name in ("client-body", "proxy", "fastcgi", "uwsgi", "scgi"):
        old = f"/tmp/nginx-{name};"
        assert text.count(old) == 1, f"{old!r} should appear once in {NGINX_CONF.name}"
        text = text.replace(old, f"{prefix}/{name};")
    return text


@contextlib.contextmanager
def nginx(*, port: int, upstream: str, static_root: Path, prefix: Path) -> Iterator[subprocess.Popen[bytes]]:
    """nginx in the foreground until the block ends; it answers on 127.0.0.1:port."""
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render(port=port, upstream=upstream, static_root=static_root, prefix=prefix))
    # Run as root (CI), nginx would switch its workers to "nobody", who cannot read a test's temp dirs.
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    with running(
        [nginx_binary(), "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", directives],
        name="nginx",
        ready=(prefix / "nginx.pid").exists,
        seconds=10,
        interval=0.05,
        stop_seconds=10,
    ) as process:
        yield process
