"""The machine and versions every figure is stated with."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def wrk_version() -> str:
    if not shutil.which("wrk"):
        return "- (not installed: a Python HTTP client is used)"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return out.split("Copyright")[0].replace("wrk ", "").strip() or "?"


def describe() -> dict[str, Any]:
    """nproc, CPU, memory, and the versions of everything on the measured path."""
    from django.core.cache import cache
    from django.db import connections

    with connections["visitors"].cursor() as cursor:
        cursor.execute("SELECT VERSION(), @@innodb_buffer_pool_size")
        db_version, pool = cursor.fetchone()
    try:
        redis_version = cache.client.get_client().info("server")["redis_version"]
    except Exception:
        redis_version = "?"
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory": _mem_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": _version("Django"),
        "djangorestframework": _version("djangorestframework"),
        "granian": _version("granian"),
        "mysqlclient": _version("mysqlclient"),
        "redis-py": _version("redis"),
        "mariadb": db_version,
        "innodb_buffer_pool": f"{int(pool) // 1024 // 1024} MiB",
        "redis": redis_version,
        "wrk": wrk_version(),
        "loadavg": " ".join(f"{n:.2f}" for n in os.getloadavg()),
    }
