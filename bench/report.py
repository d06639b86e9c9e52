"""``BENCHMARKS.md`` and its chart, from one run's results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.config import BenchConfig


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _check(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _gap(actual: float, target: float, *, higher_is_better: bool) -> str:
    if higher_is_better:
        return f"{actual / target:.0%} of target" if actual < target else "met"
    return f"{actual / target:.1f}x the target" if actual > target else "met"


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, measured, verdict, note) rows."""
    rows: list[tuple[str, str, str, str]] = []
    for item in results.get("http", []):
        one_core_fast = "1 core" in item["server"] and not item["server"].startswith("DRF")
        if not (item.get("primary") or one_core_fast):
            continue
        ok = item["rps"] >= 4000 and item["p99_ms"] <= 25
        note = ""
        rows.append(
            (
                f"warm `/{item['endpoint']}` >= 4,000 req/s, p99 <= 25 ms (32 conn.): "
                f"{item['server']}",
                f"{_fmt(item['rps'], 0)} req/s ({_gap(item['rps'], 4000, higher_is_better=True)}), "
                f"p99 {_fmt(item['p99_ms'])} ms",
                _check(ok),
                note,
            )
        )
    rows += compare_targets(results.get("compare"))
    rows += soak_targets(results.get("soak"))
    rows += aggregate_targets(results)
    for item in results.get("loop", []):
        if item["layer"] != "raw" or item["mode"] == "incremental":
            continue
        ok = item["median_ms"] <= 4
        rows.append(
            (
                f"loop cycle, {item['mode']}, raw: median <= 4 ms "
                f"(issue 3: < {10 if item['mode'] == 'delta' else 20} ms)",
                f"{_fmt(item['median_ms'], 2)} ms "
                f"({_gap(item['median_ms'], 4, higher_is_better=False)})",
                _check(ok),
                "",
            )
        )
    daily = results.get("daily")
    if daily:
        ok = daily["speedup"] >= 50
        rows.append(
            (
                "daily job >= 50x faster than the full GROUP BY",
                f"{_fmt(daily['speedup'], 0)}x ({_fmt(daily['job_median_ms'])} ms vs "
                f"{_fmt(daily['full_scan_median_ms'], 0)} ms)"
                + (
                    f"; with late rows in every re-checked day "
                    f"{_fmt(daily['full_scan_median_ms'] / daily['recount_median_ms'], 0)}x "
                    f"({_fmt(daily['recount_median_ms'])} ms)"
                    if "recount_median_ms" in daily
                    else ""
                ),
                _check(ok),
                "",
            )
        )
    cold = results.get("cold")
    if cold:
        worst = max(cold["cold_series_with_rollup_ms"].values())
        ok = worst <= 100
        rows.append(
            (
                "cold series with the rollup kept <= 100 ms",
                f"slowest {_fmt(worst)} ms",
                _check(ok),
                "",
            )
        )
    load = results.get("load")
    if load:
        levels = load["levels"]
        errors = sum(level["errors"] for level in levels)
        qps = [level["service_queries_per_s"] for level in levels]
        idle = load["baseline_service_queries_per_s"]
        flat = max(qps) <= idle * 1.5 + 0.5
        rows.append(
            (
                "pollers: zero errors, DB queries/s flat as clients grow",
                f"{errors} errors; the service asked {', '.join(_fmt(q, 2) for q in qps)} "
                f"queries/s at {', '.join(str(level['clients']) for level in levels)} clients "
                f"(loop alone: {_fmt(idle, 2)} q/s)",
                _check(errors == 0 and flat),
                "",
            )
        )
    rows.extend(stream_targets(results.get("streams")))
    return rows


def _compare_index(compare: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["contender"], row["case"]): row for row in compare["rows"]}


