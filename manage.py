#!/usr/bin/env python
import os
import sys

# Commands Django answers even with bad settings: left to it.
HELP = {"help", "version", "--help", "-h", "--version"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "library_dashboard.settings")
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
        from django.core.management import execute_from_command_line

        if sys.argv[1:2] and sys.argv[1] not in HELP:
            try:  # read and check every variable (library_dashboard/env.py) first
                _ = settings.INSTALLED_APPS
            except ImproperlyConfigured as exc:  # a bad setting: one line, not a traceback
                sys.exit(f"manage.py: not starting: {exc}")
        execute_from_command_line(sys.argv)
    except KeyboardInterrupt:  # Ctrl-C before a command handles it (during start-up): no traceback
        sys.exit(130)


if __name__ == "__main__":
    main()
