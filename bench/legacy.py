"""The old Fastify service, built from its public repository for the side-by-side runs.

Nothing of its code lives in this repository: the run checks out ``LEGACY_COMMIT`` (the
commit its first README describes) into a cache directory outside the repository, installs
its locked packages with ``npm ci`` (which also compiles its TypeScript), and starts
``node dist/index.js`` as its README says. Its listen address is hard-coded to ``0.0.0.0``;
a small preload written here (``--import``) rewrites that to loopback, so the bench never
opens a port to the network. It gets its own Redis database (its keys share names with
ours) and reads the same MariaDB table.

``prepare`` returns a reason instead of raising when the old service cannot be built here
(no Node.js, no network, no git): the comparison is then reported as not run, and the
bare-WSGI ceiling remains the second yardstick.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.config import BenchConfig

LEGACY_COMMIT = "2b6b78bf700527df0168f179d3989cf937bc0b32"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "library-dashboard-bench"

# Rewrites the hard-coded 0.0.0.0 of its fastify.listen() to loopback (our code, not theirs).
_LOOPBACK_PRELOAD = """\
import net from 'node:net';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args[0] && typeof args[0] === 'object' && args[0].host === '0.0.0.0') {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};
"""


# Its MySQL client replaces an empty MYSQL_PASSWORD with a default ('mpsi'), so it cannot use
# the bench's password-less root: it gets a read-only account of its own, as its README
# recommends.
ACCOUNT = ("legacy_bench", "legacy-bench-read-only")


def grant_read_only(config: BenchConfig) -> None:
    """The old service's account: SELECT on the bench database only."""
    from django.db import connections

    user, password = ACCOUNT
    with connections["visitors"].cursor() as cursor:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute(
                f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY %s", [password]
            )
            cursor.execute(f"GRANT SELECT ON `{config.db_name}`.* TO '{user}'@'{host}'")


@dataclass(frozen=True)
class Legacy:
    directory: Path

    @property
    def preload(self) -> Path:
        return self.directory / "bench-loopback.mjs"

    def argv(self, cpus: str | None) -> list[str]:
        pin = ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []
        node = shutil.which("node") or "node"
        return [*pin, node, "--import", str(self.preload), str(self.directory / "dist/index.js")]

    def environment(self, config: BenchConfig, port: int) -> dict[str, str]:
        """Its own variables (its .env.example), pointed at the bench's table."""
        return {
            "PORT": str(port),
            "NODE_ENV": "production",
            "MYSQL_HOST": config.db_host,
            "MYSQL_PORT": str(config.db_port),
            "MYSQL_USER": ACCOUNT[0],
            "MYSQL_PASSWORD": ACCOUNT[1],
            "MYSQL_DATABASE": config.db_name,
            "REDIS_URL": config.legacy_redis_url,
            "TODAY_COUNT_MODE": "direct",
        }


def _run(argv: list[str], cwd: Path | None = None) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True, timeout=600)


def _checkout(source: str, target: Path) -> None:
    """``source``: a git directory or URL holding ``LEGACY_COMMIT``."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if Path(source).exists():
        archive = subprocess.run(
            ["git", "-C", source, "archive", LEGACY_COMMIT],
            check=True,
            capture_output=True,
            timeout=120,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        return
    clone = target.with_name(target.name + ".git")
    shutil.rmtree(clone, ignore_errors=True)
    _run(["git", "clone", "--quiet", "--bare", source, str(clone)])
    try:
        _checkout(str(clone), target)
    finally:
        shutil.rmtree(clone, ignore_errors=True)


def prepare(config: BenchConfig) -> Legacy | str:
    """The built old service, or why it could not be built on this machine."""
    from django.db import DatabaseError

    for tool in ("node", "npm", "git"):
        if not shutil.which(tool):
            return f"`{tool}` is not installed"
    directory = CACHE / f"legacy-{LEGACY_COMMIT[:7]}"
    legacy = Legacy(directory)
    try:
        if not (directory / "dist/index.js").exists():
            _checkout(config.legacy_repository, directory)
            # Its package-lock.json pins every package; `prepare` runs `tsc` into dist/.
            _run(["npm", "ci", "--no-audit", "--no-fund"], cwd=directory)
        legacy.preload.write_text(_LOOPBACK_PRELOAD)
        grant_read_only(config)
    except (OSError, subprocess.SubprocessError, DatabaseError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return f"building {LEGACY_COMMIT[:7]} failed: {str(detail).strip()[-300:]}"
    return legacy
