"""Faculty names: the code the gate system writes in ``institution`` -> the faculty's name.

The mapping is ours (``visitors.models.Faculty``, in the ``default`` database), edited in
the admin or loaded from a CSV file (``manage.py load_faculties``). Every save or delete
changes a stamp in the cache (``keys.FACULTIES_STAMP``); the sync loop reloads the names
when the stamp changed, so an edit shows in the rankings within one cycle.
"""

from __future__ import annotations

import csv
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from django.db import DatabaseError, transaction

from visitors import cache, keys
from visitors.models import Faculty

logger = logging.getLogger(__name__)


class BadFacultyFile(ValueError):
    """The CSV file is not ``code,name`` rows under that header."""


def names() -> dict[str, str]:
    """Every code's name; empty (logged) while the ``default`` database is unreadable."""
    try:
        return dict(Faculty.objects.values_list("code", "name"))
    except DatabaseError as exc:
        logger.warning("cannot read the faculty names: %s", exc)
        return {}


def stamp() -> Any:
    """The current stamp (None when absent); raises ``CacheUnavailable``."""
    try:
        return cache.call("get", keys.FACULTIES_STAMP)
    except cache.CacheCorrupt:
        return None


def touch() -> None:
    """Mark the names changed (best effort: without the cache, the loop reloads them at its
    next restart or reconnect)."""
    cache.safe("set", keys.FACULTIES_STAMP, uuid.uuid4().hex, None)


def name_of(code: str | None, faculty_names: Mapping[str, str]) -> str | None:
    return None if code is None else faculty_names.get(code)


def unknown(codes: Iterable[str | None], faculty_names: Mapping[str, str]) -> list[str]:
    """The codes (NULL aside) that have no name, sorted."""
    return sorted({code for code in codes if code is not None and code not in faculty_names})


@dataclass(frozen=True)
class Loaded:
    created: int
    updated: int
    unchanged: int


def load_csv(file: IO[str]) -> Loaded:
    """Create or rename each ``code,name`` row (the header row first); codes are matched
    exactly, after trimming spaces, so re-running never duplicates. All or nothing."""
    reader = csv.reader(file)
    header = [cell.strip().lower() for cell in next(reader, [])]
    if header != ["code", "name"]:
        raise BadFacultyFile(f"the first row must be 'code,name', not {','.join(header)!r}")
    rows: dict[str, str] = {}
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise BadFacultyFile(f"line {number}: expected 'code,name', got {row!r}")
        code, name = row[0].strip(), row[1].strip()
        if len(code) > 128 or len(name) > 200:
            raise BadFacultyFile(f"line {number}: code (128) or name (200) too long")
        rows[code] = name
    existing = dict(Faculty.objects.values_list("code", "name"))
    created = [Faculty(code=code, name=name) for code, name in rows.items() if code not in existing]
    renamed = {code: name for code, name in rows.items() if existing.get(code, name) != name}
    with transaction.atomic():
        Faculty.objects.bulk_create(created)
        for code, name in renamed.items():
            Faculty.objects.filter(code=code).update(name=name)
    if created or renamed:
        touch()
    return Loaded(len(created), len(renamed), len(rows) - len(created) - len(renamed))
