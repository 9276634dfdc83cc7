"""Settings, read from the environment in this one place (SPEC §5).

With no environment at all the system runs on one machine: SQLite under var/ and a Celery
broker on the filesystem (kombu's filesystem transport), which works across processes and
needs no server. Production and CI set DATABASE_URL (PostgreSQL) and REDIS_URL.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    # A laptop default only; production sets SECRET_KEY (and REQUIRE_SECRET_KEY=1 to enforce it).
    SECRET_KEY = "insecure-local-only-8c1f6f2e6d1c4b7e9a3f0d2b5c7e9a1f3d5b7c9e1a3f5d7b"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", PUBLIC_BASE_URL)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "markets",
    "warehouse",
    "batches",
    "reliability",
]

MIDDLEWARE = [
    # Request counts and latency for /metrics (first and last, so they time the whole stack).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.RejectNullCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite ignores SELECT ... FOR UPDATE. IMMEDIATE transactions take the write lock at
    # BEGIN, so two transitions on SQLite are serialised instead of both reading the old status.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # Tests that start a real Celery worker need a test database another process can open.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Language and time (R8: stored in UTC, shown in Asia/Shanghai) -------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600  # the English switch is remembered for a year
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # WhiteNoise serves the admin's and the pages' static files from the app server itself.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

# --- Security (production: DEBUG off; `manage.py check --deploy` is clean) -----------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Served over HTTPS when the public address is https:// (production); a laptop's
# http://localhost:8000 stays plain HTTP. Each can be forced with HTTPS=1/0.
HTTPS = env_bool("HTTPS", PUBLIC_BASE_URL.startswith("https://"))
if HTTPS:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Requests larger than this are refused before parsing (bad input must not cost memory).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(2 * 1024 * 1024)))

# --- E-mail (quarantine alerts) ------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "warehouse-alerts@localhost")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))

# --- The process (SPEC §3) -----------------------------------------------------------------
REST_PERIOD_SECONDS = int(os.environ.get("REST_PERIOD_SECONDS", "604800"))
REST_SWEEP_SECONDS = int(os.environ.get("REST_SWEEP_SECONDS", "60"))
REST_SWEEP_BATCH_SIZE = int(os.environ.get("REST_SWEEP_BATCH_SIZE", "1000"))
# How long an `Idempotency-Key` replays its first answer (R7); older records are deleted hourly.
IDEMPOTENCY_TTL_HOURS = int(os.environ.get("IDEMPOTENCY_TTL_HOURS", "24"))

# --- REST framework ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated API call answers 401 with WWW-Authenticate.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": ["batches.api.parsers.LimitedJSONParser"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "batches.api.errors.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_RATES": {
        "public_verify": os.environ.get("PUBLIC_VERIFY_RATE", "60/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Supervised import-goods warehouse API",
    "DESCRIPTION": "Declaration, warehouse process, codes, sales and trace (集中监管仓).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["REDIS_URL"],
    }
    if os.environ.get("REDIS_URL")
    else {
        # Shared across the web processes of one machine (throttling counts survive requests).
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache"),
    }
}

# --- Celery (R3) ---------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # An unacknowledged ETA task comes back after visibility_timeout; make that longer than
    # the longest rest so the timer task is not redelivered in a loop. The deadline itself
    # lives in the database and the beat sweep is the guarantee (R3).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": REST_PERIOD_SECONDS + 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULE = {
    "sweep-due-rests": {
        "task": "batches.tasks.sweep_due_rests",
        "schedule": timedelta(seconds=REST_SWEEP_SECONDS),
    },
    "purge-idempotency-records": {
        "task": "batches.tasks.purge_idempotency_records",
        "schedule": timedelta(hours=1),
    },
    "purge-outbox": {
        "task": "reliability.tasks.purge_outbox",
        "schedule": timedelta(hours=1),
    },
}

# --- Reliability: the outbox, health and metrics -------------------------------------------
# Every task a service starts is written to the outbox in the same transaction and handed to
# the broker after the commit, or by `manage.py outbox_relay` when the broker was away.
OUTBOX_PUBLISH_ON_COMMIT = env_bool("OUTBOX_PUBLISH_ON_COMMIT", True)
OUTBOX_POLL_SECONDS = float(os.environ.get("OUTBOX_POLL_SECONDS", "1"))
OUTBOX_RELAY_BATCH = int(os.environ.get("OUTBOX_RELAY_BATCH", "100"))
OUTBOX_RELAY_MAX_WAIT = float(os.environ.get("OUTBOX_RELAY_MAX_WAIT", "30"))
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "10"))
OUTBOX_RETRY_SECONDS = int(os.environ.get("OUTBOX_RETRY_SECONDS", "10"))
OUTBOX_RETRY_MAX_SECONDS = int(os.environ.get("OUTBOX_RETRY_MAX_SECONDS", "3600"))
# A row handed over but not finished this long after it was due is sent again (the broker may
# have lost it); the task's claim makes a second delivery harmless.
OUTBOX_REDELIVER_SECONDS = int(os.environ.get("OUTBOX_REDELIVER_SECONDS", "3600"))
# Seconds to wait for the broker before a hand-over is left to the relay (keeps requests quick).
OUTBOX_BROKER_TIMEOUT = float(os.environ.get("OUTBOX_BROKER_TIMEOUT", "2"))
OUTBOX_KEEP_DAYS = int(os.environ.get("OUTBOX_KEEP_DAYS", "7"))
# /healthz reports the outbox as lagging when a due row has waited longer than this.
OUTBOX_MAX_LAG_SECONDS = int(os.environ.get("OUTBOX_MAX_LAG_SECONDS", "300"))
# /metrics answers only these client addresses (CIDR allowed) and, when set, only with
# `Authorization: Bearer <METRICS_TOKEN>`; anyone else gets 404.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
# Set (to an empty, writable directory) when several processes serve the web (gunicorn workers):
# prometheus_client then adds up the request counters of all of them (scripts/run.sh sets it).
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# --- Codes: label sheets and the public verification page (issue 3) -----------------------
# A label sheet of up to this many codes is answered at once; a larger one is built by a
# Celery task whose progress the caller polls (GET /api/label-jobs/{id}/).
LABELS_SYNC_MAX = int(os.environ.get("LABELS_SYNC_MAX", "500"))
# Codes read from the database per round trip while a label sheet is written.
LABELS_DB_CHUNK = int(os.environ.get("LABELS_DB_CHUNK", "2000"))
# The public page is throttled per client address (rate: PUBLIC_VERIFY_RATE above). The
# address is REMOTE_ADDR unless this many reverse proxies of our own add X-Forwarded-For.
PUBLIC_VERIFY_TRUSTED_PROXIES = int(os.environ.get("PUBLIC_VERIFY_TRUSTED_PROXIES", "0"))

for folder in (VAR_DIR, BROKER_DIR / "queue", BROKER_DIR / "control", VAR_DIR / "cache", STATIC_ROOT):
    folder.mkdir(parents=True, exist_ok=True)
