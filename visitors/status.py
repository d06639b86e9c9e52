"""The ``visitors_status`` snapshot: health, configuration and rollup coverage, for ops."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings

from visitors import cache, faculties, health, rollup
from visitors.breakdowns import INSTITUTIONS, value_of
from visitors.clock import local_now
from visitors.conf import visitor_settings
from visitors.endpoints import FACULTIES_YEARLY


def rollup_coverage(*, today: date) -> dict[str, Any]:
    """Which closed days the stored rollup holds, against the days the series need."""
    stored = rollup.load()
    wanted = rollup.wanted_days(today)
    holes = rollup.missing_ranges(set(stored), wanted)
    return {
        "days": len(stored),
        "wanted_days": len(wanted),
        "wanted_from": wanted[0].isoformat(),
        "wanted_to": wanted[-1].isoformat(),
        "first_day": min(stored).isoformat() if stored else None,
        "last_day": max(stored).isoformat() if stored else None,
        "holes": [
            {
                "from": start.isoformat(),
                "to": (end - timedelta(days=1)).isoformat(),
                "days": (end - start).days,
            }
            for start, end in holes
        ],
        "missing_days": sum((end - start).days for start, end in holes),
    }


def faculty_coverage(*, today: date) -> dict[str, Any]:
    """The faculty names held, and the institution codes seen this year that have none
    (their rankings show ``fakultas: null``): from the kept closed days and the published
    yearly faculty ranking (today's part), without a query of the visitor table."""
    codes: set[str | None] = set()
    for counts in INSTITUTIONS.load(INSTITUTIONS.wanted_days(today)).values():
        codes.update(value_of(key) for key in counts)
    published = cache.read_valid(FACULTIES_YEARLY.key, FACULTIES_YEARLY.validate)
    if published is not None:
        codes.update(entry["institution"] for entry in published["faculties"])
    names = faculties.names()
    return {"names": len(names), "unknown_codes": faculties.unknown(codes, names)}


def snapshot(*, now: datetime | None = None) -> dict[str, Any]:
    now = now or local_now()
    report = health.check(now=now, database=health.ping_database)
    body = report.as_dict()
    conf = visitor_settings()
    body["config"] = {
        "mode": conf.TODAY_COUNT_MODE,
        "db_layer": conf.db_layer,
        "time_zone": settings.TIME_ZONE,
        "interval_ms": conf.VISITOR_SYNC_MIN_INTERVAL_MS,
        "buffer_ms": conf.VISITOR_SYNC_BUFFER_MS,
        "cache_backend": report.cache.backend,
    }
    body["rollup"] = rollup_coverage(today=now.date()) if report.cache.probe.ok else None
    body["faculties"] = faculty_coverage(today=now.date()) if report.cache.probe.ok else None
    return body


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value < 120:
        return f"{value:.1f}s"
    if value < 7200:
        return f"{value / 60:.1f}min"
    return f"{value / 3600:.1f}h"


def _reach(part: dict[str, Any]) -> str:
    if part["reachable"]:
        return f"reachable ({part['latency_ms']} ms)"
    return f"UNREACHABLE: {part['error']}"


def _key_line(key: str, state: dict[str, Any]) -> str:
    if not state["present"]:
        return f"  {key:<24} absent"
    if not state["ttl_known"]:
        ttl = "TTL unknown (database cache)"
    elif state["ttl_s"] is None:
        ttl = "no expiry"
    else:
        ttl = f"TTL {state['ttl_s']}s"
    age = {
        "heartbeat": f"age {_seconds(state['age_s'])} (loop's last successful cycle)",
        "unknown": "age unknown",
    }[state["age_from"]]
    return f"  {key:<24} {ttl:<14} {age}"


def render(body: dict[str, Any]) -> str:
    """The snapshot as text for a terminal."""
    config, loop = body["config"], body["loop"]
    lines = [
        f"Status      {body['status'].upper()}"
        + (f"  ({'; '.join(body['reasons'])})" if body["reasons"] else ""),
        f"Checked at  {body['checked_at']}",
        "",
        f"Mode        {config['mode']}    DB layer  {config['db_layer']}    "
        f"time zone {config['time_zone']}    interval {config['interval_ms']} ms "
        f"+ buffer {config['buffer_ms']} ms",
        f"Database    {body['database']['vendor']}: {_reach(body['database'])}",
        f"Cache       {body['cache']['backend']}: {_reach(body['cache'])}",
        "",
    ]
    if loop["heartbeat_at"] is None:
        lines.append("Sync loop   no heartbeat: runsyncloop has not run against this cache")
    else:
        state = "running" if loop["fresh"] else f"STALE (older than {loop['stale_after_s']:g}s)"
        held = {True: "held", False: "free", None: "unknown"}[loop["leader_lock_held"]]
        lines += [
            f"Sync loop   {state}; leader {loop['leader']} (lock {held}); "
            f"mode {loop['mode']}, DB layer {loop['db_layer']}, interval {loop['interval_ms']} ms",
            f"  last heartbeat    {loop['heartbeat_at']} ({_seconds(loop['heartbeat_age_s'])} ago)",
            f"  last success      {loop['last_success_at'] or 'never'}"
            + (
                f" ({_seconds(loop['last_success_age_s'])} ago)"
                if loop["last_success_age_s"] is not None
                else ""
            ),
        ]
        if loop["cycle"] is not None:
            steps = ", ".join(f"{k} {v:.1f} ms" for k, v in (loop["steps_ms"] or {}).items())
            lines.append(
                f"  last cycle        #{loop['cycle']}: count {loop['count']}, "
                f"{loop['cycle_ms']:.1f} ms ({steps})"
            )
        if loop["error"]:
            lines.append(f"  last error        {loop['error']}")
    lines += ["", "Cache keys"]
    lines += [_key_line(key, state) for key, state in body["keys"].items()]
    lines.append("")
    coverage = body["rollup"]
    if coverage is None:
        lines.append("Rollup      unknown (cache unreachable)")
    else:
        span = f"{coverage['first_day']} .. {coverage['last_day']}" if coverage["days"] else "empty"
        lines.append(
            f"Rollup      {coverage['days']} of {coverage['wanted_days']} closed days "
            f"({coverage['wanted_from']} .. {coverage['wanted_to']} wanted); stored {span}"
        )
        if coverage["holes"]:
            lines.append(f"  holes ({_days(coverage['missing_days'])}):")
            lines += [
                f"    {hole['from']} .. {hole['to']} ({_days(hole['days'])})"
                for hole in coverage["holes"]
            ]
        else:
            lines.append("  no holes")
    known = body.get("faculties")
    if known is not None:
        unknown = known["unknown_codes"]
        lines.append(
            f"Faculties   {known['names']} names; "
            + (
                f"codes seen this year without a name (fakultas null): {', '.join(unknown)}"
                if unknown
                else "every institution code seen this year has a name"
            )
        )
    return "\n".join(lines)
