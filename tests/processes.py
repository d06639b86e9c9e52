"""Run ``manage.py`` in a separate process, as ops (or cron, or a supervisor) would.

Every such test needs the same thing: the environment of this test run minus the
project's own variables (so nothing leaks in from the test settings or a developer's
shell), plus what the test chooses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connections

ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET_KEY = "test-only-secret-key-not-for-production-0123456789"
_PROJECT_PREFIXES = (
    "DB_",
    "REDIS",
    "DJANGO",
    "TODAY",
    "USE_",
    "VISITOR",
    "SECURE_",
    "API_",
    "HEALTH_",
    "METRICS_",
)
_PROJECT_NAMES = ("SECRET_KEY", "DEBUG")


def clean_env(**overrides: str) -> dict[str, str]:
    """The process environment without the project's variables, plus ``overrides``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_PROJECT_PREFIXES) and name not in _PROJECT_NAMES
    }
    env.update({"DJANGO_SETTINGS_MODULE": "library_dashboard.settings", "DOTENV_PATH": os.devnull})
    env.update(overrides)
    return env


def services_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A clean environment pointing at this test run's MariaDB test database and Redis."""
    visitors_db = settings.DATABASES["visitors"]
    services = {
        "SECRET_KEY": TEST_SECRET_KEY,
        "DB_HOST": str(visitors_db["HOST"]),
        "DB_PORT": str(visitors_db["PORT"]),
        "DB_USER": str(visitors_db["USER"]),
        "DB_PASSWORD": str(visitors_db["PASSWORD"]),
        "DB_NAME": connections["visitors"].settings_dict["NAME"],
        "REDIS_URL": settings.REDIS_URL,
        "TIME_ZONE": settings.TIME_ZONE,
        "VAR_DIR": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(settings.PROMETHEUS_MULTIPROC_DIR),
    }
    env = clean_env(**{**services, **overrides})
    # Before any process touches it (the loop reads the faculty names from it): what
    # ``make run`` does first, so that a web server started later finds it ready.
    prepare_var_dir(Path(env["VAR_DIR"]))
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_manage(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``manage.py`` in the background, its output going to ``log``."""
    with open(log, "wb") as output:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as under honcho or systemd
        )


_PREPARED: list[Path] = []


def prepare_var_dir(var_dir: Path) -> None:
    """What ``make run`` does before the web server starts (``migrate``, ``collectstatic``),
    done once per test run in a template directory: its Django database is copied into
    ``var_dir`` and its collected static files linked there."""
    import atexit
    import shutil
    import tempfile

    if not _PREPARED:
        template = Path(tempfile.mkdtemp(prefix="ld-var-"))
        atexit.register(shutil.rmtree, template, True)
        env = clean_env(VAR_DIR=str(template), SECRET_KEY=TEST_SECRET_KEY)
        for step in (("migrate", "--noinput"), ("collectstatic", "--noinput")):
            result = manage(*step, "-v0", env=env)
            assert result.returncode == 0, result.stderr
        _PREPARED.append(template)
    template = _PREPARED[0]
    var_dir.mkdir(parents=True, exist_ok=True)
    if not (var_dir / "django.sqlite3").exists():
        shutil.copy(template / "django.sqlite3", var_dir / "django.sqlite3")
    if not (var_dir / "static").exists():
        (var_dir / "static").symlink_to(template / "static")


class Server:
    """``python -m library_dashboard.server web|streams`` on a free port, as the Procfile runs
    it; ``stop()`` sends SIGTERM and waits, like a supervisor."""

    def __init__(self, kind: str, *, env: dict[str, str], log: Path, port_from: int) -> None:
        from tests.services import free_port

        self.kind = kind
        self.port = free_port(port_from)
        variable = "PORT" if kind == "web" else "STREAM_PORT"
        self.env = {"WEB_CONCURRENCY": "1", **env, variable: str(self.port)}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 30) -> Server:
        import socket

        from tests.services import wait_until

        if self.kind == "web" and "VAR_DIR" in self.env:
            prepare_var_dir(Path(self.env["VAR_DIR"]))
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "library_dashboard.server", self.kind],
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, as under honcho or systemd
            )

        def listening() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, f"{self.kind} server on {self.port}", timeout=timeout)
        return self

    def stop(self, *, timeout: float = 30, signum: int = 15, group: bool = False) -> int:
        """SIGTERM (or ``signum``), then the exit code (killed after ``timeout``: a failure).

        ``group``: to the whole process group, master and workers, as honcho, systemd
        (KillMode=control-group) and a terminal's Ctrl-C send it."""
        import signal

        if self.process is None:
            return 0
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(
                f"{self.kind} server did not stop within {timeout}s:\n{self.log.read_text()}"
            ) from None
        finally:
            self.process = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
