"""What a benchmark run measures, and the environment it runs Django and its servers in.

The run owns one MariaDB database (``library_bench``, or ``library_bench_smoke``) and one
Redis database (``/8``, or ``/7``), which it may flush; nothing else is touched.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BENCH_SECRET = "bench-only-secret-key-not-for-production-0123456789"
LEGACY_REPOSITORY = "https://github.com/MPSI-1-DSI-UNAND-2025/lib-unand-dashboard-backend.git"
SECTIONS = (
    "loop",
    "daily",
    "cold",
    "rankings",
    "payloads",
    "when_where",
    "http",
    "compare",
    "profile",
    "load",
    "streams",
    "soak",
)


@dataclass(frozen=True)
class BenchConfig:
    smoke: bool = False
    report_only: bool = False
    merge: bool = False  # write the measured sections into the last run's results
    out_dir: Path = DOCS
    db_host: str = "127.0.0.1"
    db_port: int = 3306
    db_user: str = "root"
    db_password: str = ""
    db_name: str = "library_bench"
    redis_url: str = "redis://127.0.0.1:6379/8"
    rows: int = 10_000_000
    days: int = 1826
    reload: bool = False  # truncate and reload even when the table looks right
    cycles: int = 200  # loop cycles per mode and layer (after warm-up)
    daily_runs: int = 5
    full_scan_runs: int = 3
    wrk_duration: int = 10  # seconds per wrk run
    wrk_runs: int = 3
    connections: int = 32
    load_clients: tuple[int, ...] = (50, 100, 200)
    load_duration: int = 60
    port: int = 18_731
    server_cpu: str = "0"
    client_cpu: str = "1"
    # streams: idle SSE streams held on one streams process (bench/streams.py)
    stream_levels: tuple[int, ...] = (1000, 5000, 10_000, 19_000)
    stream_max_clients: int = 19_500  # STREAM_MAX_CLIENTS for the run
    stream_updates: int = 10  # check-ins (so updates) per level
    stream_update_interval_s: float = 2.0  # between them (the loop runs a cycle a second)
    stream_idle_s: int = 10  # the worker's CPU is read over this long with nothing sent
    stream_wrk_held: int = 5000  # streams held during the /summary wrk runs
    # /summary without streams and with stream_wrk_held, an update a second: this many
    # pairs of wrk runs, alternating which comes first (bench/streams.py summary_cost)
    stream_cost_pairs: int = 5
    prometheus_dir: str = ""  # a fresh directory per run (set by the runner)
    # The old service (bench.legacy): where its repository is (a URL or a local git
    # directory), and the Redis database it gets (its keys share names with ours).
    legacy: bool = True  # build and run the old service (not in a smoke run)
    legacy_repository: str = LEGACY_REPOSITORY
    legacy_redis_url: str = "redis://127.0.0.1:6379/9"
    profile_seconds: int = 10
    soak_seconds: int = 600
    soak_rows: int = 100_000
    soak_insert_rate: float = 2.0  # check-ins per second
    soak_pollers: int = 8
    soak_streams: int = 100
    sections: tuple[str, ...] = field(default=SECTIONS, repr=False)

    @property
    def report_path(self) -> Path:
        return self.out_dir / "BENCHMARKS.md"

    @property
    def results_path(self) -> Path:
        return self.out_dir / ("benchmarks-smoke.json" if self.smoke else "benchmarks.json")

    @property
    def chart_path(self) -> Path:
        return self.out_dir / ("benchmarks-smoke.png" if self.smoke else "benchmarks.png")

    def environment(self) -> dict[str, str]:
        """Variables for Django here and in every server the run starts."""
        return {
            "DJANGO_SETTINGS_MODULE": "library_dashboard.settings",
            "DOTENV_PATH": os.devnull,
            "DEBUG": "false",
            "SECRET_KEY": BENCH_SECRET,
            "DB_HOST": self.db_host,
            "DB_PORT": str(self.db_port),
            "DB_USER": self.db_user,
            "DB_PASSWORD": self.db_password,
            "DB_NAME": self.db_name,
            "REDIS_URL": self.redis_url,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "warning",
            "PYTHONPATH": str(ROOT),
            **({"PROMETHEUS_MULTIPROC_DIR": self.prometheus_dir} if self.prometheus_dir else {}),
        }

    def command(self) -> str:
        """The command line that reproduces this run."""
        return " ".join(["python -m bench", *sys.argv[1:]])


SMOKE = dict(
    smoke=True,
    db_name="library_bench_smoke",
    redis_url="redis://127.0.0.1:6379/7",
    legacy=False,
    profile_seconds=2,
    sections=tuple(s for s in SECTIONS if s != "soak"),  # minutes long: run it on its own
    rows=3000,
    days=1826,
    reload=True,
    cycles=10,
    daily_runs=2,
    full_scan_runs=1,
    wrk_duration=1,
    wrk_runs=1,
    connections=4,
    load_clients=(4, 8),
    load_duration=1,
    stream_levels=(50,),
    stream_updates=2,
    stream_update_interval_s=1.5,
    stream_idle_s=1,
    stream_wrk_held=50,
    stream_cost_pairs=1,
)


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Measure the service; write BENCHMARKS.md + chart."
    )
    parser.add_argument("--smoke", action="store_true", help="tiny table, seconds (CI)")
    parser.add_argument("--out", type=Path, help="report directory (docs/)")
    parser.add_argument("--db-name", help="MariaDB database the run owns")
    parser.add_argument("--redis-url", help="Redis database the run owns (it is flushed)")
    parser.add_argument("--port", type=int, help="the servers' port (18731)")
    parser.add_argument("--wrk-duration", type=int, help="seconds per wrk run (10)")
    parser.add_argument("--soak-seconds", type=int, help="length of the soak section (600)")
    parser.add_argument("--wrk-runs", type=int, help="wrk runs (rounds) per figure (3)")
    parser.add_argument("--rows", type=int, help="rows in visitor_count (10000000)")
    parser.add_argument("--reload", action="store_true", help="truncate and reload the rows")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite BENCHMARKS.md and the chart from the last run's benchmarks.json",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --only: put the measured sections into the last run's benchmarks.json "
        "(each marked as from this later run) instead of replacing it",
    )
    parser.add_argument(
        "--only",
        help=f"comma-separated sections: {','.join(SECTIONS)} (RSS is measured in load)",
    )
    parser.add_argument(
        "--legacy-repo",
        help="the old service's git repository, a URL or a local directory "
        f"(default {LEGACY_REPOSITORY})",
    )
    parser.add_argument(
        "--stream-levels",
        help="comma-separated numbers of streams to hold (1000,5000,10000,19000)",
    )
    args = parser.parse_args(argv)
    config = BenchConfig(**SMOKE) if args.smoke else BenchConfig()
    env = os.environ
    config = replace(
        config,
        db_host=env.get("BENCH_DB_HOST", config.db_host),
        db_port=int(env.get("BENCH_DB_PORT", config.db_port)),
        db_user=env.get("BENCH_DB_USER", config.db_user),
        db_password=env.get("BENCH_DB_PASSWORD", config.db_password),
    )
    overrides: dict[str, object] = {}
    if args.out:
        overrides["out_dir"] = args.out.resolve()
    if args.db_name:
        overrides["db_name"] = args.db_name
    if args.redis_url:
        overrides["redis_url"] = args.redis_url
    if args.port:
        overrides["port"] = args.port
    if args.wrk_duration:
        overrides["wrk_duration"] = args.wrk_duration
    if args.soak_seconds:
        overrides["soak_seconds"] = args.soak_seconds
    if args.wrk_runs:
        overrides["wrk_runs"] = args.wrk_runs
    if args.rows is not None:
        overrides["rows"] = args.rows
    if args.reload:
        overrides["reload"] = True
    if args.report_only:
        overrides["report_only"] = True
    if args.merge:
        overrides["merge"] = True
    if args.legacy_repo:
        overrides["legacy_repository"] = args.legacy_repo
    if args.stream_levels:
        overrides["stream_levels"] = tuple(
            int(n) for n in args.stream_levels.split(",") if n.strip()
        )
    if args.only:
        overrides["sections"] = tuple(s.strip() for s in args.only.split(",") if s.strip())
    return replace(config, **overrides)
