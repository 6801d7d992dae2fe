"""LeaderForge settings: one module, configured by environment variables.

With nothing set you get the embedded default (SQLite + local-memory cache, DEBUG on).
`DATABASE_URL` and `REDIS_URL` switch to PostgreSQL and Redis. With DEBUG off the
production variables are required, so production can never run on the defaults.
"""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from corsheaders.defaults import default_headers
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_list(name: str) -> list[str]:
    """A comma-separated variable as a list; unset or empty gives []."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


DEBUG = env_bool("DEBUG", True)


def env_required(name: str, dev_default: str) -> str:
    """Return the variable; in production (DEBUG off) a missing one stops start-up."""
    value = os.environ.get(name, "")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off (see .env.example for what it means).")


SECRET_KEY = env_required("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
ALLOWED_HOSTS = [
    h.strip() for h in env_required("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "corsheaders",
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "users",
    "leaderboard",
]

MIDDLEWARE = [
    # Outermost: every answer, redirects and 503s included, is timed and carries its X-Request-ID.
    "leaderforge.request_metrics.RequestMetricsMiddleware",
    "leaderforge.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # GET /healthz is answered here: nothing below applies to it.
    "leaderforge.health.LivenessMiddleware",
    "leaderforge.middleware.RejectNulBytesMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # leaderforge.page_middleware: the page middlewares, skipped on the JSON API and the probes.
    "leaderforge.page_middleware.CSPMiddleware",
    "leaderforge.middleware.DatabaseUnavailableMiddleware",
    "leaderboard.db_router.ReplicaRoutingMiddleware",
    "leaderforge.page_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "leaderforge.page_middleware.AuthenticationMiddleware",
    "leaderforge.page_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "leaderforge.page_middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout during the admin login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

if not DEBUG:
    # runserver serves static files in development; in production WhiteNoise serves the collected ones.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "leaderforge.urls"
WSGI_APPLICATION = "leaderforge.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# DATABASE_URL unset: the embedded SQLite file. Set: PostgreSQL through psycopg 3.
SQLITE_URL = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
# The submit statement is prepared once per connection on PostgreSQL (leaderboard.prepared);
# false for a pooler that cannot carry prepared statements between transactions.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)

DATABASES = {
    "default": dj_database_url.parse(
        env_required("DATABASE_URL", SQLITE_URL),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})
    # Fail fast instead of hanging when PostgreSQL is unreachable.
    DATABASES["default"]["OPTIONS"]["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 3)
    # A blackholed link (packets dropped, no reset) must become an error well before gunicorn kills the
    # worker: TCP keepalives notice a silent server, tcp_user_timeout aborts when sent data or probes go
    # unacknowledged that long. A live server acknowledges both, so a slow query is never cut by them.
    DATABASES["default"]["OPTIONS"]["keepalives"] = 1
    DATABASES["default"]["OPTIONS"]["keepalives_idle"] = env_int("DATABASE_KEEPALIVES_IDLE", 4)
    DATABASES["default"]["OPTIONS"]["keepalives_interval"] = env_int("DATABASE_KEEPALIVES_INTERVAL", 2)
    DATABASES["default"]["OPTIONS"]["keepalives_count"] = env_int("DATABASE_KEEPALIVES_COUNT", 2)
    DATABASES["default"]["OPTIONS"]["tcp_user_timeout"] = env_int("DATABASE_TCP_USER_TIMEOUT_MS", 6000)
    if env_bool("DATABASE_POOL", False):
        # Django's native psycopg pool; it replaces persistent connections.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1),
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 4),
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 5.0),
        }
    # Cap every statement so a runaway query cannot hold a worker forever.
    statement_timeout_ms = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 10_000)
    DATABASES["default"]["OPTIONS"]["options"] = f"-c statement_timeout={statement_timeout_ms}"
    # Request queries are short: parallel workers would only multiply PostgreSQL processes under
    # concurrent load (same throughput, more connections in docs/PERFORMANCE.md). Raise it for batch jobs.
    parallel_workers = env_int("DATABASE_PARALLEL_WORKERS", 0)
    DATABASES["default"]["OPTIONS"]["options"] += f" -c max_parallel_workers_per_gather={parallel_workers}"
    # Prepare on first use, but only what leaderboard.prepared runs: the ORM's cursors bind parameters
    # in the client and are never prepared, whatever this says. None: nothing is prepared.
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 0 if DATABASE_PREPARED_STATEMENTS else None

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers on the embedded default: a write transaction takes the write lock when it
    # begins (IMMEDIATE), so waiting writers queue in SQLite's busy handler for up to `timeout`
    # seconds instead of failing "database is locked" when a read lock cannot be upgraded. WAL lets
    # reads go on during a write; synchronous=NORMAL is durable across a crash of the app under WAL.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env_float("SQLITE_BUSY_TIMEOUT", 20.0),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# --- Read replicas ------------------------------------------------------------
# Streaming replicas of the primary, comma-separated; empty: every query goes to the primary.
# leaderboard.db_router sends the reads of views that accept slightly stale data to them.
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS")
# A replica that cannot be reached within this many seconds is skipped (libpq's minimum is 2).
DATABASE_REPLICA_CONNECT_TIMEOUT = env_int("DATABASE_REPLICA_CONNECT_TIMEOUT", 2)
# How long an unreachable replica is left alone before it is tried again (its reads use the primary).
DATABASE_REPLICA_RETRY_SECONDS = env_float("DATABASE_REPLICA_RETRY_SECONDS", 5.0)
DATABASE_REPLICAS: list[str] = []
if DATABASE_REPLICA_URLS and DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL.")
for number, replica_url in enumerate(DATABASE_REPLICA_URLS, start=1):
    replica = dj_database_url.parse(
        replica_url, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"], conn_health_checks=True
    )
    # The primary's pool and statement limits, with a short connect timeout so a dead replica
    # costs little before its reads fall back to the primary.
    replica_options = {**DATABASES["default"]["OPTIONS"], "connect_timeout": DATABASE_REPLICA_CONNECT_TIMEOUT}
    if "pool" in replica_options:
        replica_options["pool"] = {
            **replica_options["pool"],
            "timeout": min(replica_options["pool"]["timeout"], DATABASE_REPLICA_CONNECT_TIMEOUT),
        }
    replica["OPTIONS"] = replica_options
    # Under tests a replica alias is the test database itself; nothing is created for it.
    replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica_{number}"] = replica
    DATABASE_REPLICAS.append(f"replica_{number}")
DATABASE_ROUTERS = ["leaderboard.db_router.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

# --- Sign-in: password rules and lockouts (django-axes) ------------------------
# Only staff sign in (players have unusable passwords), so the rules are for staff.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes first: a locked-out attempt is refused before ModelBackend hashes the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed sign-ins (admin form or HTTP Basic) from one address, or for one username, before a lockout.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
# How long a lockout lasts, from the last counted failure.
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
# Either one locks: spraying usernames from one address, or one username from many addresses.
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
# Attempts live in the database (see docs/decisions/0004-login-lockouts.md); a refused attempt during a
# lockout writes nothing and does not extend it, so a guessing loop costs one indexed read per try.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "leaderforge.client_address.client_address"
AXES_LOCKOUT_CALLABLE = "leaderforge.lockout.lockout_response"
# No start-up banner (management commands stay quiet); failures and lockouts are still logged.
AXES_VERBOSE = False

# --- Cache and rank index -----------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if not REDIS_URL and not DEBUG:
    raise ImproperlyConfigured("REDIS_URL must be set when DEBUG is off (see .env.example).")
# Redis Cluster: REDIS_URL lists one or more startup nodes, comma-separated (db 0 only).
REDIS_CLUSTER = env_bool("REDIS_CLUSTER", False)
# Sentinel: the sentinels (host:port,...) and the name of the master they watch; REDIS_URL then
# gives only the credentials and db, its host is replaced by the master's name.
REDIS_SENTINELS = env_list("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "")
_redis_location = REDIS_URL
_redis_topology: dict[str, Any] = {}
if REDIS_URL and REDIS_CLUSTER:
    # django-redis reads a comma-separated LOCATION as a master and its read replicas, so the
    # startup nodes go in an option of the cluster connection factory instead.
    _redis_location = env_list("REDIS_URL")[0]
    _redis_topology = {
        "CONNECTION_FACTORY": "leaderboard.redis_client.ClusterConnectionFactory",
        "CLUSTER_STARTUP_NODES": env_list("REDIS_URL"),
    }
elif REDIS_URL and REDIS_SENTINELS:
    if not REDIS_SENTINEL_MASTER:
        raise ImproperlyConfigured("REDIS_SENTINELS needs REDIS_SENTINEL_MASTER (see .env.example).")
    _credentials = urlsplit(REDIS_URL).netloc.rpartition("@")[0]
    _master = f"{_credentials}@{REDIS_SENTINEL_MASTER}" if _credentials else REDIS_SENTINEL_MASTER
    _redis_location = urlunsplit(urlsplit(REDIS_URL)._replace(netloc=_master))
    _redis_topology = {
        "CLIENT_CLASS": "django_redis.client.SentinelClient",
        "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
        "SENTINELS": [(host, int(port)) for host, _, port in (s.rpartition(":") for s in REDIS_SENTINELS)],
    }
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": _redis_location,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "lf"),
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": env_float("REDIS_CONNECT_TIMEOUT", 0.5),
                "SOCKET_TIMEOUT": env_float("REDIS_SOCKET_TIMEOUT", 0.5),
                # A Redis outage must degrade the cache, not fail requests.
                "IGNORE_EXCEPTIONS": True,
                **_redis_topology,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

# --- Rank index (Redis sorted sets; only with REDIS_URL) ---------------------
# Namespace of the index keys, so several deployments can share one Redis.
RANK_INDEX_KEY_PREFIX = os.environ.get("RANK_INDEX_KEY_PREFIX", "lf")
# The rank index worker (manage.py rank_index_worker) rebuilds a missing or incomplete index.
RANK_INDEX_AUTO_REBUILD = env_bool("RANK_INDEX_AUTO_REBUILD", True)
# A change announced before COMMIT and not in the index this many seconds later counts as lost:
# the index stops being served until rebuilt. Keep it above the longest submit/moderation commit.
RANK_INDEX_INTENT_SECONDS = env_float("RANK_INDEX_INTENT_SECONDS", 5.0)
# A rebuild's lock and write-routing flag live this long, renewed with every batch it writes,
# so a rebuilder that dies frees them within this time.
RANK_INDEX_LEASE_SECONDS = env_float("RANK_INDEX_LEASE_SECONDS", 10.0)
# How often the rank index worker settles index debt, sweeps lost changes and looks for work.
RANK_INDEX_WORKER_POLL_SECONDS = env_float("RANK_INDEX_WORKER_POLL_SECONDS", 1.0)
# A windowed board's finished period stays in the index this long after it ends (its final standings are
# read from Redis meanwhile); after that it is read from SQL and its Redis keys expire.
RANK_INDEX_ARCHIVE_GRACE_SECONDS = env_float("RANK_INDEX_ARCHIVE_GRACE_SECONDS", 86_400.0)

# --- Leaderboard rules --------------------------------------------------------
LEADERBOARD_MAX_SCORE_PER_SESSION = env_int("LEADERBOARD_MAX_SCORE_PER_SESSION", 1_000_000)
LEADERBOARD_DEFAULT_BOARD = "global"
# Plausibility: a score is flagged for review (still counted) when it is over MODE_FACTOR times the
# game mode's 99th percentile (once MIN_SAMPLE sessions back that figure), or over PLAYER_FACTOR times
# the player's own average (once they have PLAYER_MIN_SESSIONS sessions).
LEADERBOARD_FLAG_MODE_FACTOR = env_float("LEADERBOARD_FLAG_MODE_FACTOR", 3.0)
LEADERBOARD_FLAG_MIN_SAMPLE = env_int("LEADERBOARD_FLAG_MIN_SAMPLE", 1000)
LEADERBOARD_FLAG_PLAYER_FACTOR = env_float("LEADERBOARD_FLAG_PLAYER_FACTOR", 10.0)
LEADERBOARD_FLAG_PLAYER_MIN_SESSIONS = env_int("LEADERBOARD_FLAG_PLAYER_MIN_SESSIONS", 10)
# How long a cached top-N listing may be served before it is recomputed.
LEADERBOARD_TOP_CACHE_SECONDS = env_int("LEADERBOARD_TOP_CACHE_SECONDS", 60)
# How many players one player may follow (their friends board lists them and the player).
LEADERBOARD_FOLLOW_LIMIT = env_int("LEADERBOARD_FOLLOW_LIMIT", 500)

# --- API ----------------------------------------------------------------------
# How long a submit's Idempotency-Key is remembered (purge_idempotency_keys removes older ones).
IDEMPOTENCY_KEY_TTL_SECONDS = env_int("IDEMPOTENCY_KEY_TTL_SECONDS", 24 * 3600)
# A verified API key is trusted this many seconds per process before it is checked again, so a
# revoked key stops working within this time (0: check on every request).
API_KEY_CACHE_SECONDS = env_float("API_KEY_CACHE_SECONDS", 5.0)
# Writes always need an API key; reads need one only when this is off.
LEADERBOARD_PUBLIC_READS = env_bool("LEADERBOARD_PUBLIC_READS", True)
# Rate limits ("N/s", "N/m", "N/10s"...; "off" disables one), counted atomically in Redis.
LEADERBOARD_SUBMIT_RATE_PER_PLAYER = os.environ.get("LEADERBOARD_SUBMIT_RATE_PER_PLAYER", "60/m")
LEADERBOARD_SUBMIT_RATE_PER_API_KEY = os.environ.get("LEADERBOARD_SUBMIT_RATE_PER_API_KEY", "100000/m")
LEADERBOARD_READ_RATE_PER_CLIENT = os.environ.get("LEADERBOARD_READ_RATE_PER_CLIENT", "1200/m")
# How many proxies in front of the app append to X-Forwarded-For (0: use the socket's address).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": ["leaderboard.api.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["leaderboard.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["leaderboard.api.auth.HasApiKeyOrPublicRead"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "leaderboard.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "leaderboard.api.schema.AutoSchema",
    # 0, not None: with None DRF would trust a client-sent X-Forwarded-For.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_CLASSES": ["leaderboard.api.throttles.PublicReadThrottle"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "LeaderForge API",
    "DESCRIPTION": "Submit game scores, read exact ranks and top players.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "leaderboard.api.schema.drop_trailing_slashes",
        "leaderboard.api.schema.allow_empty_query_values",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Static files, i18n, security ---------------------------------------------
STATIC_URL = "static/"
# Where `collectstatic` writes (and WhiteNoise serves from) in production.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves collected, hashed and compressed files (`collectstatic` runs in the image build).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Production runs behind a TLS-terminating proxy (load balancer, ingress). Trust its
# X-Forwarded-Proto only when told to: a proxy that does not overwrite the header would let
# clients claim HTTPS. Without it, SECURE_SSL_REDIRECT behind such a proxy redirects forever.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers probe the liveness check over plain HTTP inside the network, and so do readiness
# probes and Prometheus scrapes, which go to each process directly.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# Start short and raise to a year (31536000) once HTTPS is proven everywhere; preload is only
# accepted by browsers from a year on, so the flag is inert until then.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Request bodies above this are refused with a JSON 413 under /api/ (a submit is ~100 bytes).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 64 * 1024)

# Browsers on these origins may call the API (only /api/); empty: none may.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (*default_headers, "idempotency-key")
CORS_EXPOSE_HEADERS = ["Idempotent-Replayed", "Retry-After"]

# Everything from our own origin; no inline scripts or styles (htmx's indicator styles are
# turned off in base.html). data: images are the icons inlined in the API docs' stylesheet.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Operations -----------------------------------------------------------------
# Bearer token Prometheus sends to /metrics; unset: only logged-in staff may read it.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# prometheus_client reads it from the environment at import, so it must be set before gunicorn starts.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
# /readyz answers 503 while a configured Redis is unreachable; false keeps the process in service
# then (ranks from SQL), e.g. when every replica shares that Redis.
READYZ_REQUIRE_REDIS = env_bool("READYZ_REQUIRE_REDIS", True)
# "json": one JSON object per line, for log shippers; "text": readable lines for a terminal.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "leaderforge.request_id.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601, UTC
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": LOG_FORMAT}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
