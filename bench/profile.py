"""Where a warm request's time goes: py-spy samples the web worker under wrk load.

The new contender of ``bench.compare`` (one worker on the server core, the loop beside it)
serves warm ``/summary`` to wrk while ``py-spy record`` samples every process of the server
while it holds the GIL: the share of wall time Python runs, split by layer, and the
functions most often on top of the stack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from bench.compare import ALL_PATHS, Contender, running
from bench.config import BenchConfig
from bench.http import children, load

RATE = 200  # samples per second

# Where a frame belongs, by its file: the first rule that matches a stack, innermost first.
LAYERS = (
    ("pre-rendered answers (visitors/api/prerendered.py, live.py)", ("prerendered.py", "live.py")),
    ("Prometheus tally (visitors/prometheus.py)", ("prometheus.py",)),
    ("Django", ("/django/",)),
    ("granian's WSGI glue (granian/wsgi.py)", ("granian/wsgi.py",)),
    ("Python standard library", ("/lib/python3",)),
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def layer_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for layer, markers in LAYERS:
            if any(marker in frame for marker in markers):
                return layer
    return "other"


def summarise(raw: str) -> dict[str, Any]:
    """py-spy's raw format: one ``frame;frame;...;frame count`` line per distinct stack."""
    layers: Counter[str] = Counter()
    tops: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        stack = stack_text.split(";")[1:]  # the first frame names the process/thread
        if not stack:  # a thread with no Python frame (granian's own)
            continue
        total += count
        layers[layer_of(stack)] += count
        if stack:
            tops[stack[-1]] += count
    share = {name: round(100 * n / total, 1) for name, n in layers.most_common()} if total else {}
    top = [(frame, round(100 * n / total, 1)) for frame, n in tops.most_common(12)] if total else []
    return {"samples": total, "layers": share, "top": top}


def profile(config: BenchConfig) -> dict[str, Any]:
    beside = Path(sys.executable).parent / "py-spy"  # the virtualenv's, when not on PATH
    spy = shutil.which("py-spy") or (str(beside) if beside.exists() else None)
    if not spy:
        return {"skipped": "py-spy is not installed (pip install -e '.[dev]')"}
    contender = Contender("new", config.server_cpu)
    url = f"http://127.0.0.1:{config.port}{ALL_PATHS['summary']}"
    with running(contender, config, None) as processes, tempfile.TemporaryDirectory() as tmp:
        pid = processes[-1].pid
        out = Path(tmp) / "profile.txt"
        loaded: list[dict[str, Any]] = []
        options = {"connections": config.connections, "cpus": config.client_cpu}
        seconds = config.profile_seconds + 2
        loader = threading.Thread(
            target=lambda: loaded.append(load(url, duration=seconds, **options))
        )
        pids = [pid, *children(pid)]
        cpu_before = sum(cpu_seconds(p) for p in pids)
        loader.start()
        # --gil: only the thread holding the GIL, i.e. where Python's time goes; the rest of
        # the wall time the worker spends in granian's Rust side, the kernel, or waiting.
        argv = [spy, "record", "--pid", str(pid), "--subprocesses", "--gil", "--rate", str(RATE)]
        argv += ["--format", "raw", "--duration", str(config.profile_seconds), "-o", str(out)]
        done = subprocess.run(argv, capture_output=True, text=True)
        loader.join()
        cpu = sum(cpu_seconds(p) for p in pids) - cpu_before
        served = loaded[0]["requests"] if loaded else 0
        if done.returncode != 0 or not out.exists():
            return {"skipped": f"py-spy failed: {done.stderr.strip()[-300:]}"}
        result = summarise(out.read_text())
    # The server's CPU (all its processes) per request over the whole wrk run.
    result["cpu_us_per_request"] = round(1e6 * cpu / served, 1) if served else None
    result["rps"] = loaded[0]["rps"] if loaded else None
    result["gil_share"] = round(100 * result["samples"] / (RATE * config.profile_seconds), 1)
    result["command"] = f"py-spy record --pid <web server> --subprocesses --gil ({url})"
    return result
