"""``make superuser``: an admin account, unattended from the environment or in a terminal."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

VARIABLES = ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "DJANGO_SUPERUSER_EMAIL")


class Command(BaseCommand):
    help = (
        "Create a superuser: from DJANGO_SUPERUSER_USERNAME, _PASSWORD and _EMAIL when set "
        "(in the environment or .env; nothing to do if that user exists), else interactively "
        "in a terminal."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip()
        if username:
            self._from_environment(username)
        elif sys.stdin.isatty():
            call_command("createsuperuser", interactive=True)
        else:
            raise CommandError(
                "no terminal to ask in: set DJANGO_SUPERUSER_USERNAME, DJANGO_SUPERUSER_PASSWORD "
                "and DJANGO_SUPERUSER_EMAIL (in the environment or .env), or run it in a terminal."
            )

    def _from_environment(self, username: str) -> None:
        user_model = get_user_model()
        if user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
            self.stdout.write(f"Superuser {username!r} exists; unchanged.")
            return
        if not os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            raise CommandError(
                f"DJANGO_SUPERUSER_USERNAME is {username!r}: set DJANGO_SUPERUSER_PASSWORD too."
            )
        call_command("createsuperuser", interactive=False, verbosity=0)
        self.stdout.write(f"Superuser {username!r} created.")
