"""``make run`` as a newcomer runs it, in a terminal (a pseudo-terminal here), on the embedded
default: the dashboard moves by itself (the live demo), and Ctrl-C ends everything without
make or honcho reporting an error. Also ``make superuser``, unattended and idempotent, or
asking in a terminal.

``make -o install``: the virtualenv is this one (no pip run); the settings file is a temporary
one (DOTENV_PATH), so the project's own .env and var/ are not touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import signal
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import ROOT, TEST_SECRET_KEY, clean_env
from tests.services import free_port, wait_until

pytestmark = pytest.mark.slow


def _settings_file(tmp_path: Path, **extra: str) -> Path:
    port = free_port(4500)
    values = {
        "SECRET_KEY": TEST_SECRET_KEY,
        "VAR_DIR": str(tmp_path / "var"),
        "PORT": str(port),
        "STREAM_PORT": str(free_port(port + 1)),
        "WEB_CONCURRENCY": "1",
        **extra,
    }
    path = tmp_path / "settings.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


class Terminal:
    """A command in a pseudo-terminal: Ctrl-C there is SIGINT to its foreground group."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.chdir(ROOT)
            os.execvpe(argv[0], argv, env)
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def ctrl_c(self) -> None:
        os.write(self.fd, b"\x03")

    def answer(self, prompt: str, reply: str, *, after: int = 0, timeout: float = 60) -> int:
        """Type ``reply`` once ``prompt`` shows (past offset ``after``); the offset past it."""
        wait_until(lambda: prompt in self.text[after:], f"the prompt {prompt!r}", timeout)
        os.write(self.fd, reply.encode() + b"\r")
        return self.text.index(prompt, after) + len(prompt)

    def wait(self, timeout: float) -> int:
        """The wait status's meaning: exit code, or minus the signal."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._reader.join(5)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.1)
        os.killpg(self.pid, signal.SIGKILL)
        raise AssertionError(f"still running after {timeout}s:\n{self.text}")


def _today(port: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/visitors/summary", timeout=5) as r:
        return json.loads(r.read())["today"]


def test_make_run_shows_a_moving_dashboard_and_ctrl_c_ends_it_cleanly(tmp_path):
    settings = _settings_file(tmp_path)
    port = dict(line.split("=", 1) for line in settings.read_text().split())["PORT"]
    env = clean_env(DOTENV_PATH=str(settings), TZ="America/New_York")  # the host's zone
    env.pop("DJANGO_SETTINGS_MODULE")
    run = Terminal(["make", "-o", "install", "run"], env)
    try:

        def answering() -> bool:
            try:
                return _today(port) >= 0
            except OSError:
                return False

        wait_until(answering, "the dashboard's API", timeout=180)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        first = _today(port)
        wait_until(lambda: _today(port) > first, "today's count to grow (the live demo)", 90)
    except BaseException:
        os.killpg(run.pid, signal.SIGINT)
        run.wait(40)
        raise
    run.ctrl_c()
    status = run.wait(60)
    out = run.text
    assert status in (0, -signal.SIGINT), out  # make re-raises the Ctrl-C it got: no message
    assert "make: ***" not in out and "Error" not in out, out
    assert "Traceback" not in out, out
    stopped = [line for line in out.splitlines() if " stopped (rc=" in line]
    assert len(stopped) == 4 and all("(rc=0)" in line for line in stopped), out
    # One clock: honcho's prefix and the line's own stamp (library time, +0700) agree.
    stamped = re.findall(
        r"(\d\d:\d\d:\d\d) \w+\.1 +\|\s*(?:\x1b\[0m)?\d{4}-\d\d-\d\d (\d\d:\d\d:\d\d)\.\d{3}\+0700 ",
        out,
    )
    assert len(stamped) >= 10, out
    assert sum(prefix == own for prefix, own in stamped) >= 0.8 * len(stamped), stamped


@pytest.mark.parametrize("dotenv_path", ["", " "])
def test_make_takes_an_empty_dotenv_path_for_the_default(dotenv_path):
    """Empty, as in .env.example, is ``.env`` (it was an empty ``honcho -e``). Dry run only."""
    import subprocess

    dry_run = subprocess.run(
        ["make", "-n", *("-o", "install", "-o", "migrate", "-o", "demo-data"), "run"],
        cwd=ROOT,
        env=clean_env(DOTENV_PATH=dotenv_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dry_run.returncode == 0, dry_run.stderr
    assert "DOTENV_PATH=.env .venv/bin/python scripts/run-settings" in dry_run.stdout
    # honcho reads no settings file: its values would win over the real environment.
    assert "honcho start -e /dev/null -p $port -f " in dry_run.stdout, dry_run.stdout


def test_make_run_takes_the_environment_over_the_settings_file(tmp_path):
    """``PORT=18500 make run`` serves on 18500 although .env says 3000, as .env.example and
    the README promise; a bad value is one line, not a traceback."""
    import subprocess

    settings = _settings_file(tmp_path, PORT="4501", TIME_ZONE="Asia/Makassar")

    def run_settings(**env: str) -> subprocess.CompletedProcess:
        environment = clean_env(DOTENV_PATH=str(settings), **env)
        environment.pop("TIME_ZONE", None)  # (the tests' own) would win over the file
        return subprocess.run(
            [sys.executable, "scripts/run-settings"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert run_settings().stdout.split() == ["Asia/Makassar", "4501"]
    assert run_settings(PORT="4777").stdout.split() == ["Asia/Makassar", "4777"]
    bad = run_settings(PORT="abc")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip() == "run: not starting: PORT='abc' is not an integer."


def test_make_superuser_unattended_then_again(tmp_path):
    import subprocess

    settings = _settings_file(
        tmp_path,
        DJANGO_SUPERUSER_USERNAME="librarian",
        DJANGO_SUPERUSER_PASSWORD="a-long-test-password-1234",
        DJANGO_SUPERUSER_EMAIL="librarian@example.org",
    )
    env = clean_env(DOTENV_PATH=str(settings))
    env.pop("DJANGO_SETTINGS_MODULE")

    def make_superuser() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["make", "-o", "install", "superuser"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,  # no terminal
            capture_output=True,
            text=True,
            timeout=180,
        )

    first = make_superuser()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Superuser 'librarian' created." in first.stdout
    again = make_superuser()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Superuser 'librarian' exists; unchanged." in again.stdout

    assert _librarian(env) == "True True librarian@example.org"


def _librarian(env: dict[str, str]) -> str:
    """ "is_superuser is_staff email" of the user 'librarian' signing in with the tests'
    password (an error when it cannot)."""
    import subprocess

    check = subprocess.run(
        [
            *(".venv/bin/python", "manage.py", "shell", "-c"),
            "from django.contrib.auth import authenticate; "
            "u = authenticate(username='librarian', password='a-long-test-password-1234'); "
            "print(u.is_superuser, u.is_staff, u.email)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0 and check.stdout.strip(), check.stderr
    return check.stdout.strip().splitlines()[-1]


def test_make_superuser_in_a_terminal_asks(tmp_path):

    env = clean_env(DOTENV_PATH=str(_settings_file(tmp_path)))  # no DJANGO_SUPERUSER_*
    env.pop("DJANGO_SETTINGS_MODULE")
    asking = Terminal(["make", "-o", "install", "superuser"], env)
    try:
        seen = asking.answer("Username", "librarian", timeout=180)  # after migrate
        seen = asking.answer("Email address:", "librarian@example.org", after=seen)
        seen = asking.answer("Password:", "a-long-test-password-1234", after=seen)
        asking.answer("Password (again):", "a-long-test-password-1234", after=seen)
        status = asking.wait(60)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):  # wait() may have killed it already
            os.killpg(asking.pid, signal.SIGKILL)
        raise
    assert status == 0, asking.text
    assert "Superuser created successfully." in asking.text, asking.text

    assert _librarian(env) == "True True librarian@example.org"


def test_make_superuser_without_a_terminal_or_variables_says_what_to_set(tmp_path):
    import subprocess

    env = clean_env(DOTENV_PATH=str(_settings_file(tmp_path)))
    env.pop("DJANGO_SETTINGS_MODULE")
    result = subprocess.run(
        ["make", "-o", "install", "superuser"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode != 0
    assert "DJANGO_SUPERUSER_USERNAME" in result.stderr
