"""The ceiling: a bare WSGI app returning fixed bytes, on the web server's own options.

``python -m bench.ceiling`` serves it exactly as ``library_dashboard.server web`` serves the
service (same granian options, workers, threads, timeouts), so the gap between the two is
the service's own work per request, not the server's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

BODY = b'{"total":1234,"source":"cache"}'
_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", _HEADERS)
    return [BODY]


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "library_dashboard.settings")
    import django
    from granian import Granian

    from library_dashboard.env import Env
    from library_dashboard.server import options

    django.setup()
    server_options = {**options("web", Env()), "target": "bench.ceiling:app"}
    Granian(**server_options).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
