"""The test's own servers (tests/services.py) leave the machine's servers alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services import OwnMariaDB

pytestmark = pytest.mark.slow


def test_an_own_mariadb_keeps_to_its_own_tmpdir(tmp_path):
    """A starting mariadbd deletes the "#sql*" files in its tmpdir; in /tmp those are the
    on-disk temporary tables of the machine's MariaDB (the bench's GROUP BYs, say)."""
    theirs = Path("/tmp") / f"#sql-temptable-{tmp_path.name}.MAI"
    theirs.write_bytes(b"")
    try:
        server = OwnMariaDB(tmp_path / "own")
        server.start()
        try:
            assert server.ping()
        finally:
            server.kill()
        assert theirs.exists()
    finally:
        theirs.unlink(missing_ok=True)
