"""The web process's WSGI application: pre-rendered answers in front of Django.

``PrerenderedResponses`` (visitors/api/prerendered.py) answers the catalogue's endpoints
from the bytes the sync loop published; everything else goes to Django unchanged.
"""

import os

from django.core.wsgi import get_wsgi_application

from library_dashboard.workers import loaded

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "library_dashboard.settings")
django_application = get_wsgi_application()

from visitors.api.prerendered import PrerenderedResponses  # noqa: E402  (after setup)
from visitors.memory import set_aside_startup_objects  # noqa: E402
from visitors.startup import prepare_web_worker  # noqa: E402

application = PrerenderedResponses(django_application)
prepare_web_worker()
set_aside_startup_objects()  # an outage's collections then scan only what came after
loaded()  # a worker asked to stop while loading stops now (workers.py)
