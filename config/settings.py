"""Settings, read from the environment in this one place (SPEC §5).

With no environment at all the system runs on one machine: SQLite under var/ and a Celery
broker on the filesystem (kombu's filesystem transport), which works across processes and
needs no server. Production and CI set DATABASE_URL (PostgreSQL) and REDIS_URL.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.version import VERSION

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


def default_public_base_url() -> str:
    """Where `make run` serves when PUBLIC_BASE_URL is unset: HOST and PORT. A wildcard bind
    address names no reachable host, so QR codes then say localhost."""
    host = os.environ.get("HOST", "").strip()
    if host in {"", "0.0.0.0", "::", "[::]"}:
        host = "localhost"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{os.environ.get('PORT', '8000').strip()}"


PUBLIC_BASE_URL = (os.environ.get("PUBLIC_BASE_URL", "").strip() or default_public_base_url()).rstrip("/")
# Production: served over HTTPS at its public address. It must be given its SECRET_KEY and never
# makes one up; PRODUCTION=1 forces this behind a plain-HTTP address too.
PRODUCTION = env_bool("PRODUCTION", PUBLIC_BASE_URL.startswith("https://"))

SECRET_KEY = os.environ.get("SECRET_KEY", "").strip()
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. In production (PUBLIC_BASE_URL is https:// or PRODUCTION=1) it must come "
            "from the environment: generate one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'` "
            "and put it in the environment file (docs/deploy.md)."
        )
    from config.secret_key import local_secret_key

    # One machine without configuration: a random key made on first start and kept in VAR_DIR.
    SECRET_KEY = local_secret_key(VAR_DIR)


def _url_host(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return f"[{host}]" if ":" in host else host


# The public address's own host is always served (a QR code opened on a phone names it).
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS",
    ",".join(dict.fromkeys(["localhost", "127.0.0.1", "[::1]", "testserver", _url_host(PUBLIC_BASE_URL)])),
)
# Further hosts whose code URLs a scan accepts besides PUBLIC_BASE_URL's ("host" or "host:port",
# e.g. an old public address whose labels are still in the market); any other host is unknown.
CODE_URL_HOSTS = env_list("CODE_URL_HOSTS")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", PUBLIC_BASE_URL)
# A refused form (mostly: the session expired) is a page in the interface's language that
# leads back to the form; app.js restores what was scanned and typed.
CSRF_FAILURE_VIEW = "batches.web.field.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served from here, not from a CDN
    "markets",
    "warehouse",
    "batches",
    "config.reliability",  # the outbox and the sweep's heartbeat (app label "reliability")
]

MIDDLEWARE = [
    # Request counts and latency for /metrics (first and nearly last, so they time the whole stack).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.RejectNullCharactersMiddleware",
    # An unreachable database answers 503 with Retry-After, not 500 (config/outage.py).
    "config.outage.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.RefuseUnknownQueryParametersMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as axes asks: it turns a locked-out sign-in into the 429 answer.
    "axes.middleware.AxesMiddleware",
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
                "batches.web.context.serious_notices",
                "config.version.version",  # the footer names the running version
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
# PostgreSQL: each process keeps its connection for DB_CONN_MAX_AGE seconds instead of opening
# one per request (each new one costs PostgreSQL a backend process and the client round trips),
# and checks it is alive before reusing it after a pause, so a restarted database costs no failed
# request. A gunicorn sync worker or a Celery prefork child serves one request or task at a time,
# so one persistent connection per process is the whole pool it needs (docs/configuration.md: "Database
# connections").
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0" if DATABASE_URL.startswith("sqlite") else "600")),
        conn_health_checks=True,
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

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database machine that does not answer at all (not even "refused") costs a request 5 s,
    # then it answers 503 (config/outage.py), instead of waiting minutes for the operating system.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)

# PostgreSQL: parameters bound on the server, so that psycopg prepares a statement the
# connection has run PREPARE_THRESHOLD times and PostgreSQL plans it once per connection instead
# of on every request (planning the token check's join of nine tables took ten times its
# execution; docs/performance.md, "The hot paths under load"). DB_SERVER_SIDE_BINDING=0 returns to psycopg's
# client-side binding, for a connection pooler that cannot keep prepared statements (PgBouncer
# before 1.21 in transaction mode).
SERVER_SIDE_BINDING = os.environ.get("DB_SERVER_SIDE_BINDING", "1") == "1"
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and SERVER_SIDE_BINDING:
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": int(os.environ.get("DB_PREPARE_THRESHOLD", "2"))}
    )

# A PostgreSQL streaming replica for the regulator's read-only pages and exports
# (config/replica.py, docs/scaling.md). Unset: everything reads from and writes to the primary.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"], conn_health_checks=True
    )
    # A replica that does not answer soon is skipped (the primary serves), not waited for.
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(os.environ.get("REPLICA_CONNECT_TIMEOUT", "3"))
    )
    if SERVER_SIDE_BINDING:
        DATABASES["replica"]["OPTIONS"].update(
            {
                k: v
                for k, v in DATABASES["default"].get("OPTIONS", {}).items()
                if k in ("server_side_binding", "prepare_threshold")
            }
        )
    # Tests read the replica alias through the primary's test database (there is no second one).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["config.replica.PrimaryReplicaRouter"]
# Whoever changed something reads from the primary for this long afterwards (read-your-writes
# across the replica's lag); 0 turns the pin off.
REPLICA_PIN_SECONDS = int(os.environ.get("REPLICA_PIN_SECONDS", "10"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Refuses every sign-in of a locked-out username or address before a password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Language and time (R8: stored in UTC, shown in Asia/Shanghai) -------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
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
# Built label sheets; a volume of its own in production if wished.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

# Evidence photos (batches.attachments): the `attachments` storage. On the filesystem under
# ATTACHMENT_ROOT by default; any S3-compatible store with ATTACHMENT_STORAGE=s3 (django-storages;
# credentials the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, read by boto3). Never
# served from a public URL: a scoped view streams them (the bucket stays private).
ATTACHMENT_ROOT = Path(os.environ.get("ATTACHMENT_ROOT", VAR_DIR / "attachments"))
ATTACHMENT_STORAGE = os.environ.get("ATTACHMENT_STORAGE", "filesystem").strip().lower()
if ATTACHMENT_STORAGE == "s3":
    STORAGES["attachments"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("ATTACHMENT_S3_BUCKET", ""),
            "endpoint_url": os.environ.get("ATTACHMENT_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("ATTACHMENT_S3_REGION") or None,
            "location": os.environ.get("ATTACHMENT_S3_PREFIX", "attachments"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
elif ATTACHMENT_STORAGE == "filesystem":
    STORAGES["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(ATTACHMENT_ROOT), "base_url": None},
    }
else:
    raise ImproperlyConfigured("ATTACHMENT_STORAGE is `filesystem` or `s3`.")
ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_BYTES", str(10 * 1024 * 1024)))
ATTACHMENT_MAX_PIXELS = int(os.environ.get("ATTACHMENT_MAX_PIXELS", str(40_000_000)))
# A photo is stored at most this long on its long side (the pages shrink it to the same before
# sending, batches/static/web/photo.js); a JPEG is decoded reduced towards it.
ATTACHMENT_MAX_SIDE = 2560
# PNG and WebP are decoded whole (4 bytes a pixel in memory), a progressive JPEG keeps all its
# coefficients: fewer pixels than a baseline JPEG may have keep a web worker's cost under 150 MiB
# (bench/bench_upload.py).
ATTACHMENT_MAX_PIXELS_DECODED_WHOLE = 12_000_000
# Off: every EXIF field goes, the GPS position with it. On: the GPS position alone is kept.
ATTACHMENT_KEEP_LOCATION = env_bool("ATTACHMENT_KEEP_LOCATION", False)
# Incident messages to buyers: a class with send(phone, text) (batches.sms); the default logs.
SMS_BACKEND = os.environ.get("SMS_BACKEND", "batches.sms.ConsoleSMSBackend")

# --- Security (production: DEBUG off; `manage.py check --deploy` is clean) -----------------
SESSION_COOKIE_HTTPONLY = True
# A web session lasts a shift, like an API token (TOKEN_TTL_HOURS), not Django's two weeks.
SESSION_TTL_HOURS = int(os.environ.get("SESSION_TTL_HOURS", "12"))
SESSION_COOKIE_AGE = SESSION_TTL_HOURS * 3600
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
# Content-Security-Policy: scripts, styles, fonts and images only from our own origin, no
# inline script or style anywhere (the pages keep theirs in static files and pass data in
# data- attributes), so an injected <script> or on*= handler does not run. `data:` images are
# Swagger UI's icons. The API docs' view widens style-src for Swagger UI alone (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
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

# --- Buyers' personal data (PIPL) ----------------------------------------------------------
# A sale's buyer name and phone are anonymised this many days after the sale (daily beat task
# and `manage.py anonymise_buyers`). Three years: the keeping period Chinese law commonly sets
# for transaction records (e.g. E-Commerce Law art. 31), long enough for a recall or an
# outbreak investigation; PIPL art. 19 asks for no longer than necessary, so a bureau may set less.
BUYER_DATA_RETENTION_DAYS = int(os.environ.get("BUYER_DATA_RETENTION_DAYS", "1095"))
if BUYER_DATA_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("BUYER_DATA_RETENTION_DAYS must be a positive number of days")
BUYER_ANONYMISE_CHUNK_SIZE = int(os.environ.get("BUYER_ANONYMISE_CHUNK_SIZE", "1000"))

# --- REST framework ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated API call answers 401 with WWW-Authenticate.
        "markets.accounts.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": ["batches.api.parsers.LimitedJSONParser"],
    # The browsable API (HTML forms over every endpoint) only off production: there the API
    # answers JSON alone, and /api/docs/ documents it.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + ([] if PRODUCTION else ["rest_framework.renderers.BrowsableAPIRenderer"]),
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "batches.api.errors.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_RATES": {
        "public_verify": os.environ.get("PUBLIC_VERIFY_RATE", "60/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    # Several models have a `kind` (photos, papers, incident contacts): each gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "AttachmentKindEnum": "batches.models.AttachmentKind",
        "DocumentKindEnum": "batches.models.DocumentKind",
        "ContactKindEnum": "batches.models.IncidentContact.Kind",
    },
    "TITLE": "Supervised import-goods warehouse API",
    "DESCRIPTION": "Declaration, warehouse process, codes, sales and trace (集中监管仓).",
    "VERSION": VERSION,  # config/version.py
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Request bodies get components of their own, which state what input must be (e.g. not blank).
    "COMPONENT_SPLIT_REQUEST": True,
}

CACHES = {
    "default": {
        "BACKEND": "config.cache.RedisCache",  # Django's, one client per pool (config/cache.py)
        "LOCATION": os.environ["REDIS_URL"],
        # A Redis that is away must cost a page a second at most, not hang it (the public
        # page's throttle then falls back to counting in the process).
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
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
# Stopping a worker (SIGTERM, started with REMAP_SIGTERM=SIGQUIT as scripts/run.sh and the
# systemd unit do) gives running tasks this many seconds, then cancels them. Tasks are acks_late,
# so a cancelled one goes back to the queue for the next worker; without the limit, a warm
# shutdown waits for the longest task (a label sheet can take minutes).
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = float(os.environ.get("WORKER_SOFT_SHUTDOWN_SECONDS", "2"))
# A lost broker connection cancels running tasks at once (they are redelivered, acks_late)
# rather than letting them finish unacknowledged; Celery 6 makes this the default.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Deployments (or test runs) that share one Redis keep their tasks apart by queue name.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
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
    "purge-expired-tokens": {
        "task": "markets.accounts.tasks.purge_expired_tokens",
        "schedule": timedelta(hours=1),
    },
    "anonymise-buyers": {
        "task": "markets.tasks.anonymise_buyers",
        "schedule": crontab(hour=19, minute=30),  # 03:30 Asia/Shanghai, a quiet hour for the markets
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
    # Sign-ins (INFO), failures and lockouts (WARNING) are logged even where LOG_LEVEL is raised.
    "loggers": {"axes": {"level": "INFO"}, "markets.accounts": {"level": "INFO"}},
}

# --- Sign-in lockout (django-axes) and API tokens (django-rest-knox) -------------------------
# Failures are counted in the database (axes' AccessAttempt), so every web node sees the same
# counts and an unlock on one node holds on all of them.
# A username from one address, and one address whatever the usernames, are locked after these
# many failures; a username's failures from many addresses only brake it (markets.accounts.signin).
SIGNIN_FAILURES_PER_USERNAME = int(os.environ.get("SIGNIN_FAILURES_PER_USERNAME", "10"))
SIGNIN_FAILURES_PER_ADDRESS = int(os.environ.get("SIGNIN_FAILURES_PER_ADDRESS", "50"))
SIGNIN_LOCKOUT_MINUTES = int(os.environ.get("SIGNIN_LOCKOUT_MINUTES", "15"))
SIGNIN_BRAKE_AFTER = int(os.environ.get("SIGNIN_BRAKE_AFTER", "10"))
SIGNIN_BRAKE_MAX_SECONDS = int(os.environ.get("SIGNIN_BRAKE_MAX_SECONDS", "300"))
AXES_HANDLER = "markets.accounts.signin.SignInLockoutHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# axes compares its single limit with one row's count; the handler applies the rules above
# before each attempt, and this limit (above both) only keeps axes' own check from firing.
AXES_FAILURE_LIMIT = max(SIGNIN_FAILURES_PER_USERNAME, SIGNIN_FAILURES_PER_ADDRESS) + 1
AXES_COOLOFF_TIME = timedelta(minutes=SIGNIN_LOCKOUT_MINUTES)
# A right password does not wipe the count: from one address it would also wipe the failures
# against other usernames, which is what the per-address limit is there to catch.
AXES_RESET_ON_SUCCESS = False
# Attempts during a lockout are refused but not counted, so the lockout ends when the window
# of the failures that caused it has passed (and Retry-After tells the truth).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "markets.accounts.signin.lockout_response"
# The same client address as the public page's throttle: REMOTE_ADDR, or the address our own
# PUBLIC_VERIFY_TRUSTED_PROXIES reverse proxies saw; a client's X-Forwarded-For is not trusted.
AXES_CLIENT_IP_CALLABLE = "markets.accounts.signin.signin_address"
# Successful sign-ins are logged (logger "axes"), not stored: axes' access log would create a
# session for every API token request.
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = []  # usernames and addresses appear in the log, passwords never

TOKEN_TTL_HOURS = int(os.environ.get("TOKEN_TTL_HOURS", "12"))
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",
    # A token lives a fixed time from sign-in (a shift), it is not extended by use.
    "AUTO_REFRESH": False,
}

# --- Codes: label sheets and the public verification page -----------------------------------
# A label sheet of up to this many codes is answered at once; a larger one is built by a
# Celery task whose progress the caller polls (GET /api/label-jobs/{id}/).
LABELS_SYNC_MAX = int(os.environ.get("LABELS_SYNC_MAX", "500"))
# Codes read from the database per round trip while a label sheet is written.
LABELS_DB_CHUNK = int(os.environ.get("LABELS_DB_CHUNK", "2000"))
# A label job with no progress for this long lost its worker: it shows as failed and may be retried.
LABEL_JOB_STALE_SECONDS = int(os.environ.get("LABEL_JOB_STALE_SECONDS", "300"))
# A build that fails for a reason that may pass (disk, database, time limit) is retried this
# many times by the task itself, LABEL_JOB_RETRY_SECONDS apart, before the job is failed.
LABEL_JOB_AUTO_RETRIES = int(os.environ.get("LABEL_JOB_AUTO_RETRIES", "2"))
LABEL_JOB_RETRY_SECONDS = int(os.environ.get("LABEL_JOB_RETRY_SECONDS", "60"))
# A TrueType CJK font to embed in label sheets instead of the Debian package's (batches/labels.py);
# without a usable one the sheets use the PDF readers' own STSong-Light.
LABEL_CJK_FONT = os.environ.get("LABEL_CJK_FONT", "")
# The public page is throttled per client address (rate: PUBLIC_VERIFY_RATE above). The
# address is REMOTE_ADDR unless this many reverse proxies of our own add X-Forwarded-For.
PUBLIC_VERIFY_TRUSTED_PROXIES = int(os.environ.get("PUBLIC_VERIFY_TRUSTED_PROXIES", "0"))
# The public page of a code is kept in the cache, per token and language, until an event of its
# batch (any change of a code's or the batch's status) replaces it, and at most this long
# (what no event announces, e.g. a warehouse renamed in the admin, shows after this); 0: off.
PUBLIC_PAGE_CACHE_SECONDS = int(os.environ.get("PUBLIC_PAGE_CACHE_SECONDS", "3600"))

for folder in (VAR_DIR, BROKER_DIR / "queue", BROKER_DIR / "control", VAR_DIR / "cache", STATIC_ROOT):
    folder.mkdir(parents=True, exist_ok=True)
