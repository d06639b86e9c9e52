"""Every Redis key the service reads or writes, but the served payloads' own keys.

Each served payload names its key in the catalogue (``visitors.endpoints``); the keys
derived from a payload's name (its last good copy, its pre-rendered response) are built
here. Keys are stored verbatim (no Django prefix or version): other programs read them,
and an outside writer may ``INCRBY visitors:today:incremental 1``.
"""

from __future__ import annotations

from datetime import date

# Closed-day counts (no expiry) and a stamp that changes whenever they do.
ROLLUP_DAILY = "visitors:rollup:daily"
ROLLUP_STAMP = "visitors:rollup:updated"
# Closed days before the rollup's window, back to the first check-in (``visitors.history``).
ROLLUP_HISTORY = "visitors:rollup:history"


def breakdown(name: str, day: date | None = None) -> str:
    """A closed day broken down by ``name`` (``visitors.breakdowns``), or, without a day,
    the range of days held and a stamp of the last write."""
    return f"visitors:rollup:{name}" + (f":{day.isoformat()}" if day is not None else "")


# Changes whenever a faculty name is saved or deleted: the loop reloads the names then.
FACULTIES_STAMP = "visitors:faculties:updated"
# ``incremental`` mode: the base counted at the last reconcile, and the writers' counter.
INCREMENTAL_BASE = "visitors:today:base"
INCREMENTAL = "visitors:today:incremental"
# The last change notice (``visitors.changes``): a version that only grows, and its time.
VERSION = "visitors:version"
# The sync loop: its leader lock and its last cycle's report.
SYNC_LEADER = "visitors:sync:leader"
SYNC_HEARTBEAT = "visitors:sync:heartbeat"


def last_good(name: str) -> str:
    """A payload's last good value, kept without expiry: served, marked stale, while the
    database is unreachable."""
    return f"visitors:last:{name}"


def prerendered(name: str) -> str:
    """A payload's response bytes and ETag, rendered when it was published."""
    return f"visitors:http:{name}"


def compute_lock(key: str) -> str:
    """Held by the one process computing ``key`` after a miss (single flight)."""
    return f"{key}:lock"


def admin_filter_choices(using: str) -> str:
    """The admin's room and institution filter choices for database ``using``, cached for
    a few minutes (``visitors.admin``)."""
    return f"visitors:admin:filter-choices:{using}"


def member_fold(kept: str, part: str) -> str:
    """A part of the members' fold (``visitors.member_totals``) beside its ``kept`` key:
    the ``year`` and ``month`` sorted sets and the ``latest`` hash."""
    return f"{kept}:{part}"