def compare_targets(compare: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """Issue 13: warm answers at 3x the old service's req/s on one core, p99 < 5 ms, no
    errors, with and without keep-alive."""
    if not compare or not compare.get("old_built"):
        return []
    rows = []
    index = _compare_index(compare)
    for (contender, case), new in index.items():
        if contender != "new, 1 core":
            continue
        old = index.get(("old, 1 core", case))
        if old is None:
            continue
        ratio = new["rps"] / old["rps"] if old["rps"] else float("inf")
        ok = ratio >= 3 and new["p99_ms"] < 5 and new["errors"] == 0
        rows.append(
            (
                f"warm `{case}`, 1 core, 32 conn.: >= 3x the old service, p99 < 5 ms, 0 errors",
                f"{ratio:.1f}x ({_fmt(new['rps'], 0)} vs {_fmt(old['rps'], 0)} req/s), "
                f"p99 {_fmt(new['p99_ms'], 2)} ms, {new['errors']} errors",
                _check(ok),
                "",
            )
        )
    return rows


def compare_section(compare: dict[str, Any], config: BenchConfig) -> list[str]:
    out = ["## This service against the old one, side by side (same run)\n"]
    add = out.append
    if not compare.get("old_built"):
        add(f"The old service was not run: {compare.get('old_reason')}.\n")
    else:
        add(
            f"The old Fastify service built from its public repository at "
            f"`{compare['old_commit'][:7]}` (`npm ci`, its README's `node dist/index.js`, bound "
            f"to loopback by a preload; its own Redis database), against this service as the "
            f"README runs it (`{compare['new_command']}`) and a bare WSGI app returning fixed "
            f"bytes on the same server options (the ceiling). Rounds alternate old, new, "
            f"ceiling; each contender alone on core {config.server_cpu}, wrk on core "
            f"{config.client_cpu} ({config.connections} connections, {config.wrk_duration} s "
            f"per run); the 2-core rows give the server both cores and leave wrk unpinned. "
            f"Figures are medians of {config.wrk_runs} rounds; `rounds` lists each round's "
            f"req/s.\n"
        )
    add("| contender | request | req/s | p50 ms | p99 ms | errors | rounds (req/s) | new/old |")
    add("|---|---|---|---|---|---|---|---|")
    index = _compare_index(compare)
    for row in compare["rows"]:
        cores = row["contender"].split(", ", 1)[1]
        old = index.get((f"old, {cores}", row["case"]))
        ratio = (
            f"{row['rps'] / old['rps']:.1f}x"
            if old and row["contender"].startswith("new") and old["rps"]
            else ""
        )
        add(
            f"| {row['contender']} | `{row['case']}` | {_fmt(row['rps'], 0)} | "
            f"{_fmt(row['p50_ms'], 2)} | {_fmt(row['p99_ms'], 2)} | {row['errors']} | "
            f"{', '.join(f'{n:,}' for n in row['rounds'])} | {ratio} |"
        )
    add("")
    ceiling = index.get(("ceiling, 1 core", "/ keep-alive"))
    new = index.get(("new, 1 core", "/api/visitors/summary keep-alive"))
    if ceiling and new:
        add(
            f"Against the ceiling: warm `/summary` with keep-alive reaches "
            f"{new['rps'] / ceiling['rps']:.0%} of what the same server does returning fixed "
            f"bytes with no application at all.\n"
        )
    return out


def profile_section(profile: dict[str, Any]) -> list[str]:
    out = ["## Where the time goes (py-spy, warm `/summary`, 1 worker)\n"]
    if "skipped" in profile:
        return [*out, f"Not measured: {profile['skipped']}.\n"]
    out.append(
        f"`{profile['command']}`: {profile['samples']:,} samples of the thread holding the "
        f"GIL, which it held {profile.get('gil_share', '?')}% of the wall time (the rest: "
        "granian's Rust side, the kernel, waiting). Share of those samples by the innermost "
        "layer on the stack. The server's processes used "
        f"{profile.get('cpu_us_per_request', '?')} µs of CPU per request "
        f"({_fmt(profile.get('rps') or 0, 0)} req/s during the profile, py-spy included).\n"
    )
    out += ["| layer | % of samples |", "|---|---|"]
    out += [f"| {layer} | {share} |" for layer, share in profile["layers"].items()]
    out += ["", "Frames most often on top of the stack:\n", "| frame | % |", "|---|---|"]
    out += [f"| `{frame}` | {share} |" for frame, share in profile["top"]]
    return [*out, ""]


def aggregate_targets(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    ranking = results.get("rankings")
    if ranking:
        rows.append(
            (
                "rankings: the daily job's ranking work >= 50x faster than the old GROUP BYs",
                f"{_fmt(ranking['speedup'], 0)}x ({_fmt(ranking['daily_median_ms'])} ms vs "
                f"{_fmt(ranking['old_median_ms'], 0)} ms)"
                + (
                    f"; with late rows in every re-checked day "
                    f"{_fmt(ranking['old_median_ms'] / ranking['recount_median_ms'], 0)}x "
                    f"({_fmt(ranking['recount_median_ms'])} ms)"
                    if "recount_median_ms" in ranking
                    else ""
                ),
                _check(ranking["speedup"] >= 50),
                "",
            )
        )
        worst = max(ranking["cold_ms"].values())
        rows.append(
            (
                "a cold ranking (its payload gone, the stores kept) < 100 ms",
                f"slowest {_fmt(worst)} ms",
                _check(worst < 100),
                "",
            )
        )
    where = results.get("when_where")
    if where:
        worst = max(where["report_json_ms"], where["report_csv_ms"])
        rows.append(
            (
                "a 5-year report by day, JSON and CSV, < 50 ms",
                f"JSON {_fmt(where['report_json_ms'])} ms, CSV {_fmt(where['report_csv_ms'])} ms "
                f"(a GROUP BY over the same range: {_fmt(where['group_by_ms'], 0)} ms)",
                _check(worst < 50),
                "",
            )
        )
    payloads = results.get("payloads")
    if payloads:
        rows.append(
            (
                "the loop's median cycle grows by < 1 ms with the new payloads",
                f"+{_fmt(payloads['growth_ms'], 2)} ms (today's rows "
                f"{_fmt(payloads['rows_step_median_ms'], 2)} ms + the new builds) of "
                f"{_fmt(payloads['cycle_median_ms'], 2)} ms",
                _check(payloads["growth_ms"] < 1),
                "",
            )
        )
    return rows


def rerun_note(results: dict[str, Any], section: str) -> list[str]:
    """Under a section's heading: the later run it comes from, when it does (``--merge``)."""
    rerun = results.get("reruns", {}).get(section)
    if not rerun:
        return []
    return [f"(From a later run: `{rerun['command']}`, started {rerun['started']}.)\n"]


def aggregate_sections(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    ranking = results.get("rankings")
    if ranking:
        out.append("## Rankings: the old GROUP BYs against the kept stores (same run)\n")
        out += rerun_note(results, "rankings")
        fills = ", ".join(f"{name} {_fmt(ms, 0)} ms" for name, ms in ranking["fill_ms"].items())
        out += [
            f"- the old service's way, on every refresh: this year's `GROUP BY member_id, "
            f"member_name, institution` plus `GROUP BY institution`: median "
            f"**{_fmt(ranking['old_median_ms'], 0)} ms**",
            f"- ours, the daily job's ranking work (re-checking the last "
            f"{ranking['recheck_days']} days of the member and institution stores: each day's "
            "print, rows and the sum of their ids from the date index, against the one it was "
            "counted with; no day changed): median "
            f"**{_fmt(ranking['daily_median_ms'])} ms**, {_fmt(ranking['speedup'], 0)}x faster",
            *(
                [
                    "- the same work as if every re-checked day had late rows (each counted "
                    "again, only the members whose totals changed written): median "
                    f"**{_fmt(ranking['recount_median_ms'])} ms**, "
                    f"{_fmt(ranking['old_median_ms'] / ranking['recount_median_ms'], 0)}x faster"
                ]
                if "recount_median_ms" in ranking
                else []
            ),
            f"- filling those stores once (empty Redis, one grouped query per store): {fills}",
            "- a cold ranking (its payload deleted, the stores kept): "
            + ", ".join(f"{name} {_fmt(ms)} ms" for name, ms in ranking["cold_ms"].items()),
            "",
        ]
    where = results.get("when_where")
    if where:
        out.append("## When and where: the hour and room stores, and reports\n")
        out += rerun_note(results, "when_where")
        fills = ", ".join(f"{name} {_fmt(ms, 0)} ms" for name, ms in where["fill_ms"].items())
        out += [
            f"- filling the stores once (empty Redis, one grouped query each): {fills}",
            f"- a report by day over five years ({where['report_days']:,} days) from the kept "
            f"counts: JSON **{_fmt(where['report_json_ms'])} ms**, CSV "
            f"**{_fmt(where['report_csv_ms'])} ms** (median; building the answer and its bytes)",
            f"- the same range as one `GROUP BY DATE(checkin_date)`: "
            f"{_fmt(where['group_by_ms'], 0)} ms",
            "",
        ]
    payloads = results.get("payloads")
    if payloads:
        out.append("## What each payload adds to a loop cycle\n")
        out += rerun_note(results, "payloads")
        out.append(
            f"{payloads['cycles']} warm cycles (direct mode, raw SQL, {payloads['today_rows']} "
            f"rows today): cycle median {_fmt(payloads['cycle_median_ms'], 2)} ms; today's "
            f"rows step {_fmt(payloads['rows_step_median_ms'], 3)} ms. Build time per payload "
            "(median; the rankings re-tally today at most every `RANKING_REFRESH_S`):\n"
        )
        out += ["| payload | build ms |", "|---|---|"]
        out += [f"| {name} | {_fmt(ms, 3)} |" for name, ms in payloads["build_median_ms"].items()]
        out.append("")
    return out


def soak_targets(soak: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    if not soak:
        return []
    wrong = soak["verdicts"].get("wrong", 0)
    growth = max(soak["rss_growth_pct"].values(), default=0.0)
    failures = sum(f["count"] for f in soak["failures"])
    web_cpu = [s for name, s in soak.get("cpu_s", {}).items() if name.startswith("web worker")]
    # A worker that took no requests cannot show growth: each must carry a fair share.
    shared = bool(web_cpu) and min(web_cpu) >= 0.25 * max(web_cpu)
    return [
        (
            f"soak ({soak['seconds'] // 60} min, Redis restarted twice, MariaDB once): no wrong "
            "answer, no non-200, every stream client ends on the final count, RSS growth < 5% "
            "in every process, every web worker under load",
            f"{wrong} wrong, {failures} non-200 of {soak['requests']:,}; "
            f"{soak['streams_missing_final']} of {soak['streams']} streams missed the final "
            f"count; largest RSS growth {growth}%; web workers' CPU "
            + (" / ".join(f"{s:.0f} s" for s in web_cpu) or "not recorded"),
            _check(
                wrong == 0
                and failures == 0
                and not soak["streams_missing_final"]
                and growth < 5
                and shared
            ),
            "",
        )
    ]


def soak_section(soak: dict[str, Any], results: dict[str, Any]) -> list[str]:
    out = ["## Soak under faults\n", *rerun_note(results, "soak")]
    add = out.append
    faults = ", ".join(
        f"{f['what']} down {f['down_s']:.0f} s at {f['at_s']} s" for f in soak["faults"]
    )
    add(
        f"The whole service (web server with the README's default workers, streams server, "
        f"sync loop at 1 s) on a MariaDB and a Redis of the run's own, {soak['seconds']} s: "
        f"{soak['pollers']} pollers on every catalogued endpoint, `/health` and `/` "
        f"(keep-alive, a new connection every {soak.get('poller_reconnect_every', '-')} "
        "requests); "
        f"{soak['streams']} clients on `/api/visitors/today/stream`; "
        f"{soak['insert_rate_per_s']} check-ins a second ({soak['inserted']} inserted, "
        f"{soak['insert_failures']} refused while MariaDB was down); faults: {faults}.\n"
    )
    verdicts = soak["verdicts"]
    add(
        f"- requests: {soak['requests']:,}; today's count in `/today` and `/summary` against "
        f"the table: {verdicts.get('current', 0):,} current (at most 7 s behind), "
        f"{verdicts.get('stale', 0):,} marked stale (last good, never ahead of the table), "
        f"**{verdicts.get('wrong', 0):,} wrong**"
    )
    if soak["failures"]:
        add("- answers other than 200:")
        for f in soak["failures"]:
            add(f"  - `{f['path']}`: {f['status']} x{f['count']} ({f['reason']})")
    else:
        add("- answers other than 200: none")
    add(
        f"- stream clients whose last value is not the final count ({soak['final_count']}) "
        f"after the inserts stopped: **{soak['streams_missing_final']}** "
        f"({soak['stream_reconnects']} reconnects in all)\n"
    )
    series = soak.get("rss_series") or []
    if series:
        names = [k for k in series[0] if k != "at_s"]
        add("Web and streams workers' RSS (KiB) every minute, to tell warm-up from a leak:\n")
        add("| s | " + " | ".join(names) + " |")
        add("|---" * (len(names) + 1) + "|")
        for point in series:
            add(f"| {point['at_s']} | " + " | ".join(f"{point.get(n, 0):,}" for n in names) + " |")
        add("")
    cpu = soak.get("cpu_s", {})
    add("| process | RSS at the start (KiB) | at the end (KiB) | growth % | CPU s between |")
    add("|---|---|---|---|---|")
    for name, start in soak["rss_start_kib"].items():
        add(
            f"| {name} | {start:,} | {soak['rss_end_kib'].get(name, 0):,} | "
            f"{soak['rss_growth_pct'].get(name, '-')} | {cpu.get(name, '-')} |"
        )
    return [*out, ""]


def _level(levels: list[dict[str, Any]], wanted: int) -> dict[str, Any]:
    """The level ``wanted``, or the largest below it (a run with other levels), or the
    smallest."""
    below = [level for level in levels if level["level"] <= wanted]
    return max(below, key=lambda item: item["level"]) if below else levels[0]


def stream_targets(streams: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """Issue 12's targets for the streams process."""
    if not streams or not streams["levels"]:
        return []
    rows = []
    levels = streams["levels"]
    top = max(levels, key=lambda item: item["level"])
    every = top["held"] == top["level"] and top["clients_missing_updates"] == 0
    every = every and top["updates_seen"] == top["updates"]
    rows.append(
        (
            f"streams: {top['level']:,} held by one process, every update delivered "
            "(issue 12: 19,000)",
            f"{top['held']:,} held; {top['updates_seen']} of {top['updates']} updates seen, "
            f"{top['clients_missing_updates']:,} streams missed one",
            _check(every),
            "",
        )
    )
    at = _level(levels, 10_000)
    p99 = at["p99_ms"]
    rows.append(
        (
            f"streams: delivery p99 at {at['level']:,} streams < 500 ms",
            f"p99 {_fmt(p99, 0)} ms (p50 {_fmt(at['p50_ms'], 0)}, max {_fmt(at['max_ms'], 0)})",
            _check(p99 < 500),
            "",
        )
    )
    rows.append(
        (
            f"streams: delivery p99 at {at['level']:,} streams <= 159 ms (stretch: the old "
            "service's at 10,000)",
            f"p99 {_fmt(p99, 0)} ms",
            _check(p99 <= 159),
            "",
        )
    )
    per_stream = top["rss_per_1000_kib"] / 1000
    rows.append(
        (
            "streams: < 30 KiB of worker RSS per stream",
            f"{_fmt(per_stream)} KiB per stream at {top['level']:,} "
            f"({_fmt(top['worker_rss_mib'])} MiB worker)",
            _check(per_stream < 30),
            "",
        )
    )
    cost = streams.get("summary_cost_percent")
    pairs = streams.get("summary_pairs")
    idle = streams.get("summary_idle_cost_percent")
    held_idle = f"; held idle: {_fmt(idle)}%" if idle is not None else ""
    if cost is not None and pairs:
        rows.append(
            (
                f"streams: holding {pairs[0]['streams_held']:,} costs warm `/summary` < 10% of "
                "its req/s (with an update a second, as the old service was measured)",
                f"{_fmt(cost)}%, median of {_pairs_of(pairs)} of runs "
                f"({_fmt(streams['summary_cost_min_percent'])} to "
                f"{_fmt(streams['summary_cost_max_percent'])}%; "
                f"{_fmt(streams['summary_baseline_rps'], 0)} -> "
                f"{_fmt(streams['summary_loaded_rps'], 0)} req/s); fan-out "
                f"{_fmt(streams['fanout_cpu_ms_per_update'])} ms of CPU per update" + held_idle,
                _check(cost < 10),
                "",
            )
        )
    elif cost is not None:  # a run from before the paired runs
        base = [run for run in streams["summary"] if not run["streams_held"]]
        held = next(r for r in streams["summary"] if r["streams_held"] and r["updates_per_s"])
        p99 = "/".join(_fmt(run["p99_ms"]) for run in base)
        rows.append(
            (
                f"streams: holding {held['streams_held']:,} costs warm `/summary` < 10% of "
                "its req/s (with an update a second, as the old service was measured)",
                f"{_fmt(cost)}% ({_fmt(streams['summary_baseline_rps'], 0)} -> "
                f"{_fmt(held['rps'], 0)} req/s; p99 {p99} -> {_fmt(held['p99_ms'])} ms)"
                + held_idle,
                _check(cost < 10),
                "",
            )
        )
    return rows


def _pairs_of(pairs: list[Any]) -> str:
    return f"{len(pairs)} pair" + ("" if len(pairs) == 1 else "s")


def _summary_pairs(r: dict[str, Any], config: BenchConfig) -> list[str]:
    """Warm ``/summary`` with and without the streams, in alternating pairs of wrk runs."""
    pairs = r["summary_pairs"]
    held = pairs[0]["streams_held"]
    out = [
        f"Warm `/summary` under wrk (the web server, `{r['web_command']}`, up for the whole "
        "section, on the same core as the streams process and the loop; wrk on the other "
        f"core, {config.connections} connections, runs of {config.wrk_duration} s"
        + ("" if config.smoke else ", each after a 1 s warm-up")
        + "). The load client stops reading during the runs (the kernel keeps "
        "what arrives). What holding the streams costs, with a check-in a second (so that "
        "the streams process fans out an update a second, the old service's condition: it "
        f"sent one every loop cycle): {_pairs_of(pairs)} of runs back to back, one with no "
        f"stream held (the load client closes every stream and the streams worker is seen "
        f"to drop their sockets) and one with {held:,} held (opened again), the order "
        "alternating from pair to pair so that the shared machine's drift falls on both "
        "sides. Cost = 1 - req/s with / req/s without, per pair; the figure is their "
        "median. Fan-out CPU per update: the streams worker's CPU seconds during the run with "
        "the streams over the updates published in it (it includes what the worker does "
        "anyway: the keepalives, one Redis read per change). CPU % = of one core.\n"
    ]
    out.append(
        f"| pair | first | req/s without | req/s with {held:,} | cost % | p99 ms without | "
        "p99 ms with | updates | fan-out ms CPU per update | streams worker CPU % "
        "without / with | web worker CPU % without / with | delivery p99 ms | errors |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for pair in pairs:
        out.append(
            f"| {pair['pair']} | {'without' if pair['first'] == 'baseline' else 'with'} | "
            f"{_fmt(pair['baseline_rps'], 0)} | {_fmt(pair['loaded_rps'], 0)} | "
            f"{_fmt(pair['cost_percent'])} | {_fmt(pair['baseline_p99_ms'], 2)} | "
            f"{_fmt(pair['loaded_p99_ms'], 2)} | {pair['updates']} | "
            f"{_fmt(pair['fanout_cpu_ms_per_update'])} | "
            f"{_fmt(pair['baseline_streams_cpu_percent'])} / "
            f"{_fmt(pair['streams_cpu_percent'])} | "
            f"{_fmt(pair['baseline_web_cpu_percent'], 0)} / "
            f"{_fmt(pair['web_cpu_percent'], 0)} | {_fmt(pair['delivery_p99_ms'], 0)} | "
            f"{pair['errors']} |"
        )
    out.append("")
    out.append(
        f"Cost of holding {held:,} streams, with an update a second: "
        f"**{_fmt(r['summary_cost_percent'])}%** of `/summary`'s req/s, the median of "
        f"{_pairs_of(pairs)} (from {_fmt(r['summary_cost_min_percent'])}% to "
        f"{_fmt(r['summary_cost_max_percent'])}%; medians "
        f"{_fmt(r['summary_baseline_rps'], 0)} req/s without, "
        f"{_fmt(r['summary_loaded_rps'], 0)} with). The fan-out: "
        f"**{_fmt(r['fanout_cpu_ms_per_update'])} ms** of the streams worker's CPU per "
        f"update ({_fmt(r['fanout_streams_cpu_percent'])}% of its core during the runs); the "
        f"web worker had {_fmt(r['summary_web_cpu_percent'], 0)}% of the core with the "
        f"streams, {_fmt(r['summary_baseline_web_cpu_percent'], 0)}% without.\n"
    )
    closes = [c["close"] for c in r.get("summary_closes_and_regrows", []) if "close" in c]
    grows = [c["grow"] for c in r.get("summary_closes_and_regrows", []) if "grow" in c]
    if closes or grows:
        spans = []
        if closes:
            seconds = [c["server_seconds"] for c in closes]
            spans.append(
                f"closing every stream until the worker had let go of them took "
                f"{_fmt(min(seconds), 2)}-{_fmt(max(seconds), 2)} s"
            )
        if grows:
            seconds = [g["seconds"] for g in grows]
            spans.append(
                f"opening {held:,} again {_fmt(min(seconds), 2)}-{_fmt(max(seconds), 2)} s"
            )
        out.append("Between runs, " + "; ".join(spans) + ".\n")
    idle = next((run for run in r["summary"] if run.get("role") == "idle"), None)
    if idle is not None and r.get("summary_idle_cost_percent") is not None:
        out.append(
            f"Held idle (one run before the pairs, {idle['streams_held']:,} streams, no "
            f"update): {_fmt(idle['rps'], 0)} req/s, p99 {_fmt(idle['p99_ms'], 2)} ms, "
            f"{idle['errors']} errors, streams worker {_fmt(idle['streams_cpu_percent'])}% "
            "CPU; against the run without streams right after it: "
            f"{_fmt(r['summary_idle_cost_percent'])}% (one run each, and that one has a "
            "check-in a second: indicative only).\n"
        )
    return out


def _summary_runs(r: dict[str, Any], config: BenchConfig) -> list[str]:
    """Warm ``/summary`` as a run from before the paired runs measured it."""
    out: list[str] = []
    out.append(
        f"Warm `/summary` under wrk (the web server, `{r['web_command']}`, up for the "
        "whole section, on the same core as the streams process and the loop; wrk on the "
        "other core, "
        f"{config.connections} connections, median of {config.wrk_runs} runs of "
        f"{config.wrk_duration} s) with no stream, with streams held idle, and with "
        "streams held and a check-in a second, so that the streams process fans out an "
        "update a second (the old service's condition: it sent one every loop cycle). "
        "The load client stops reading during the runs (the kernel keeps what arrives). "
        "The runs without streams come before the first stream opens and after the last "
        "closes (a check-in a second there too); the cost is measured against their "
        "median.\n"
    )
    out.append("| streams held | updates/s | req/s | p50 ms | p99 ms | errors | load avg |")
    out.append("|---|---|---|---|---|---|---|")
    for run in r["summary"]:
        out.append(
            f"| {run['streams_held']:,} | {run.get('updates_per_s', 1)} | "
            f"{_fmt(run['rps'], 0)} | {_fmt(run['p50_ms'], 2)} | "
            f"{_fmt(run['p99_ms'], 2)} | {run['errors']} | {_fmt(run['loadavg_1m'], 1)} |"
        )
    out.append("")
    if r.get("summary_cost_percent") is not None:
        out.append(
            f"Cost of holding the streams, with an update a second: "
            f"{_fmt(r['summary_cost_percent'])}% of `/summary`'s req/s "
            f"({_fmt(r['summary_baseline_rps'], 0)} req/s without)"
            + (
                f"; held idle: {_fmt(r['summary_idle_cost_percent'])}%.\n"
                if r.get("summary_idle_cost_percent") is not None
                else ".\n"
            )
        )
    return out


def stream_section(r: dict[str, Any], config: BenchConfig) -> list[str]:
    out = ["## Live push: idle streams on one streams process\n"]
    out.append(
        f"The Procfile's streams process, one worker (`{r['server_command']}`), and the sync "
        f"loop (`{r['loop_command']}`) on core {config.server_cpu}; the load client "
        f"(`{r['client_command']}`: one process, non-blocking sockets and epoll, streams "
        "spread over loopback source addresses) on the other core holds "
        f"`GET {r['path']}` streams. At each level: the worker's RSS (per 1,000 streams: "
        f"RSS at the level minus RSS with none, {_fmt(r['worker_rss_zero_mib'])} MiB), its "
        "CPU over a quiet stretch with nothing sent (a `: keepalive` falls in it now and "
        f"then), then one check-in inserted for today every {_fmt(r['update_interval_s'])} s; "
        "the loop counts it within a second, publishes, and every stream gets an `update`.\n"
    )
    out.append(
        "Delivery time = the kernel's receive stamp on the client's socket (`recvmsg` with "
        "`SO_TIMESTAMPNS`, so the client's own delays do not count) minus the instant the "
        "update stands for (its `generated_at`, the change version's time: when the loop "
        "read the count it then published). It therefore includes the loop's own cycle "
        "(column `cycle ms`) as well as the hop through Redis pub/sub and the fan-out to "
        "every stream. `missed` counts the streams that lacked any of the updates (a "
        "stream that falls behind skips to the latest count). `mislabelled`: updates that "
        "reached a stream with the previous version's `generated_at` (the streams process "
        "read the new count before the new version; the update's latest label is used for "
        "its delivery time). `stale`: updates published before the window that arrived in "
        "it (a backlog; not counted).\n"
    )
    out.append(
        "| streams asked | held | failed | worker RSS MiB | MiB per 1,000 | idle CPU % | "
        "updates | delivery p50 ms | p99 ms | max ms | missed | mislabelled | stale | "
        "cycle ms | load avg |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for level in r["levels"]:
        out.append(
            f"| {level['level']:,} | {level['held']:,} | {level['grow']['failed']} | "
            f"{_fmt(level['worker_rss_mib'])} | {_fmt(level['rss_per_1000_kib'] / 1024)} | "
            f"{_fmt(level['idle_cpu_percent'], 2)} | {level['updates_seen']}/{level['updates']} | "
            f"{_fmt(level['p50_ms'], 0)} | {_fmt(level['p99_ms'], 0)} | "
            f"{_fmt(level['max_ms'], 0)} | {level['clients_missing_updates']:,} | "
            f"{level.get('mislabelled', '-')} | {level.get('stale', '-')} | "
            f"{_fmt(level['loop_cycle_ms'], 1)} | "
            f"{_fmt(level['loadavg_1m'], 1) if 'loadavg_1m' in level else '-'} |"
        )
    out.append("")
    if r.get("summary_pairs"):
        out.extend(_summary_pairs(r, config))
    elif r["summary"]:
        out.extend(_summary_runs(r, config))
    return out


def markdown(results: dict[str, Any], config: BenchConfig) -> str:
    m = results["machine"]
    d = results["dataset"]
    out: list[str] = []
    add = out.append
    title = (
        "Benchmarks (smoke run: tiny table, figures meaningless)" if config.smoke else "Benchmarks"
    )
    add(f"# {title}\n")
    add(
        "Generated by `python -m bench` (`make bench`) from `bench/`; every number below comes "
        f"from one run started {results['started']} ({_fmt(results['seconds'], 0)} s)"
        + (
            ", except the sections measured again by a later run after code changes "
            f"({', '.join(results['reruns'])}; `--only ... --merge`), each named under its "
            "heading; within a section, every comparison is from one run.\n"
            if results.get("reruns")
            else ".\n"
        )
    )
    add(f"Command: `{results['command']}`  \n")
    add(
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, Linux {m['kernel']}. "
        f"Python {m['python']}, Django {m['django']}, DRF {m['djangorestframework']}, "
        f"granian {m['granian']}, mysqlclient {m['mysqlclient']}, redis-py {m['redis-py']}; "
        f"MariaDB {m['mariadb']} (buffer pool {m['innodb_buffer_pool']}), Redis {m['redis']}, "
        f"wrk {m['wrk']}."
        + (f" Load average at the start: {m['loadavg']}." if m.get("loadavg") else "")
        + "  \n"
    )
    add(
        f"Data: `visitor_count` in MariaDB database `{results['db_name']}`, {d['rows']:,} rows "
        f"from {d['first']} to {d['last']} ({d['today_rows']:,} today); "
        + (
            f"loaded by this run in {_fmt(d['load_seconds'], 0)} s with `{d['command']}`."
            if d["loaded_now"]
            else f"reused (load it with `{d['command']}`)."
        )
        + f" Redis: `{results['redis_url']}` (flushed by the run).\n"
    )
    add(
        "The machine is shared (2 cores, other work running), so figures are noisy: medians "
        "and ratios within this one run are what to compare.\n"
    )
    if results.get("chart"):
        add(f"![benchmarks]({Path(results['chart']).name})\n")
    else:
        add("(No chart: matplotlib is not installed; `pip install -e '.[bench]'`.)\n")

    add("## Targets\n")
    add("| target | measured | verdict | note |\n|---|---|---|---|")
    for row in targets(results):
        add("| " + " | ".join(row) + " |")
    add("")

    if "loop" in results:
        add("## Sync loop cycle (`visitors.sync.Cycle.run`, warm rollup)\n")
        out += rerun_note(results, "loop")
        add(
            f"{results['loop'][0]['cycles']} cycles back to back per mode and DB layer after "
            "3 warm-up cycles; one cycle = rollup stamp check + today's count + publishing "
            "the five payloads (one Redis MSET). `first` is the first cycle of a fresh "
            "process (the delta baseline / incremental reconcile). Delta and incremental "
            "reconcile every 60 s, i.e. not within these runs.\n"
        )
        add("| layer | mode | median ms | p90 ms | max ms | first ms | steps (median ms) |")
        add("|---|---|---|---|---|---|---|")
        for r in results["loop"]:
            steps = ", ".join(f"{k} {_fmt(v, 2)}" for k, v in r["steps_median_ms"].items())
            add(
                f"| {r['layer']} | {r['mode']} | {_fmt(r['median_ms'], 2)} | "
                f"{_fmt(r['p90_ms'], 2)} | {_fmt(r['max_ms'], 2)} | {_fmt(r['first_ms'], 1)} | "
                f"{steps} |"
            )
        add("")

    if "daily" in results:
        r = results["daily"]
        add("## Daily job vs a full five-year GROUP BY (same run)\n")
        out += rerun_note(results, "daily")
        add(
            f"- daily job (`visitors.daily.warm_aggregates`: rollup and stores kept, re-check "
            f"of the last {r['recheck_days']} days by their prints; no late rows, so nothing "
            f"counted again or published): median **{_fmt(r['job_median_ms'])} ms** "
            f"over {len(r['job_runs_ms'])} runs"
        )
        if "recount_median_ms" in r:
            add(
                "- the same job as if every re-checked day had late rows (each store counts "
                "them again, every payload is published, today's rows read): median "
                f"**{_fmt(r['recount_median_ms'])} ms** "
                f"({_fmt(r['full_scan_median_ms'] / r['recount_median_ms'], 0)}x)"
            )
        add(
            f"- full GROUP BY YEAR over five years (what the old service ran for `/yearly`): "
            f"median **{_fmt(r['full_scan_median_ms'], 0)} ms** over "
            f"{len(r['full_scan_runs_ms'])} runs"
        )
        add(f"- ratio: **{_fmt(r['speedup'], 0)}x**")
        add(
            f"- filling the whole rollup once (empty Redis, one grouped pass by day): "
            f"{_fmt(r['rollup_fill_ms'], 0)} ms\n"
        )

    if "cold" in results:
        r = results["cold"]
        add("## Cold start\n")
        out += rerun_note(results, "cold")
        add(
            f"- empty Redis to a full `/summary` (`visitors.serving`: one grouped pass "
            f"fills the rollup, then today's count): **{_fmt(r['empty_redis_summary_ms'], 0)} ms**"
        )
        waits = r.get("empty_redis_concurrent_ms")
        if waits:
            add(
                f"- the same with {r['empty_redis_concurrent_clients']} clients at once (single "
                f"flight: one computes, the others wait for it): waits from "
                f"{_fmt(min(waits), 0)} to {_fmt(max(waits), 0)} ms"
            )
        series = ", ".join(
            f"{name} {_fmt(ms)} ms" for name, ms in r["cold_series_with_rollup_ms"].items()
        )
        add(
            f"- cold series with the rollup kept (series, today and summary keys deleted): {series}"
        )
        add(
            f"- cold `/summary` with the rollup kept: {_fmt(r['cold_summary_with_rollup_ms'])} ms\n"
        )

    if "http" in results:
        add("## Warm HTTP (the web server, cache warm)\n")
        add(
            f"wrk with {config.connections} connections, {config.wrk_duration} s per run, "
            f"median of {config.wrk_runs} runs; the server pinned with `taskset -c "
            f"{config.server_cpu}` and wrk with `taskset -c {config.client_cpu}` (the "
            "2-worker layout uses both cores and leaves wrk unpinned). All rows but the DRF "
            "one serve from the pre-rendered bytes; the DRF row turns that off "
            "(`HTTP_FAST_PATH=false`) in the same run.\n"
        )
        add(
            "The 1-minute load average after each layout's runs shows how busy the two cores "
            "were with other work: above 2, the measured core was shared, which shows in p99.\n"
        )
        add("| server | endpoint | req/s | p50 ms | p99 ms | errors | load avg | command |")
        add("|---|---|---|---|---|---|---|---|")
        for r in results["http"]:
            add(
                f"| {r['server']} | `/{r['endpoint']}` | {_fmt(r['rps'], 0)} | "
                f"{_fmt(r['p50_ms'], 2)} | {_fmt(r['p99_ms'], 2)} | {r['errors']} | "
                f"{_fmt(r['loadavg_1m'], 1) if 'loadavg_1m' in r else '-'} | `{r['command']}` |"
            )
        add("")

    out += aggregate_sections(results)
    if "compare" in results:
        out += compare_section(results["compare"], config)
    if "profile" in results:
        out += profile_section(results["profile"])
    if "soak" in results:
        out += soak_section(results["soak"], results)

    if "load" in results:
        r = results["load"]
        add("## Pollers on `/summary` with the sync loop running\n")
        add(
            f"`{r['server']}` (`{r['command']}`), `manage.py runsyncloop` running (default "
            f"interval), wrk for {r['duration_s']} s per level. Two query rates: the "
            "service's own (web workers + loop, summed from its `/metrics`, "
            "`visitors_db_query_duration_seconds_count`), and MariaDB's `Com_select` delta, "
            "a server-wide counter in which the other work on this shared server shows up "
            "too. With the loop alone (measured after the runs): service "
            f"{_fmt(r['baseline_service_queries_per_s'], 2)} q/s, `Com_select` "
            f"{_fmt(r['baseline_db_queries_per_s'])} q/s.\n"
        )
        add("| clients | req/s | p50 ms | p99 ms | errors | service queries/s | `Com_select`/s |")
        add("|---|---|---|---|---|---|---|")
        for level in r["levels"]:
            add(
                f"| {level['clients']} | {_fmt(level['rps'], 0)} | {_fmt(level['p50_ms'], 1)} | "
                f"{_fmt(level['p99_ms'], 1)} | {level['errors']} | "
                f"{_fmt(level['service_queries_per_s'], 2)} | "
                f"{_fmt(level['db_queries_per_s'])} |"
            )
        add("")
        mem = r["memory"]
        add("## Memory (RSS, after the poller runs)\n")
        add(f"- web worker: {_fmt(mem['web_worker_rss_mib'])} MiB")
        add(f"- web main process: {_fmt(mem['web_main_rss_mib'])} MiB")
        add(f"- `runsyncloop`: {_fmt(mem['loop_rss_mib'])} MiB\n")

    if "streams" in results:
        out.extend(stream_section(results["streams"], config))
    return "\n".join(out) + "\n"


def _stream_panels(streams: dict[str, Any] | None, top: Any, bottom: Any) -> None:
    """Delivery time and memory per stream by streams held; /summary with and without."""
    top.set_title("SSE delivery, one streams process")
    bottom.set_title("warm /summary while streams are held")
    if not streams or not streams["levels"]:
        return
    levels = streams["levels"]
    held = [level["level"] for level in levels]
    for key, style in (("p50_ms", "o-"), ("p99_ms", "s-"), ("max_ms", "^--")):
        top.plot(held, [level[key] for level in levels], style, label=key.split("_")[0])
    top.axhline(500, color="red", linestyle="--", label="target p99 500 ms")
    top.axhline(159, color="orange", linestyle=":", label="stretch p99 159 ms")
    top.set_xlabel("streams held")
    top.set_ylabel("delivery ms")
    memory = top.twinx()
    memory.bar(
        held,
        [level["rss_per_1000_kib"] / 1000 for level in levels],
        width=max(held) / 25,
        alpha=0.25,
        color="tab:gray",
    )
    memory.set_ylabel("worker KiB per stream (bars)")
    top.legend(fontsize=7)
    pairs = streams.get("summary_pairs")
    if pairs:  # without and with the streams, side by side, pair by pair
        held = pairs[0]["streams_held"]
        where = range(len(pairs))
        bottom.bar(
            [n - 0.2 for n in where],
            [pair["baseline_rps"] for pair in pairs],
            width=0.4,
            label="no stream",
        )
        bottom.bar(
            [n + 0.2 for n in where],
            [pair["loaded_rps"] for pair in pairs],
            width=0.4,
            label=f"{held:,} streams",
        )
        bottom.set_xticks(
            list(where),
            [f"pair {pair['pair']}\n{_fmt(pair['cost_percent'])}%" for pair in pairs],
        )
        bottom.set_title(
            f"warm /summary, 1 update/s: {held:,} streams cost "
            f"{_fmt(streams['summary_cost_percent'])}% (median)"
        )
        bottom.legend(fontsize=7)
        bottom.set_ylabel("req/s")
        return
    runs = streams["summary"]
    bottom.bar(
        [
            f"{run['streams_held']:,} streams\n{run.get('updates_per_s', 1)} upd/s ({n + 1})"
            for n, run in enumerate(runs)
        ],
        [run["rps"] for run in runs],
    )
    bottom.set_ylabel("req/s")


def chart(results: dict[str, Any], path: Path) -> str | None:
    """Six panels: loop cycles, daily job vs scan, warm HTTP, pollers, stream delivery,
    /summary with streams held. None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(2, 3, figsize=(17, 8))
    ax = axes[0][0]
    loop = results.get("loop", [])
    if loop:
        labels = [f"{r['mode']}\n{r['layer']}" for r in loop]
        ax.bar(labels, [r["median_ms"] for r in loop], label="median")
        ax.scatter(
            labels, [r["p90_ms"] for r in loop], color="black", marker="_", s=300, label="p90"
        )
        ax.axhline(4, color="red", linestyle="--", label="target 4 ms")
        ax.set_ylabel("ms per cycle")
        ax.legend()
    ax.set_title("sync loop cycle")
    ax = axes[0][1]
    daily = results.get("daily")
    if daily:
        ax.bar(
            ["daily job", "rollup fill\n(once)", "full GROUP BY\n5 years"],
            [daily["job_median_ms"], daily["rollup_fill_ms"], daily["full_scan_median_ms"]],
            color=["tab:green", "tab:orange", "tab:red"],
        )
        ax.set_yscale("log")
        ax.set_ylabel("ms (log)")
    ax.set_title(f"daily job vs full scan ({daily['speedup']:.0f}x)" if daily else "daily job")
    ax = axes[1][0]
    http = results.get("http", [])
    if http:
        labels = [f"{r['endpoint']}\n{r.get('short', r['server'])}" for r in http]
        ax.bar(labels, [r["rps"] for r in http])
        ax.axhline(4000, color="red", linestyle="--", label="target 4,000 req/s (1 core)")
        ax.set_ylabel("req/s (32 connections)")
        ax.tick_params(axis="x", labelsize=7)
        ax.legend()
    ax.set_title("warm HTTP")
    ax = axes[1][1]
    load = results.get("load")
    if load:
        clients = [level["clients"] for level in load["levels"]]
        ax.plot(
            clients,
            [level["service_queries_per_s"] for level in load["levels"]],
            "o-",
            label="service DB queries/s",
        )
        ax.plot(clients, [level["p99_ms"] for level in load["levels"]], "s--", label="p99 ms")
        ax.set_xlabel("concurrent pollers on /summary")
        ax.legend()
    ax.set_title("pollers with the loop running")
    _stream_panels(results.get("streams"), axes[0][2], axes[1][2])
    fig.suptitle(
        f"{results['machine']['nproc']} CPUs {results['machine']['cpu']}, "
        f"{results['dataset']['rows']:,} rows, {results['started']}",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)
