"""gunicorn settings: binds to PORT (3000) from the environment or .env."""

import os
from pathlib import Path

from library_dashboard.env import Env, load_dotenv_file

load_dotenv_file(Path(__file__).resolve().parent)
_env = Env()

bind = f"{_env.str('HOST', '0.0.0.0')}:{_env.int('PORT', 3000, minimum=1, maximum=65535)}"
workers = _env.int("WEB_CONCURRENCY", 2, minimum=1)
threads = _env.int("WEB_THREADS", 4, minimum=1)
accesslog = "-" if _env.bool("ACCESS_LOG", False) else None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
