"""visitors/changes.py: the change notices a publisher announces and watchers read."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache as django_cache

from visitors import changes, keys

NOW = datetime(2026, 12, 31, 23, 59, 59, tzinfo=ZoneInfo("Asia/Jakarta"))


def test_a_new_version_only_when_the_responses_change_and_it_only_grows():
    announcer = changes.Announcer()
    first = announcer.announce(etags=["a", "b"], now=NOW)
    assert first is not None and changes.current() == first
    assert announcer.announce(etags=["a", "b"], now=NOW + timedelta(seconds=1)) is None
    # The clock went back (NTP step): the version still grows.
    second = announcer.announce(etags=["a", "c"], now=NOW - timedelta(hours=1))
    assert second is not None and second.version == first.version + 1


def test_a_lost_version_key_is_put_back_by_the_next_unchanged_cycle():
    announcer = changes.Announcer()
    notice = announcer.announce(etags=["a"], now=NOW)
    django_cache.delete(keys.VERSION)  # Redis restarted empty, or flushed
    assert changes.current() is None
    assert announcer.announce(etags=["a"], now=NOW + timedelta(seconds=1)) is None
    assert changes.current() == notice


def test_an_unchanged_cycle_never_overwrites_a_newer_notice_of_another_publisher():
    loop = changes.Announcer()
    loop.announce(etags=["a"], now=NOW)
    daily_job = changes.Announcer()
    newer = daily_job.announce(etags=["b"], now=NOW + timedelta(seconds=2))
    loop.announce(etags=["a"], now=NOW + timedelta(seconds=3))
    assert changes.current() == newer
