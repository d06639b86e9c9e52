"""Settings for the library dashboard service, all read from the environment.

A ``.env`` file in the project root is loaded first (the real environment wins). Every
variable is listed, with its default, in ``.env.example`` and in the README.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import sys
from pathlib import Path

from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured

from library_dashboard.env import Env, load_dotenv_file
from visitors.conf import VisitorSettings

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv_file(BASE_DIR)
env = Env()

VAR_DIR = BASE_DIR / env.str("VAR_DIR", "var")  # relative paths are from the project root
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- core -----------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", False)
_INSECURE_KEY = "insecure-dev-key-change-me"
SECRET_KEY = env.str("SECRET_KEY", _INSECURE_KEY if DEBUG else "")
if not SECRET_KEY or (not DEBUG and SECRET_KEY == _INSECURE_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY is missing: set it to a long random string (or set DEBUG=true for local "
        "development). Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

# --- HTTPS and security headers -------------------------------------------------------
# Made for a service behind a TLS-terminating proxy. Production (see README) sets
# SECURE_SSL_REDIRECT=true, SECURE_HSTS_SECONDS=31536000 and, when the proxy sends it,
# SECURE_PROXY_SSL_HEADER=true; cookies are Secure unless DEBUG.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("SECURE_PROXY_SSL_HEADER", False) else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]  # plain-HTTP probes from inside
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

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
    "django_crontab",
    "corsheaders",
    "visitors",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "visitors.prometheus.PrometheusMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "visitors.languages.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # ETag, Cache-Control and 304 for the catalogue's responses (inside the others, so a
    # 304 gets their headers too). The pre-rendered answers come before Django: wsgi.py.
    "visitors.api.http_caching.HttpCachingMiddleware",
]

ROOT_URLCONF = "library_dashboard.urls"
WSGI_APPLICATION = "library_dashboard.wsgi.application"
ASGI_APPLICATION = "library_dashboard.asgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- time -----------------------------------------------------------------------------
# The library's calendar: day, month and year boundaries of every count.
TIME_ZONE = env.time_zone("TIME_ZONE", "Asia/Jakarta")
USE_TZ = True
USE_I18N = True
# --- languages ------------------------------------------------------------------------
# The pages, the admin's Reports page and the API's error messages speak English and
# Indonesian: the browser's Accept-Language picks one, LANGUAGE_CODE is the default.
LANGUAGES = [("en", "English"), ("id", "Bahasa Indonesia")]
LANGUAGE_CODE = env.choice("LANGUAGE_CODE", "en", tuple(code for code, _ in LANGUAGES))
LOCALE_PATHS = [BASE_DIR / "visitors" / "locale"]

# --- databases ------------------------------------------------------------------------
# ``default`` holds Django's own tables (auth, admin log, sessions); ``visitors`` holds the
# legacy check-in table, which we only read. The router sends the Visitor model there.
DATABASES = {
    "default": env.database_url("DJANGO_DATABASE_URL", f"sqlite:///{VAR_DIR / 'django.sqlite3'}"),
}
DB_HOST = env.str("DB_HOST")
if DB_HOST:
    DATABASES["visitors"] = {
        "ENGINE": "django.db.backends.mysql",
        "HOST": DB_HOST,
        "PORT": env.int("DB_PORT", 3306, minimum=1, maximum=65535),
        "USER": env.str("DB_USER", "root"),
        "PASSWORD": env.str("DB_PASSWORD"),
        "NAME": env.str("DB_NAME", "library"),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            "charset": "utf8mb4",
            "connect_timeout": 3,
            # A hung query fails instead of blocking a worker or the loop (and its lock) forever.
            "read_timeout": env.int("DB_READ_TIMEOUT_S", 60, minimum=1),
        },
    }
else:
    DATABASES["visitors"] = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "visitors.sqlite3",
    }
# checkin_date is stored as library-local wall time with no zone: tell Django so.
DATABASES["visitors"]["TIME_ZONE"] = TIME_ZONE
# SQLite shared by processes (loop, web workers, streams): readers never wait for a writer
# (WAL), writers wait up to 10 s for each other, and a transaction takes the write lock when
# it begins. A deferred one that read and then found another write could not write at all
# ("database is locked", at once): Django's database cache swallows that, and the loop's
# leader lock then looked lost every few seconds.
for _alias in ("default", "visitors"):
    if DATABASES[_alias]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES[_alias].setdefault("OPTIONS", {}).update(
            {
                "init_command": "PRAGMA journal_mode=WAL;",
                "timeout": 10,
                "transaction_mode": "IMMEDIATE",
            }
        )
DATABASE_ROUTERS = ["visitors.routers.VisitorRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache ----------------------------------------------------------------------------
# Keys are stored verbatim (``visitors:today:count``): other programs read and write them.
REDIS_URL = env.redis_url("REDIS_URL")
# A dead Redis must not hang requests: short socket timeouts, and after a failure the web
# process skips Redis (and MySQL) for OUTAGE_RETRY_MS before trying it again.
REDIS_TIMEOUT_MS = env.int("REDIS_TIMEOUT_MS", 500, minimum=50, maximum=10_000)
# Or Redis Sentinel: the current master of REDIS_SENTINEL_MASTER, asked of these sentinels
# (redis-py's Sentinel through django-redis's factory). Every Redis user in the service (the
# cache, the leader lock, the counters, the pre-rendered bytes, the change notices and the
# streams' subscription) gets its connections from this one cache, so all follow a failover.
REDIS_SENTINELS = env.host_ports("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = env.str("REDIS_SENTINEL_MASTER")
if REDIS_SENTINELS and REDIS_URL:
    raise ImproperlyConfigured("Set REDIS_URL or REDIS_SENTINELS, not both.")
if REDIS_SENTINELS and not re.fullmatch(r"[A-Za-z0-9._-]+", REDIS_SENTINEL_MASTER):
    raise ImproperlyConfigured(
        f"REDIS_SENTINEL_MASTER={REDIS_SENTINEL_MASTER!r}: with REDIS_SENTINELS, name the "
        "master as the sentinels know it (`sentinel monitor <name> ...`; letters, digits, .-_)."
    )
_redis_options = {
    "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
    "SOCKET_CONNECT_TIMEOUT": REDIS_TIMEOUT_MS / 1000,
    "SOCKET_TIMEOUT": REDIS_TIMEOUT_MS / 1000,
    # Redis's own password (AUTH), kept out of the URL; a password in REDIS_URL also works.
    "PASSWORD": env.str("REDIS_PASSWORD") or None,
}
if REDIS_SENTINELS:
    _redis_options.update(
        {
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "SENTINELS": REDIS_SENTINELS,
            "SENTINEL_KWARGS": {
                "socket_connect_timeout": REDIS_TIMEOUT_MS / 1000,
                "socket_timeout": REDIS_TIMEOUT_MS / 1000,
                "password": env.str("REDIS_SENTINEL_PASSWORD") or None,
            },
        }
    )
if REDIS_URL or REDIS_SENTINELS:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            # With Sentinel the host is the master's name; reads go to the master too (a
            # replica may lag, and the lock and the counters need the master anyway).
            "LOCATION": REDIS_URL or f"redis://{REDIS_SENTINEL_MASTER}/0",
            "KEY_FUNCTION": "visitors.cache.verbatim_key",
            "OPTIONS": _redis_options,
        }
    }
else:
    # Shared by the web workers and the sync loop (separate processes) through the DB.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "visitors_cache",
            "KEY_FUNCTION": "visitors.cache.verbatim_key",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# --- the service's own settings -------------------------------------------------------
# Counting mode, DB layer, loop timing, outage retry, HTTP serving, dashboard: each field of
# VisitorSettings is read from the variable of the same name (defaults in visitors/conf.py).
VISITORS = VisitorSettings.from_env(env)
VISITOR_SLOW_CRON = env.cron("VISITOR_SLOW_CRON", "5 0 * * *")

# The daily job (``manage.py crontab add`` installs it for the current user). The line runs
# this virtualenv's python on this manage.py; settings and .env are found from its path.
CRONJOBS = [
    (
        " ".join(VISITOR_SLOW_CRON),
        "django.core.management.call_command",
        ["warm_aggregates"],
        {},
        f">> {VAR_DIR / 'warm_aggregates.log'} 2>&1",
    )
]
CRONTAB_COMMENT = env.str("CRONTAB_COMMENT", "library-dashboard")
CRONTAB_LOCK_JOBS = True
CRONTAB_DJANGO_SETTINGS_MODULE = "library_dashboard.settings"
CRONTAB_DJANGO_MANAGE_PATH = str(BASE_DIR / "manage.py")
CRONTAB_PYTHON_EXECUTABLE = sys.executable
CRONTAB_COMMAND_PREFIX = " ".join(
    [f"cd {shlex.quote(str(BASE_DIR))} &&"]
    + [
        f"{name}={shlex.quote(os.environ[name])}"
        for name in ("DOTENV_PATH",)
        if os.environ.get(name)
    ]
)

# --- API and docs ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "visitors.api.exceptions.json_exception_handler",
    # ``?format=`` is not special: unknown query parameters are ignored, all of them.
    "URL_FORMAT_OVERRIDE": None,
}
# Optional per-client-IP rate limit for the API (e.g. 120/min), counted in the shared cache.
API_ANON_RATE = env.rate("API_ANON_RATE")
if API_ANON_RATE:
    REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["visitors.api.throttling.AnonRateThrottle"]
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": API_ANON_RATE}
# Proxies in front that append to X-Forwarded-For (the client IP for the rate limit).
REST_FRAMEWORK["NUM_PROXIES"] = env.int("API_NUM_PROXIES", 0, maximum=10)

# --- CORS for pollers -------------------------------------------------------------------
# Dashboards on other origins allowed to poll the API (scheme://host[:port], comma-separated).
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", [])
for _origin in CORS_ALLOWED_ORIGINS:
    if not re.fullmatch(r"https?://[^/?#\s]+", _origin):
        raise ImproperlyConfigured(
            f"CORS_ALLOWED_ORIGINS: {_origin!r} is not an origin; use scheme://host[:port] "
            "(http or https, no path, no trailing slash), comma-separated."
        )
CORS_URLS_REGEX = r"^/(api/.*|health)$"
CORS_ALLOW_METHODS = ("GET", "HEAD", "OPTIONS")
CORS_ALLOW_HEADERS = (*default_headers, "if-none-match")
CORS_EXPOSE_HEADERS = ("ETag",)
SPECTACULAR_SETTINGS = {
    "TITLE": "Library Dashboard API",
    "DESCRIPTION": "Near-realtime visitor metrics for the library dashboard.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TAGS": [
        {"name": "Visitors", "description": "Visitor counts and series."},
        {"name": "Operations", "description": "Health of the service, for probes and ops."},
    ],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "visitors.api.openapi.strip_trailing_slashes",
    ],
}

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise serves the collected files (``collectstatic``) with far-future cache headers on
# their hashed names; no web server or CDN needed in front.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- operations -----------------------------------------------------------------------
# /metrics: prometheus_client's multiprocess mode. Every granian worker and the sync loop
# write their samples to files here; /metrics sums them. prometheus_client reads this
# variable itself (at import), so it is exported back to the environment.
PROMETHEUS_MULTIPROC_DIR = Path(env.str("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus")))
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)

LOG_LEVEL = env.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line stamped in the library's zone with its offset (library_dashboard/logs.py).
    "formatters": {"plain": {"()": "library_dashboard.logs.Formatter", "time_zone": TIME_ZONE}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
# Python warnings (e.g. a library's UserWarning) as log lines too, in the same clock.
logging.captureWarnings(True)
