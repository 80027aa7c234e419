"""Settings for HotCRM AI Cloud, all read from the environment in this one place.

Embedded default (nothing set): SQLite under var/ and the in-process cache.
Production: HOTCRM_ENV=production, SECRET_KEY, DATABASE_URL=postgres://..., REDIS_URL=redis://...
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from hotcrm_ai.env import env_bool, env_float, env_int, env_list, env_str
from hotcrm_ai.security import secret_key_weakness

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("HOTCRM_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

HOTCRM_ENV = env_str("HOTCRM_ENV", "development")
if HOTCRM_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("HOTCRM_ENV must be development or production.")
PRODUCTION = HOTCRM_ENV == "production"


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key and PRODUCTION and (weakness := secret_key_weakness(key)):
        raise ImproperlyConfigured(
            f"SECRET_KEY is too weak for production: {weakness}. Generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'.")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when HOTCRM_ENV=production.")
    # Outside production a key is generated once and kept under var/ so that tokens,
    # sessions and encrypted credentials survive restarts of the embedded default.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "apiauth",
    "registry",
    "predictions",
    "monitoring",
    "explanations",
    "reporting",
    "alerts",
    "jobs",
    "privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hotcrm_ai.security.ContentSecurityPolicyMiddleware",
    "hotcrm_ai.limits.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hotcrm_ai.urls"
WSGI_APPLICATION = "hotcrm_ai.wsgi.application"

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

# Prefixes every cache key, queue and test database of this run (several runs share machines).
CACHE_KEY_PREFIX = env_str("CACHE_KEY_PREFIX", "hotcrm")

# --- Database -------------------------------------------------------------------------
# https://github.com/jazzband/dj-database-url
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            # Kept open across requests: opening SQLite and closing the last connection to a
            # WAL database (which checkpoints it) cost ~9 ms per request (bench/profiles/).
            "CONN_MAX_AGE": None,
            # WAL and immediate transactions let several gunicorn workers write without
            # "database is locked" errors.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # The test database is a file too: Celery workers and live servers read it from
            # other threads, which an in-memory database only allows with table locks that
            # fail at once instead of waiting.
            "TEST": {"NAME": str(VAR_DIR / f"test-{CACHE_KEY_PREFIX}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------
# https://github.com/jazzband/django-redis
REDIS_URL = env_str("REDIS_URL")
MEMORY_CACHE = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "hotcrm-memory",
    "KEY_PREFIX": CACHE_KEY_PREFIX,
    "OPTIONS": {"MAX_ENTRIES": env_int("MEMORY_CACHE_MAX_ENTRIES", 50_000)},
}


def redis_cache_config(url: str) -> dict:
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": CACHE_KEY_PREFIX,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            # A dead Redis must cost milliseconds, not seconds: short timeouts, and
            # core.cache does not try it again for CACHE_RETRY_AFTER seconds.
            "SOCKET_CONNECT_TIMEOUT": env_float("REDIS_CONNECT_TIMEOUT", 0.25),
            "SOCKET_TIMEOUT": env_float("REDIS_SOCKET_TIMEOUT", 0.25),
        },
    }


# Throttle windows and login failures without Redis: files every process of this machine
# shares (core/file_cache.py), never per-process memory (each worker would count alone).
LIMITS_CACHE = {
    "BACKEND": "core.file_cache.LockedFileBasedCache",
    "LOCATION": str(VAR_DIR / "limits" / CACHE_KEY_PREFIX),
    "KEY_PREFIX": CACHE_KEY_PREFIX,
    "OPTIONS": {"MAX_ENTRIES": 1_000_000},
}

if REDIS_URL:
    CACHES = {"default": redis_cache_config(REDIS_URL), "memory": MEMORY_CACHE}
else:
    CACHES = {"default": MEMORY_CACHE, "memory": MEMORY_CACHE, "limits": LIMITS_CACHE}

# --- Celery ---------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# Production: REDIS_URL's Redis is the broker; `celery -A hotcrm_ai worker` on any number of
# machines, and exactly one `celery -A hotcrm_ai beat`. Embedded default: kombu's filesystem
# transport under var/, which needs no server (`make run` starts one worker with beat).
# Queue keys carry CACHE_KEY_PREFIX, so runs sharing one Redis never take each other's tasks.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
CELERY_QUEUE_DIR = VAR_DIR / "celery" / CACHE_KEY_PREFIX
if CELERY_BROKER_URL.startswith("filesystem://"):
    (CELERY_QUEUE_DIR / "queue").mkdir(parents=True, exist_ok=True)
    (CELERY_QUEUE_DIR / "control").mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport with atomic writes, claims and redelivery
    # (hotcrm_ai/broker.py): the stock one lost a message now and then to a consumer reading a
    # file mid-write, and every message a worker had taken when it died. A dead worker's
    # unacknowledged messages go back to the queue once a live worker sees it is dead (it
    # looks every "claims_check_interval" seconds, 1 by default, and when it starts).
    CELERY_BROKER_TRANSPORT = "hotcrm_ai.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
        # How often an idle worker looks for new messages (seconds).
        "polling_interval": env_float("CELERY_POLLING_INTERVAL", 0.2),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "global_keyprefix": f"{CACHE_KEY_PREFIX}:celery:",
        # A message taken by a worker that died unacknowledged goes back to the queue after
        # this many seconds; tasks that run longer are delivered twice (and are idempotent).
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300),
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker waits out a broker restart
# Tasks write what they produce to the database; nobody waits on Celery results.
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, and one whose worker process died is redelivered: a
# pool process lost under a live worker is requeued at once (reject_on_worker_lost); a whole
# worker lost, by the broker (see the transport options above). Tasks are safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A worker takes no more tasks than it has processes free: fewer messages wait on a worker
# that dies, and none waits behind a long task while another worker is idle.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every task unless
# this is set: a new PostgreSQL backend per job chunk (~11 ms of connecting, its catalog
# caches cold). Each task starts with close_old_connections() instead (hotcrm_ai/celery.py):
# CONN_MAX_AGE holds, and a failed connection (a database restart) is replaced.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Periodic tasks: {"name": {"task": "app.task_name", "schedule": seconds}}; see hotcrm_ai/celery.py.
RETENTION_INTERVAL = env_float("RETENTION_INTERVAL", 3600.0)  # seconds between retention purges
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "jobs-requeue-stalled": {"task": "jobs.requeue_stalled", "schedule": env_float("JOB_WATCHDOG_INTERVAL", 5.0)},
    # A purge not started within one interval is dropped: the next one removes the same rows.
    "privacy-purge-expired": {"task": "privacy.purge_expired", "schedule": RETENTION_INTERVAL,
                              "options": {"expires": RETENTION_INTERVAL}},
}

# --- Auth, sessions, security ---------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password logins are locked after LOGIN_FAILURE_LIMIT failures (apiauth/backends.py).
AUTHENTICATION_BACKENDS = ["apiauth.backends.LockoutModelBackend"]
LOGIN_URL = "/dashboard/login/"
LOGIN_REDIRECT_URL = "/dashboard/"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SAMESITE = "Lax"
# Every page's scripts come from our own static files (Chart.js, the Swagger UI bundle, the
# admin's); inline styles stay allowed for the admin's and Swagger UI's <style> blocks.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
)
# When set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (Prometheus'
# `authorization` / `bearer_token` scrape settings).
METRICS_TOKEN = env_str("METRICS_TOKEN")
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# Bodies larger than this are refused with a 400 before they are parsed
# (hotcrm_ai/limits.py checks it for DRF, which bypasses Django's own check).
MAX_BODY_BYTES = env_int("MAX_BODY_BYTES", 5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

# --- Internationalisation, static files -----------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Chart.js from npm (package.json, scripts/setup-assets), served by us: no CDN offline.
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apiauth.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apiauth.permissions.IsTokenOrDashboardUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["hotcrm_ai.limits.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["apiauth.throttling.TokenRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "hotcrm_ai.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "hotcrm_ai.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HotCRM AI Cloud API",
    "DESCRIPTION": "Model registry, predictions, explanations, monitoring and analytics questions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema needs a token (or an admin session) like the rest of the API.
    "SERVE_PERMISSIONS": ["apiauth.permissions.IsTokenOrDashboardUser"],
    # Served from our own static files: these machines are offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Separate request and response components, so write-only and read-only fields are exact.
    "COMPONENT_SPLIT_REQUEST": True,
    # Operation ids and tags without the API version: `predictions_create`, not `v1_...`.
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "ENUM_NAME_OVERRIDES": {
        "AbArmEnum": ["challenger", "champion"],
        "HealthStatusEnum": ["healthy", "degraded", "unhealthy"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "hotcrm_ai.openapi.add_error_responses",
    ],
}

# --- HotCRM AI ------------------------------------------------------------------------
# Values of several types, read as `settings.HOTCRM["KEY"]` wherever they are needed.
HOTCRM: dict[str, Any] = {
    "BATCH_LIMIT": env_int("BATCH_LIMIT", 1000),
    # An outcome posted by object (POST /outcomes/) reaches that object's latest prediction
    # per model made within this many days; older predictions are not judged by it.
    "OUTCOME_WINDOW_DAYS": env_int("OUTCOME_WINDOW_DAYS", 90),
    # The largest ONNX file a data scientist may upload for a local model (bytes).
    "ONNX_MAX_BYTES": env_int("ONNX_MAX_BYTES", 50 * 1024 * 1024),
    "MAX_BODY_BYTES": MAX_BODY_BYTES,
    "MAX_JSON_DEPTH": env_int("MAX_JSON_DEPTH", 32),
    # Per token unless the token has its own rate (admin: API tokens).
    "THROTTLE_RATE": env_str("THROTTLE_RATE", "6000/min"),
    "LOGIN_FAILURE_LIMIT": env_int("LOGIN_FAILURE_LIMIT", 5),
    # Addresses (or networks) of reverse proxies whose X-Forwarded-For is believed; without
    # them the client is the connection's address, whatever a header says.
    "TRUSTED_PROXIES": env_list("TRUSTED_PROXIES", []),
    "LOGIN_LOCKOUT_SECONDS": env_int("LOGIN_LOCKOUT_SECONDS", 900),
    # Seconds the in-process cache stands in after Redis failed before Redis is tried again.
    "CACHE_RETRY_AFTER": env_float("CACHE_RETRY_AFTER", 5.0),
    # Prediction entries the in-process cache holds per process (least recently used go).
    "MEMORY_CACHE_MAX_ENTRIES": env_int("MEMORY_CACHE_MAX_ENTRIES", 50_000),
    "METRICS_RETENTION": env_int("METRICS_RETENTION", 10_000),
    # Metrics are buffered per process and stored in one INSERT per this many records or
    # per this many seconds, whichever comes first (core/write_behind.py).
    "METRICS_BUFFER_SIZE": env_int("METRICS_BUFFER_SIZE", 200),
    "METRICS_FLUSH_INTERVAL": env_float("METRICS_FLUSH_INTERVAL", 0.25),
    # Drift looks at up to this many recent inputs of this many recent seconds (health's own
    # window is a threshold: monitoring/thresholds.py, per model in healthThresholds).
    "DRIFT_WINDOW": env_int("DRIFT_WINDOW", 86_400),
    # The dashboard's data (every model's card, one model's page) is computed at most once per
    # this many seconds and window, whoever asks, and again at once after a registry change
    # (its generation is in the key). Below the pages' 15 s refresh, so each refresh shows
    # newer metrics than the one before. 0 turns the cache off.
    "DASHBOARD_CACHE_SECONDS": env_int("DASHBOARD_CACHE_SECONDS", 10),
    "DRIFT_SAMPLE": env_int("DRIFT_SAMPLE", 1_000),
    # A drift reference an admin uploads (POST /models/{id}/drift-reference/, JSON rows or a
    # CSV file): at most this many rows, and a CSV file of at most this many bytes.
    "DRIFT_REFERENCE_MAX_ROWS": env_int("DRIFT_REFERENCE_MAX_ROWS", 10_000),
    "DRIFT_REFERENCE_MAX_BYTES": env_int("DRIFT_REFERENCE_MAX_BYTES", 2 * 1024 * 1024),
    # Analytics questions: with a key an LLM translates them, else the offline parser does.
    "OPENAI_API_KEY": env_str("OPENAI_API_KEY"),
    "OPENAI_BASE_URL": env_str("OPENAI_BASE_URL"),
    "OPENAI_MODEL": env_str("OPENAI_MODEL", "gpt-4o-mini"),
    "OPENAI_TIMEOUT": env_int("OPENAI_TIMEOUT", 20),
    # Else this registry model (provider openai) translates questions; none when unset.
    "ANALYTICS_LLM_MODEL_ID": env_str("ANALYTICS_LLM_MODEL_ID"),
    # Hosts external providers may be called at (core/outbound.py says how patterns match):
    # by default the public endpoints of the providers this service speaks to; loopback and
    # private networks only when listed; link-local and metadata addresses never.
    "PROVIDER_ALLOWED_HOSTS": env_list("PROVIDER_ALLOWED_HOSTS", [
        "api.openai.com", "api.anthropic.com", "*.amazonaws.com", "*.amazonaws.com.cn", "*.azure.com",
        "*.azureml.net",
    ]),
    # `credentials.*Env` may name only environment variables with this prefix.
    "PROVIDER_ENV_PREFIX": env_str("PROVIDER_ENV_PREFIX", "HOTCRM_PROVIDER_"),
    # Fernet key for provider credentials at rest; derived from SECRET_KEY when unset.
    "CREDENTIALS_KEY": env_str("CREDENTIALS_KEY"),
    # Explanations: permutations of a sampled (over 12 features) estimate; rows per provider
    # call; the longest text explained word by word, and its budget of model evaluations.
    "EXPLANATION_PERMUTATIONS": env_int("EXPLANATION_PERMUTATIONS", 64),
    "EXPLANATION_BATCH_ROWS": env_int("EXPLANATION_BATCH_ROWS", 5_000),
    # Most model rows one explanation may evaluate (coalitions x background rows); beyond it
    # the values are sampled, with their error stated, rather than enumerated.
    "EXPLANATION_MAX_ROWS": env_int("EXPLANATION_MAX_ROWS", 500_000),
    "EXPLANATION_MAX_WORDS": env_int("EXPLANATION_MAX_WORDS", 200),
    "EXPLANATION_TEXT_EVALUATIONS": env_int("EXPLANATION_TEXT_EVALUATIONS", 4_096),
    # Most rows one explanation may send to a remote model (each may be a paid call: an
    # `openai` model answers one completion per row); each row also counts against the
    # caller's throttle rate.
    "EXPLANATION_MAX_UPSTREAM_ROWS": env_int("EXPLANATION_MAX_UPSTREAM_ROWS", 2_000),
    # Bulk scoring jobs: the largest upload (413 beyond), the most bytes and rows once
    # uncompressed, rows per chunk (the unit a worker takes), and how long a running job may
    # make no progress before its unfinished chunks are queued again (tasks lost with the
    # broker itself; a dead worker's tasks come back by redelivery and heartbeats, below).
    "JOB_MAX_BYTES": env_int("JOB_MAX_BYTES", 500 * 1024 * 1024),
    "JOB_MAX_INPUT_BYTES": env_int("JOB_MAX_INPUT_BYTES", 4 * 1024 * 1024 * 1024),
    "JOB_MAX_ROWS": env_int("JOB_MAX_ROWS", 20_000_000),
    # 20,000 rows: a worker's CPU per row was ~2 us (9 %) lower than with 5,000 (twice, same
    # run) for +35 MB of peak RSS; 50,000 saved little more for +80 MB (PostgreSQL's part did
    # not change). A chunk is still under a second of work on an idle worker.
    "JOB_CHUNK_ROWS": env_int("JOB_CHUNK_ROWS", 20_000),
    "JOB_STALL_SECONDS": env_float("JOB_STALL_SECONDS", 60.0),
    # A worker scoring a chunk renews its heartbeat this often; a started, unfinished chunk
    # whose heartbeat is older than the timeout lost its worker (SIGKILL, a machine gone) and
    # is queued again at the next watchdog run, without waiting for JOB_STALL_SECONDS.
    "JOB_HEARTBEAT_SECONDS": env_float("JOB_HEARTBEAT_SECONDS", 2.0),
    "JOB_HEARTBEAT_TIMEOUT": env_float("JOB_HEARTBEAT_TIMEOUT", 10.0),
    # A file each worker appends every chunk's stage times to (jobs/stages.py; benchmarks only).
    "JOB_STAGE_LOG": env_str("JOB_STAGE_LOG", ""),
    # Retention (privacy/services.py): prediction-log rows are removed once older than
    # PREDICTION_LOG_RETENTION_DAYS, rows with an outcome (`actual`) once older than
    # OUTCOME_RETENTION_DAYS, finished jobs (their results and row errors) once finished
    # longer ago than JOB_RETENTION_DAYS; 0 would remove everything, so each is at least 1.
    "PREDICTION_LOG_RETENTION_DAYS": max(1, env_int("PREDICTION_LOG_RETENTION_DAYS", 90)),
    "OUTCOME_RETENTION_DAYS": max(1, env_int("OUTCOME_RETENTION_DAYS", 365)),
    "JOB_RETENTION_DAYS": max(1, env_int("JOB_RETENTION_DAYS", 30)),
    # Rows per delete statement and seconds between them: each batch holds the log table's
    # locks (SQLite: the whole database's write lock) only that long, and the pause lets
    # the requests' own writes through (bench/purge.py measured these on both databases).
    "RETENTION_BATCH_ROWS": max(1, env_int("RETENTION_BATCH_ROWS", 5_000 if DATABASE_URL else 1_000)),
    "RETENTION_BATCH_PAUSE": env_float("RETENTION_BATCH_PAUSE", 0.05),
}

if HOTCRM["OUTCOME_WINDOW_DAYS"] < 1:
    raise ImproperlyConfigured("OUTCOME_WINDOW_DAYS must be at least 1 day.")

# --- Alerts ---------------------------------------------------------------------------
# One evaluator across all machines runs every ALERT_INTERVAL seconds (alerts/services.py).
ALERT_INTERVAL = env_int("ALERT_INTERVAL", 30)
if ALERT_INTERVAL < 1:
    raise ImproperlyConfigured("ALERT_INTERVAL must be at least 1 second.")
ALERTS: dict[str, Any] = {
    "INTERVAL": ALERT_INTERVAL,
    # Out of the box: every model gets an `unhealthy` rule notifying these.
    "WEBHOOK_URL": env_str("ALERT_WEBHOOK_URL"),
    "WEBHOOK_SECRET": env_str("ALERT_WEBHOOK_SECRET"),
    "EMAILS": env_list("ALERT_EMAILS", []),
    # Each attempt's timeout; attempts per delivery; first retry delay (doubling, jittered).
    "DELIVERY_TIMEOUT": env_float("ALERT_DELIVERY_TIMEOUT", 5.0),
    "DELIVERY_ATTEMPTS": env_int("ALERT_DELIVERY_ATTEMPTS", 6),
    "RETRY_BACKOFF": env_float("ALERT_RETRY_BACKOFF", 10.0),
    "RETRY_BACKOFF_MAX": env_float("ALERT_RETRY_BACKOFF_MAX", 600.0),
    # Hosts alert channels may post to, besides PROVIDER_ALLOWED_HOSTS (core/outbound.py).
    "ALLOWED_HOSTS": env_list("ALERT_ALLOWED_HOSTS", ["hooks.slack.com"]),
    # Links in notifications point here.
    "PUBLIC_URL": (env_str("PUBLIC_URL", "http://127.0.0.1:8000") or "").rstrip("/"),
}
# A cycle not started within one interval is dropped: the next one judges the same data.
CELERY_BEAT_SCHEDULE["alerts-evaluate"] = {
    "task": "alerts.evaluate", "schedule": ALERT_INTERVAL, "options": {"expires": ALERT_INTERVAL},
}
if ALERTS["WEBHOOK_URL"] and not ALERTS["WEBHOOK_SECRET"]:
    raise ImproperlyConfigured(
        "ALERT_WEBHOOK_URL needs ALERT_WEBHOOK_SECRET (whsec_ followed by base64 of 24-64 random bytes) "
        "so the receiver can verify the Standard Webhooks signature."
    )

# Email for alert channels: https://docs.djangoproject.com/en/5.2/topics/email/
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "HotCRM AI <alerts@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Provider clients log request headers and response bodies at DEBUG, and those can
        # carry credentials (an endpoint may echo a key): they never log below INFO here.
        **{name: {"level": "INFO"} for name in ("botocore", "boto3", "urllib3", "s3transfer")},
        **{name: {"level": "WARNING"} for name in ("httpx", "httpcore", "openai")},
    },
}
