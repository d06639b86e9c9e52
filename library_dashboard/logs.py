"""One clock in every log line of every process: the library's ``TIME_ZONE``, with its offset.

``2026-12-03 13:05:01.123+0700 INFO [visitors.sync] cycle=12 ...``: the web and streams
servers (granian's own lines too: server.py passes settings.LOGGING), the sync loop, the
demo and every management command format their lines here, whatever the host's zone.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


class Formatter(logging.Formatter):
    """``%(asctime)s`` as ``YYYY-MM-DD HH:MM:SS.mmm+HHMM`` in ``time_zone`` (a ``datefmt``
    is not used: one format everywhere)."""

    def __init__(self, fmt: str = FORMAT, *, time_zone: str = "UTC") -> None:
        super().__init__(fmt)
        self.zone = ZoneInfo(time_zone)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, self.zone)
        millis = f"{moment.microsecond // 1000:03d}"
        return moment.strftime(f"%Y-%m-%d %H:%M:%S.{millis}%z")
