"""``python -m bench [--smoke] [--out DIR]``: see ``bench.config`` for every option."""

from __future__ import annotations

import sys

from bench.config import parse_args
from bench.runner import run


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    report = run(config)
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
