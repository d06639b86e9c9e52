"""visitors/publishing.py: what a loop cycle writes, and when it may write nothing."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache as django_cache

from visitors import changes, keys, publishing
from visitors.endpoints import SUMMARY, TODAY
from visitors.publishing import CycleFacts, Rewrites

pytestmark = pytest.mark.django_db(databases=["default", "visitors"])

NOW = datetime(2026, 12, 31, 20, 0, tzinfo=ZoneInfo("Asia/Jakarta"))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def facts(count: int) -> CycleFacts:
    return CycleFacts.of(now=NOW, closed={date(2026, 12, 30): 5}, today_count=count)


def test_an_unchanged_cycle_writes_nothing_until_a_third_of_the_ttl_has_passed():
    clock = Clock()
    rewrites = Rewrites(clock=clock)
    assert publishing.publish(facts(7), ttl=30, rewrites=rewrites) is not None
    django_cache.delete_many([TODAY.key, keys.prerendered(TODAY.name)])
    clock.t += 9.9  # under 30 / 3: the same bytes are not written again
    assert publishing.publish(facts(7), ttl=30, rewrites=rewrites) is None
    assert django_cache.get(TODAY.key) is None
    clock.t += 0.2  # past a third of the TTL: everything is written again
    publishing.publish(facts(7), ttl=30, rewrites=rewrites)
    assert django_cache.get(TODAY.key) == 7
    assert django_cache.get(SUMMARY.key)["today"] == 7


def test_a_changed_response_is_written_at_once():
    clock = Clock()
    rewrites = Rewrites(clock=clock)
    publishing.publish(facts(7), ttl=30, rewrites=rewrites)
    first = changes.current()
    clock.t += 0.5
    second = publishing.publish(facts(8), ttl=30, rewrites=rewrites)
    assert second is not None and second.version > first.version
    assert django_cache.get(TODAY.key) == 8
    assert django_cache.get(keys.last_good(TODAY.name))["value"] == 8


def test_without_rewrites_every_publish_writes():
    publishing.publish(facts(7), ttl=30)
    django_cache.delete(TODAY.key)
    publishing.publish(facts(7), ttl=30)
    assert django_cache.get(TODAY.key) == 7
