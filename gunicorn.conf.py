"""gunicorn settings: binds to PORT (3000) from the environment or .env."""

import os
from pathlib import Path

from library_dashboard.env import Env, load_dotenv_file

load_dotenv_file(Path(__file__).resolve().parent)
_env = Env()

bind = f"{_env.str('HOST', '0.0.0.0')}:{_env.int('PORT', 3000, minimum=1, maximum=65535)}"
# Plain sync workers by default: the fastest tail for tiny pre-rendered responses behind a
# proxy (docs/BENCHMARKS.md: p99 under 10 ms at ~4,900 req/s per core, vs ~26 ms for 4
# gthread threads contending for the GIL). WEB_THREADS > 1 switches to gthread.
workers = _env.int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1, minimum=1)
threads = _env.int("WEB_THREADS", 1, minimum=1)
accesslog = "-" if _env.bool("ACCESS_LOG", False) else None
forwarded_allow_ips = _env.str("FORWARDED_ALLOW_IPS", "127.0.0.1")

# /metrics: every worker writes its samples to PROMETHEUS_MULTIPROC_DIR (same default as
# settings.py). Exported before any worker imports prometheus_client, which reads it then.
_metrics_dir = Path(
    _env.str(
        "PROMETHEUS_MULTIPROC_DIR",
        str(Path(__file__).resolve().parent / _env.str("VAR_DIR", "var") / "prometheus"),
    )
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_starting(server):
    """Drop the sample files of processes that are gone (earlier runs); keep live ones (the loop)."""
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for path in _metrics_dir.glob("*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
