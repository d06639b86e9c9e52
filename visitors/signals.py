"""Signal receivers: rows created through Django feed the ``incremental`` today counter;
faculty names saved or deleted tell the sync loop to reload them; ``migrate`` creates the
database cache's table (so it is the only database step)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management import call_command
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from visitors import faculties
from visitors.clock import local_date
from visitors.conf import visitor_settings
from visitors.models import Faculty, Visitor
from visitors.today import record_checkins

logger = logging.getLogger(__name__)


@receiver(post_save, sender=Visitor, dispatch_uid="visitors.record_checkin")
def record_created_checkin(
    sender: type[Visitor], instance: Visitor, created: bool, **kwargs: Any
) -> None:
    if not created or visitor_settings().TODAY_COUNT_MODE != "incremental":
        return
    checkin = instance.checkin_date
    if checkin is None:
        return
    day = checkin.date() if timezone.is_naive(checkin) else local_date(checkin)
    if day != local_date():
        return

    def record() -> None:
        try:
            record_checkins(1)
        except Exception:  # the row is saved; the next reconcile counts it anyway
            logger.warning("could not record check-in %s in the incremental counter", instance.pk)

    # Only once the row is committed: a rolled-back insert must not be counted.
    transaction.on_commit(record, using=kwargs.get("using"))


@receiver(post_save, sender=Faculty, dispatch_uid="visitors.faculty_saved")
@receiver(post_delete, sender=Faculty, dispatch_uid="visitors.faculty_deleted")
def faculty_changed(sender: type[Faculty], **kwargs: Any) -> None:
    """A name edited in the admin shows in the rankings at the loop's next cycle."""
    transaction.on_commit(faculties.touch, using=kwargs.get("using"))


def create_cache_table(sender: Any, using: str, verbosity: int = 1, **kwargs: Any) -> None:
    """post_migrate (connected in apps.py, once per ``migrate``): ``createcachetable`` for
    a database cache in this database (the embedded default, no REDIS_URL); it does nothing
    for Redis, or when the table exists."""
    call_command("createcachetable", database=using, verbosity=verbosity)
