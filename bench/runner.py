"""Runs the sections in order and writes the report; each section is independent."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import dataset
from bench.config import BenchConfig


def setup_django(config: BenchConfig) -> None:
    os.environ.update(config.environment())
    import django
    from django.core.management import call_command

    django.setup()
    # The README's set-up steps for the servers the run starts (a no-op when done).
    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)


def write_report(results: dict[str, Any], config: BenchConfig) -> Path:
    from bench import report

    results["chart"] = report.chart(results, config.chart_path)
    config.report_path.write_text(report.markdown(results, config))
    return config.report_path


def run(config: BenchConfig) -> Path:
    if config.report_only:
        return write_report(json.loads(config.results_path.read_text()), config)
    # /metrics of the servers this run starts counts only this run's processes.
    prometheus_dir = tempfile.mkdtemp(prefix="bench-prometheus-")
    try:
        return _run(replace(config, prometheus_dir=prometheus_dir))
    finally:
        shutil.rmtree(prometheus_dir, ignore_errors=True)


def _run(config: BenchConfig) -> Path:
    dataset.create_database(config)
    setup_django(config)
    from bench import aggregates, compare, engine, http, machine, profile, soak, streams

    results: dict[str, Any] = {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": config.command(),
        "smoke": config.smoke,
        "db_name": config.db_name,
        "redis_url": config.redis_url,
    }
    started = time.monotonic()
    results["machine"] = machine.describe()
    data = dataset.ensure(config)
    results["dataset"] = {
        "rows": data.rows,
        "first": str(data.first),
        "last": str(data.last),
        "today_rows": data.today_rows,
        "loaded_now": data.loaded,
        "load_seconds": data.load_seconds,
        "command": data.command,
    }
    sections = {
        "loop": lambda: engine.loop_cycles(config),
        "daily": lambda: engine.daily_job(config),
        "cold": lambda: engine.cold_start(config),
        "rankings": lambda: aggregates.rankings(config),
        "payloads": lambda: aggregates.payload_costs(config),
        "when_where": lambda: aggregates.when_and_where(config),
        "http": lambda: http.warm_http(config),
        "compare": lambda: compare.side_by_side(config),
        "profile": lambda: profile.profile(config),
        "load": lambda: http.pollers(config),
        "streams": lambda: streams.streams(config),
        "soak": lambda: soak.soak(config),
    }
    for name, measure in sections.items():
        if name in config.sections:
            results[name] = measure()
    results["seconds"] = time.monotonic() - started
    config.out_dir.mkdir(parents=True, exist_ok=True)
    if config.merge and config.results_path.exists():
        measured = [name for name in sections if name in config.sections]
        results = merged(json.loads(config.results_path.read_text()), results, measured)
    config.results_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return write_report(results, config)


def merged(base: dict[str, Any], later: dict[str, Any], sections: list[str]) -> dict[str, Any]:
    """``base`` (a whole run) with ``sections`` as ``later`` measured them, each marked with
    the later run's command and start (the report names it under the section's heading)."""
    out = dict(base)
    reruns = dict(base.get("reruns", {}))
    for name in sections:
        out[name] = later[name]
        reruns[name] = {"command": later["command"], "started": later["started"]}
    out["reruns"] = reruns
    return out
