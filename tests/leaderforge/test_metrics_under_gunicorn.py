"""A real gunicorn with several sync workers: /metrics adds every worker up, and the dashboard is live.

The server runs as production does (DEBUG off, the required variables set, multiprocess metrics in
a private folder). A bounded burst of API requests goes through it; then the scraped totals must
equal exactly what was sent, and the staff dashboard fragment must show the burst.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import make_api_key, make_moderator, make_player, submit
from tests.gunicorn_server import ROOT, gunicorn
from tests.server_process import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

WORKERS = 3
TOKEN = "scrape-token-for-this-test"
RANKS, TOPS, SUBMITS = 200, 60, 40
THREADS = 4


def fetch(url: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def counts_by_route(text: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "leaderforge_http_request_duration_seconds_count":
                route = sample.labels["route"]
                totals[route] = totals.get(route, 0.0) + sample.value
    return totals


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def test_metrics_add_up_across_gunicorn_workers_and_the_dashboard_shows_the_burst(tmp_path: Path) -> None:
    players = [make_player() for _ in range(20)]
    for player in players:
        submit(player, 10)
    key = make_api_key()
    staff = Client()
    staff.force_login(make_moderator())
    session_cookie = f"{settings.SESSION_COOKIE_NAME}={staff.cookies[settings.SESSION_COOKIE_NAME].value}"

    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    # Samples a previous run left behind: gunicorn must empty the folder, or they would count again.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from leaderboard import metrics\n"
            "for _ in range(1000): metrics.REQUEST_SECONDS.labels('api-rank', 'GET', '200', '').observe(0.001)",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
    )
    stale = {path.name for path in multiproc_dir.glob("*.db")}
    assert stale

    port = free_port()
    db = connection.settings_dict
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": settings.SECRET_KEY,  # the staff session was signed with it
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "SECURE_SSL_REDIRECT": "false",
            "METRICS_TOKEN": TOKEN,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKER_CLASS": "sync",
            "GUNICORN_WORKERS": str(WORKERS),
            "LEADERBOARD_SUBMIT_RATE_PER_PLAYER": "off",
            "LEADERBOARD_SUBMIT_RATE_PER_API_KEY": "off",
            "LEADERBOARD_READ_RATE_PER_CLIENT": "off",
            "RANK_INDEX_AUTO_REBUILD": "false",
        }
    )
    base = f"http://127.0.0.1:{port}"
    scrape_headers = {"Authorization": f"Bearer {TOKEN}"}
    dashboard_headers = {"Cookie": session_cookie, "HX-Request": "true"}
    with gunicorn(env, port=port, stderr=subprocess.DEVNULL) as server:
        assert not stale & {path.name for path in multiproc_dir.glob("*.db")}, (
            "stale samples were not emptied"
        )
        status, _ = fetch(f"{base}/staff/health/", dashboard_headers)  # the dashboard's first snapshot
        assert status == 200
        assert fetch(f"{base}/metrics")[0] == 403

        jobs = (
            [("rank", i) for i in range(RANKS)]
            + [("top", i) for i in range(TOPS)]
            + [("submit", i) for i in range(SUBMITS)]
        )
        statuses: list[int] = []
        burst_deadline = time.monotonic() + 60

        def send(part: int) -> None:
            for kind, i in jobs[part::THREADS]:
                if time.monotonic() > burst_deadline:
                    return
                player = players[i % len(players)]
                if kind == "rank":
                    statuses.append(fetch(f"{base}/api/leaderboard/rank/{player.pk}")[0])
                elif kind == "top":
                    statuses.append(fetch(f"{base}/api/leaderboard/top?limit=10")[0])
                else:
                    body = json.dumps({"user_id": player.pk, "score": 3}).encode()
                    headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
                    statuses.append(fetch(f"{base}/api/leaderboard/submit", headers, body)[0])

        threads = [threading.Thread(target=send, args=(part,)) for part in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        assert sorted(set(statuses)) == [200, 201] and len(statuses) == len(jobs)

        # Several workers served the burst, and the scrape adds all of them up, exactly.
        served_by = {path.stem.split("_")[-1] for path in multiproc_dir.glob("histogram_*.db")}
        assert len(served_by) >= 2, served_by
        status, text = fetch(f"{base}/metrics", scrape_headers)
        assert status == 200
        totals = counts_by_route(text.decode())
        assert totals["api-rank"] == RANKS
        assert totals["api-top"] == TOPS
        assert totals["api-submit"] == SUBMITS

        status, fragment = fetch(f"{base}/staff/health/", dashboard_headers)
        html = fragment.decode()
        assert status == 200, html
        throughput = re.search(r'data-metric="throughput">([\d.]+) req/s<', html)
        assert throughput and float(throughput[1]) > 0, html
        requests = re.search(r'data-metric="requests">(\d+)<', html)
        assert requests and int(requests[1]) >= len(jobs)
        rank_row = re.search(r'<tr data-route="api-rank" data-cache="">(.*?)</tr>', html, re.S)
        assert rank_row, html
        p95 = re.search(r'data-metric="p95">([\d.]+) ms<', rank_row[1])
        assert p95 and float(p95[1]) > 0
        assert re.search(r'data-metric="player-rank-p95">[\d.]+ ms<', html)

        # A worker that exits hands back its live gauges and its files are folded into the archive;
        # what it counted stays in the totals.
        gauge_files = {path.name for path in multiproc_dir.glob("gauge_live*_*.db")}
        exiting = next(pid for pid in worker_pids(server.pid) if f"gauge_livesum_{pid}.db" in gauge_files)
        assert (multiproc_dir / f"histogram_{exiting}.db").exists()
        os.kill(exiting, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while list(multiproc_dir.glob(f"*_{exiting}.db")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not list(multiproc_dir.glob(f"*_{exiting}.db"))
        assert (multiproc_dir / "histogram_archive.db").exists()
        totals_after = counts_by_route(fetch(f"{base}/metrics", scrape_headers)[1].decode())
        assert totals_after["api-rank"] == RANKS and totals_after["api-submit"] == SUBMITS
