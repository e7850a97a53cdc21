"""Settings for hitl-platform, read from the environment.

Every value has a safe development default so that ``make run`` works on a fresh machine with no
services (SQLite in WAL mode, Celery eager). Production sets ``DEBUG=false``, ``SECRET_KEY``,
``ALLOWED_HOSTS``, ``DATABASE_URL`` and ``CELERY_BROKER_URL``; see README.md.
"""

import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        # One line, no traceback: an operator must see at once why the process did not start.
        sys.exit("hitl-platform: SECRET_KEY must be set when DEBUG is off (refusing to start).")
    SECRET_KEY = "development-only-insecure-key"  # noqa: S105 - used only with DEBUG on

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "hitl_platform.apps.PlatformConfig",
    "tasks",
    "workers",
    "billing",
    "reports",
    "audit",
    "aggregation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "hitl_platform.middleware.DatabaseUnavailableMiddleware",
]

LOGIN_URL = "crowd:login"
LOGIN_REDIRECT_URL = "crowd:dashboard"
LOGOUT_REDIRECT_URL = "crowd:login"

ROOT_URLCONF = "hitl_platform.urls"
WSGI_APPLICATION = "hitl_platform.wsgi.application"

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

# --- Database -----------------------------------------------------------------------------------
# Default: a SQLite file next to manage.py, in WAL mode with IMMEDIATE transactions so that
# concurrent writers queue on the lock instead of failing with "database is locked" mid-transaction.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
            ),
        }
    )
    if _db["NAME"] and _db["NAME"] != ":memory:":
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
else:
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True
    if _db["ENGINE"] == "django.db.backends.postgresql":
        _db["ENGINE"] = "hitl_platform.postgresql"  # the same, with a health check at no cost
    # Prepared statements: with server-side binding psycopg prepares a statement once it has run
    # DB_PREPARE_THRESHOLD times on a connection, and PostgreSQL then skips parsing and planning
    # it. The worker API repeats the same few statements (docs/benchmarks.md: half the database's
    # CPU per claim + submit). "off" for a pooler in transaction mode that cannot keep prepared
    # statements (PgBouncer before 1.21, or without max_prepared_statements).
    _prepare = env.str("DB_PREPARE_THRESHOLD", default="5").strip().lower()
    if _prepare != "off" and not _prepare.isdigit():
        raise ImproperlyConfigured(
            f"DB_PREPARE_THRESHOLD must be a whole number of runs or 'off', not {_prepare!r}."
        )
    _db.setdefault("OPTIONS", {}).update(
        server_side_binding=True,
        prepare_threshold=None if _prepare == "off" else int(_prepare),
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sessions read from the process cache first (the database stays the source of truth).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Uploads: item files up to IMPORT_MAX_BYTES are accepted; Django itself refuses larger bodies.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = IMPORT_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security (production) ----------------------------------------------------------------------
# HTTPS redirects and HSTS are the TLS-terminating proxy's job by default; turn them on here when
# the application sees HTTPS itself (documented in README.md).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Celery -------------------------------------------------------------------------------------
# Without CELERY_BROKER_URL jobs run eagerly in the web process: no broker needed on a laptop.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A request must not hang on a broker that is down: fail fast, the work is recorded anyway
# (hitl_platform/jobs.py) and the periodic jobs pick it up.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "expire-leases": {"task": "tasks.jobs.assignments_expire_job", "schedule": 60.0},
    "refit-projects": {"task": "aggregation.jobs.projects_refit_job", "schedule": 300.0},
    "approve-answers": {"task": "tasks.jobs.answers_approve_job", "schedule": 300.0},
    "mature-earnings": {"task": "tasks.jobs.earnings_mature_job", "schedule": 3600.0},
}

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "hitl_platform.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "hitl_platform.request_body.JSONParser",  # DRF's, with too deep nesting a 400
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "hitl_platform.api.exception_handler",
    # Proxies in front of the site that append to X-Forwarded-For (1 behind nginx). 0 ignores the
    # header: a client could write any address there and get a fresh throttle count each time.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    # Throttles (hitl_platform/throttles.py): failed sign-ins, sign-ups and password resets per
    # client address; claims and submits per worker (API and browser alike). Per-worker rates
    # leave room for a fast labeler and for the benchmark (32 workers at ~5 cycles/s each); a
    # script hammering the API gets 429 with Retry-After.
    "DEFAULT_THROTTLE_RATES": {
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        "claim": env.str("THROTTLE_CLAIM", default="600/min"),
        "submit": env.str("THROTTLE_SUBMIT", default="600/min"),
        "signup": env.str("THROTTLE_SIGNUP", default="30/hour"),
        "password_reset": env.str("THROTTLE_PASSWORD_RESET", default="10/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "hitl-platform API",
    "DESCRIPTION": "Crowdsourcing for human-in-the-loop machine learning. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "hitl_platform.api.schema_errors_hook",
    ],
    # The docs page loads Swagger UI from this server (drf-spectacular-sidecar), not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Throttle counts live in this cache. The default is per process (each gunicorn worker counts on
# its own); production points CACHE_URL at Redis (redis://host:6379/1) so that limits are global.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
