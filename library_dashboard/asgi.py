"""The streams process's ASGI application: the Server-Sent-Events streams (visitors/streams.py).

Everything else is served by the web process (library_dashboard/wsgi.py).
"""

import os

import django

from library_dashboard.workers import loaded

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "library_dashboard.settings")
django.setup()

from visitors.streams import StreamsApp  # noqa: E402  (after setup)

application = StreamsApp()
loaded()  # a worker asked to stop while loading stops now (workers.py)
