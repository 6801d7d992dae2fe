"""Gunicorn settings for LeaderForge, read from the environment.

The defaults are the serving choices measured by `make bench-compare` (see docs/PERFORMANCE.md).
Start with: gunicorn -c gunicorn.conf.py leaderforge.wsgi:application
"""

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Four sync workers on two cores: the most requests/s under the mixed load, the shortest tail and the
# fewest database connections of the configurations compared (docs/PERFORMANCE.md has the figures).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
workers = _int("GUNICORN_WORKERS", 4)
# Only the gthread worker uses threads; a sync worker serves one request at a time. gunicorn turns a
# "sync" worker with threads > 1 into gthread, so threads default to 1 unless gthread is asked for.
threads = _int("GUNICORN_THREADS", 4 if worker_class == "gthread" else 1)
# Django's psycopg pool for the processes gunicorn serves, one connection per thread at most, so no
# thread ever waits for one (docs/PERFORMANCE.md has the figures). DATABASE_POOL=false restores
# persistent per-thread connections; tests and `manage.py` commands keep the settings' default.
_pool_size = threads if worker_class == "gthread" else 1
os.environ.setdefault("DATABASE_POOL", "true")
os.environ.setdefault("DATABASE_POOL_MIN_SIZE", str(min(2, _pool_size)))
os.environ.setdefault("DATABASE_POOL_MAX_SIZE", str(_pool_size))
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then so a slow leak cannot grow forever; jitter avoids restarting all at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 10_000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10)
backlog = _int("GUNICORN_BACKLOG", 2048)

# Access log off unless asked for ("-" for stdout): at 1000+ requests/s it costs throughput.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# gunicorn turns X-Forwarded-Proto from these addresses into wsgi.url_scheme, which Django believes, so
# trusting them is the decision BEHIND_TLS_PROXY makes for Django: nobody unless it is on, then the proxy's
# addresses (the nginx in front, on loopback in the same pod by default).
_behind_tls_proxy = os.environ.get("BEHIND_TLS_PROXY", "").strip().lower() in {"1", "true", "yes", "on"}
forwarded_allow_ips = (
    os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1") if _behind_tls_proxy else ""
)


# Prometheus multiprocess mode (PROMETHEUS_MULTIPROC_DIR set in the environment before gunicorn
# starts, so every worker inherits it): each worker writes its samples to files in that folder and
# /metrics adds them up. Samples left by an earlier run would be counted again, hence the emptying
# at start; a dead worker's live gauges are dropped so they stop counting.


def on_starting(server):  # type: ignore[no-untyped-def]
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path and workers > 1:
        server.log.warning("PROMETHEUS_MULTIPROC_DIR is unset: /metrics will show one worker's share only.")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        # mark_process_dead, and the dead worker's counters folded into one archive file, so recycled
        # workers do not pile up files that every scrape must read (leaderboard/metrics_files.py).
        from leaderboard.metrics_files import retire_worker

        retire_worker(worker.pid, path)
