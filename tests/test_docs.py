"""The README and .env.example stay true: every variable the service reads is listed, and
every served endpoint has its row in the README's API table."""

import dataclasses
import re
from pathlib import Path

from visitors.conf import VisitorSettings
from visitors.endpoints import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent
READ = re.compile(r"""\b_?env\.\w+\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def variables_read() -> set[str]:
    names: set[str] = set()
    for path in (
        ROOT / "library_dashboard" / "settings.py",
        ROOT / "library_dashboard" / "server.py",
    ):
        names |= set(READ.findall(path.read_text()))
    names.add("DOTENV_PATH")  # read by env.load_dotenv_file before settings
    # VisitorSettings.from_env reads each field from the variable of the same name.
    names |= {spec.name for spec in dataclasses.fields(VisitorSettings)}
    return names


def test_the_scan_finds_the_core_variables():
    assert {"SECRET_KEY", "DB_HOST", "REDIS_URL", "TODAY_COUNT_MODE", "PORT", "HTTP_MEMO_MS"} <= (
        variables_read()
    )


def test_every_variable_is_in_env_example_with_a_comment():
    text = (ROOT / ".env.example").read_text()
    lines = text.splitlines()
    for name in sorted(variables_read()):
        index = next((i for i, line in enumerate(lines) if line.startswith(f"{name}=")), None)
        assert index is not None, f"{name} is missing from .env.example"
        # a comment right above it, or above the group of variables it belongs to
        above = index - 1
        while above >= 0 and re.match(r"^[A-Z][A-Z0-9_]*=", lines[above]):
            above -= 1
        assert above >= 0 and lines[above].startswith("# "), f"{name}: no comment above"


def test_every_variable_is_in_the_readme():
    text = (ROOT / "README.md").read_text()
    missing = [name for name in sorted(variables_read()) if f"`{name}`" not in text]
    assert missing == []


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_catalogued_endpoint_has_a_row_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [e.url_path for e in CATALOGUE if f"\n| `{e.url_path}` |" not in readme]
    assert missing == []
