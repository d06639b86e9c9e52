"""One clock in every log line (library_dashboard/logs.py): the library's zone with its offset,
in every process, whatever the host's zone."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from library_dashboard.logs import Formatter
from tests.processes import Server, manage, services_env

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0700 [A-Z]+ \[")


def _record(moment: datetime) -> logging.LogRecord:
    record = logging.LogRecord("visitors.sync", logging.INFO, __file__, 1, "cycle=1", None, None)
    record.created = moment.timestamp()
    record.msecs = 0
    return record


def test_the_stamp_is_local_with_its_offset_across_midnight_and_new_year():
    # 16:59:59.5 UTC on 31 December is 23:59:59.500 in Jakarta; one second later, next year.
    utc = ZoneInfo("UTC")
    formatter = Formatter(time_zone="Asia/Jakarta")
    line = formatter.format(_record(datetime(2026, 12, 31, 16, 59, 59, 500_000, tzinfo=utc)))
    assert line == "2026-12-31 23:59:59.500+0700 INFO [visitors.sync] cycle=1"
    line = formatter.format(_record(datetime(2026, 12, 31, 17, 0, 0, 1_000, tzinfo=utc)))
    assert line.startswith("2027-01-01 00:00:00.001+0700 ")


def test_a_zone_with_summer_time_shows_the_offset_of_the_moment():
    formatter = Formatter(time_zone="Europe/Berlin")
    utc = ZoneInfo("UTC")
    assert "+0100 " in formatter.format(_record(datetime(2026, 1, 15, 12, tzinfo=utc)))
    assert "+0200 " in formatter.format(_record(datetime(2026, 7, 15, 12, tzinfo=utc)))


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "visitors"], transaction=True)
def test_every_line_of_the_loop_and_the_servers_has_the_librarys_clock(tmp_path):
    env = services_env(tmp_path, TZ="America/New_York")  # the host's zone is another
    loop = manage("runsyncloop", "--once", env=env)
    assert loop.returncode == 0, loop.stderr
    lines = loop.stderr.splitlines()
    assert lines and all(STAMP.match(line) for line in lines), lines
    # The daily job's summary too (cron appends its output to warm_aggregates.log).
    daily = manage("warm_aggregates", env=env)
    assert daily.returncode == 0, daily.stderr
    lines = daily.stderr.splitlines()
    assert any("rollup: " in line for line in lines), lines
    assert all(STAMP.match(line) for line in lines) and daily.stdout == "", lines
    for kind, port in (("web", 4520), ("streams", 4530)):
        log = tmp_path / f"{kind}.log"
        Server(kind, env=env, log=log, port_from=port).start().stop()
        lines = log.read_text().splitlines()
        assert len(lines) >= 4 and all(STAMP.match(line) for line in lines), lines


def test_a_python_warning_is_a_log_line_in_the_same_clock(tmp_path):
    from tests.processes import TEST_SECRET_KEY, clean_env

    env = clean_env(VAR_DIR=str(tmp_path), SECRET_KEY=TEST_SECRET_KEY, TZ="America/New_York")
    result = manage("shell", "-c", "import warnings; warnings.warn('probe')", env=env)
    lines = [line for line in result.stderr.splitlines() if "probe" in line]
    assert lines and STAMP.match(lines[0]) and "[py.warnings]" in lines[0], result.stderr
