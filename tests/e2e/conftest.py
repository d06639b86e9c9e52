# The shared browser fixtures (see browser.py), available to every end-to-end test.
from tests.e2e.browser import chromium, open_page  # noqa: F401
