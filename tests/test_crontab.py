"""The daily job through django-crontab: the installed line, and add/show/remove with cron."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.processes import ROOT, clean_env, manage

COMMENT = f"library-dashboard-test-{os.getpid()}"

needs_crontab = pytest.mark.skipif(
    not shutil.which("crontab") and not os.environ.get("CI"),
    reason="cron is not installed (CI installs Debian's cron)",
)


def crontab(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``manage.py crontab ...`` as its user would run it, with this test's comment."""
    return manage(
        "crontab", *args, env=clean_env(DEBUG="true", CRONTAB_COMMENT=COMMENT, **env), timeout=60
    )


def our_lines() -> list[str]:
    listing = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    return [line for line in listing.stdout.splitlines() if line.endswith(f"# {COMMENT}")]


@needs_crontab
def test_crontab_add_show_remove():
    try:
        schedule = {"VISITOR_SLOW_CRON": "0 30 1 * * *"}
        added = crontab("add", **schedule)
        assert added.returncode == 0, added.stderr
        lines = our_lines()
        assert len(lines) == 1
        line = lines[0]
        # the old 6-field form with seconds 0 became the 5-field schedule
        assert line.startswith("30 1 * * * ")
        # the environment the job needs: this project's directory, this virtualenv's
        # python, this manage.py, the settings module, a log file
        assert f"cd {ROOT} &&" in line
        assert f" {sys.executable} {ROOT / 'manage.py'} crontab run " in line
        assert "--settings=library_dashboard.settings" in line
        assert "warm_aggregates.log 2>&1" in line

        shown = crontab("show", **schedule)
        assert shown.returncode == 0
        assert "warm_aggregates" in shown.stdout

        removed = crontab("remove", **schedule)
        assert removed.returncode == 0, removed.stderr
        assert our_lines() == []
    finally:
        crontab("remove")


def test_a_bad_schedule_is_refused_before_touching_the_crontab():
    result = crontab("add", VISITOR_SLOW_CRON="*/5 * * * * *")
    assert result.returncode != 0
    assert "VISITOR_SLOW_CRON" in result.stderr
