# syntax=docker/dockerfile:1
# One image: build wheels in a throwaway stage, run as a non-root user with gunicorn.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements.txt .
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --upgrade pip \
    && /opt/venv/bin/pip install -r requirements.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=leaderforge.settings \
    PORT=8000
RUN groupadd --system --gid 10001 leaderforge \
    && useradd --system --uid 10001 --gid leaderforge --home-dir /app --shell /usr/sbin/nologin leaderforge \
    && install -d -o 10001 -g 10001 /srv/static
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=10001:10001 . .
# Static files are collected at build time; throwaway values satisfy the production settings check.
RUN DEBUG=false SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://unused@localhost/unused REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput
USER 10001
# gunicorn listens on loopback; nginx beside it (deploy/nginx/nginx.conf) is the way in, on 8080.
# /srv/static is where that nginx reads the collected static files (docs/deployment.md).
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# The New Relic agent stays inert until NEW_RELIC_LICENSE_KEY is set. Running, it traces no middleware:
# a trace around each of the stack's middlewares doubled the agent's CPU per API read
# (docs/operations.md); set the variable to true to have them back.
ENV NEW_RELIC_INSTRUMENTATION_DJANGO_MIDDLEWARE_ENABLED=false
CMD ["newrelic-admin", "run-program", "gunicorn", "--config", "gunicorn.conf.py", "leaderforge.wsgi"]
