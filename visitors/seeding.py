"""Synthetic check-ins for ``visitor_count``: demo data, tests and benchmarks.

Rows look like a university library's gate log: open 07:30-21:00 on weekdays and shorter on
weekends, busy in term and quiet in the holidays, peaks late morning and early afternoon,
a 24-hour study room that sees a trickle at night, a few institutions and rooms, a pool of
members who come back, and some NULLs (guests, a broken room reader).

Rows are generated day by day, oldest first, each day's times sorted, so ``visitor_id``
grows with ``checkin_date`` as it does in the real table. They are written in chunks with
``executemany`` (mysqlclient turns it into multi-row ``INSERT ... VALUES (...), (...)``),
one transaction per chunk. Nothing is ever dated after ``now``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from django.db import connections, transaction
from tqdm import tqdm

from visitors.legacy_table import ensure_table, table_exists
from visitors.routers import VISITORS_DB

Row = tuple[str | None, str | None, str | None, str | None, str]
ExistingRows = Literal["refuse", "append", "truncate"]

INSERT_SQL = (
    "INSERT INTO visitor_count (member_id, member_name, institution, room_code, checkin_date) "
    "VALUES (%s, %s, %s, %s, %s)"
)
CHUNK_ROWS = 50_000
# mysqlclient packs executemany() rows into statements of at most this many bytes; its
# default (64 KiB, ~700 rows) means many more round trips than needed.
MYSQL_STATEMENT_BYTES = 4 * 1024 * 1024

DEMO_ROWS = 20_000
DEMO_SEED = 2024
DEMO_MIN_TODAY = 25

# (code, name, weight): member ids start with the code, so prefix search finds a faculty.
INSTITUTIONS = [
    ("ENG", "Faculty of Engineering", 26),
    ("MED", "Faculty of Medicine", 18),
    ("ECO", "Faculty of Economics and Business", 17),
    ("LAW", "Faculty of Law", 10),
    ("SCI", "Faculty of Mathematics and Natural Sciences", 14),
    ("HUM", "Faculty of Humanities", 9),
    ("GRD", "Graduate School", 6),
]
ROOMS = [("MAIN-HALL", 40), ("READ-1", 20), ("READ-2", 15), ("DISC-A", 8), ("DISC-B", 6)]
ROOMS += [("MEDIA-LAB", 5), ("ARCHIVE", 2)]
NIGHT_ROOM = "STUDY-24H"
FIRST_NAMES = [
    "Adi",
    "Ayu",
    "Bima",
    "Budi",
    "Citra",
    "Dewi",
    "Dian",
    "Eka",
    "Fajar",
    "Farah",
    "Gilang",
    "Hana",
    "Indra",
    "Intan",
    "Joko",
    "Kartika",
    "Lestari",
    "Maya",
    "Nanda",
    "Nur",
    "Putri",
    "Rangga",
    "Rina",
    "Rizky",
    "Sari",
    "Siti",
    "Taufik",
    "Tia",
    "Wahyu",
    "Wulan",
    "Yoga",
    "Yusuf",
]
LAST_NAMES = [
    "Pratama",
    "Saputra",
    "Wijaya",
    "Santoso",
    "Hidayat",
    "Kusuma",
    "Nugroho",
    "Lestari",
    "Setiawan",
    "Putri",
    "Rahman",
    "Siregar",
    "Nasution",
    "Harahap",
    "Simanjuntak",
    "Wibowo",
    "Gunawan",
    "Susanto",
    "Halim",
    "Tanjung",
    "Sembiring",
]

# Relative busyness per half hour of an open day, 07:30 to 21:00 (27 slots).
_WEEKDAY_PROFILE = [2, 4, 6, 8, 10, 11, 11, 10, 7, 8, 10, 11, 10, 9, 8, 7, 6, 5, 4, 4, 5, 5]
_WEEKDAY_PROFILE += [4, 3, 2, 1, 1]
# How busy each weekday is (Monday first).
_WEEKDAY_FACTOR = [1.0, 1.0, 0.97, 0.95, 0.8, 0.4, 0.22]
# Opening hours per weekday as (first half-hour slot, end slot), slot n = 00:00 + 30 min * n.
_OPEN_SLOTS = [(15, 42)] * 5 + [(18, 34), (20, 32)]
_NIGHT_WEIGHT = 0.25  # per closed half hour: the 24-hour study room


@dataclass(frozen=True)
class SeedResult:
    rows: int
    first: datetime | None
    last: datetime | None
    seconds: float


class TableNotEmpty(Exception):
    """The table has rows and the caller chose neither append nor truncate."""


def term_factor(day: date) -> float:
    """How busy the academic calendar makes a day (1.0 = ordinary teaching week)."""
    if (day.month == 12 and day.day >= 22) or (day.month == 1 and day.day <= 2):
        return 0.08  # year-end closure: only the 24-hour room
    month_factor = {1: 0.45, 2: 0.9, 3: 1.0, 4: 1.0, 5: 1.1, 6: 1.3, 7: 0.35, 8: 0.6}
    month_factor |= {9: 1.0, 10: 1.0, 11: 1.1, 12: 1.25}
    factor = month_factor[day.month]
    if day.month in (6, 12) and day.day > 20:
        factor *= 0.6  # exams are over
    return factor


def day_slot_weights(day: date) -> list[float]:
    """Relative check-ins per half-hour slot (48 of them) on ``day``."""
    start, end = _OPEN_SLOTS[day.weekday()]
    profile = _WEEKDAY_PROFILE[: end - start]
    open_factor = _WEEKDAY_FACTOR[day.weekday()] * term_factor(day)
    weights = [_NIGHT_WEIGHT] * 48
    for offset, weight in enumerate(profile):
        weights[start + offset] = _NIGHT_WEIGHT + weight * open_factor
    return weights


def _split(total: int, weights: list[float], rng: random.Random) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder, random ties)."""
    weight_sum = sum(weights)
    if total <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    shares = [total * weight / weight_sum for weight in weights]
    counts = [math.floor(share) for share in shares]
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], rng.random()))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


@dataclass(frozen=True)
class Population:
    ids: list[str]
    names: list[str]
    institutions: list[str]

    @classmethod
    def build(cls, size: int, rng: random.Random) -> Population:
        codes = [code for code, _, _ in INSTITUTIONS]
        weights = [weight for _, _, weight in INSTITUTIONS]
        full_names = {code: name for code, name, _ in INSTITUTIONS}
        ids, names, institutions = [], [], []
        for n, code in enumerate(rng.choices(codes, weights=weights, k=size)):
            ids.append(f"{code}{rng.randint(15, 26):02d}{n:06d}")
            names.append(f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}")
            institutions.append(full_names[code])
        return cls(ids, names, institutions)


def _day_rows(
    day: date, count: int, population: Population, rng: random.Random, limit: datetime | None
) -> list[Row]:
    """``count`` check-ins on ``day`` in time order, none after ``limit``."""
    weights = day_slot_weights(day)
    last_second = 86_399
    if limit is not None:
        last_second = limit.hour * 3600 + limit.minute * 60 + limit.second
        weights = [w if slot * 1800 <= last_second else 0.0 for slot, w in enumerate(weights)]
    slots = rng.choices(range(48), weights=weights, k=count)
    seconds = sorted(
        slot * 1800 + int(rng.random() * min(1800, last_second + 1 - slot * 1800)) for slot in slots
    )
    room_names = [name for name, _ in ROOMS]
    room_weights = [weight for _, weight in ROOMS]
    rooms = rng.choices(room_names, weights=room_weights, k=count)
    return [
        _row(day, second, room, population, rng)
        for second, room in zip(seconds, rooms, strict=True)
    ]


def _row(
    day: date, second: int, room: str | None, population: Population, rng: random.Random
) -> Row:
    """One check-in at ``second`` of ``day`` in ``room``: a member of ``population`` (or a
    guest), the 24-hour room outside opening hours, now and then no room at all."""
    start, end = _OPEN_SLOTS[day.weekday()]
    # Regulars come often: skew the pick towards the start of the pool.
    member = int(len(population.ids) * rng.random() ** 2)
    luck = rng.random()
    if luck < 0.012:  # a guest: no card, no institution
        member_id = member_name = institution = None
    else:
        member_id = population.ids[member]
        member_name = population.names[member]
        institution = population.institutions[member] if luck > 0.016 else None
    if not start * 1800 <= second < end * 1800:
        room = NIGHT_ROOM
    elif luck > 0.997:
        room = None  # the room reader was down
    hours, rest = divmod(second, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        member_id,
        member_name,
        institution,
        room,
        f"{day.isoformat()} {hours:02d}:{minutes:02d}:{secs:02d}",
    )


def checkin(now: datetime, population: Population, rng: random.Random) -> Row:
    """One realistic check-in at ``now`` (naive, library-local)."""
    room = rng.choices([name for name, _ in ROOMS], weights=[w for _, w in ROOMS])[0]
    second = now.hour * 3600 + now.minute * 60 + now.second
    return _row(now.date(), second, room, population, rng)


def generate_rows(
    *,
    rows: int,
    days: int,
    seed: int,
    now: datetime,
    min_today: int = 0,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[list[Row]]:
    """``rows`` synthetic check-ins over the ``days`` local days ending at ``now`` (naive,
    library-local), in chunks of whole days, oldest first.

    ``min_today`` rows at least fall on today (taken from the busiest days), so a small demo
    set still shows a live count early in the morning.
    """
    if rows < 0 or days < 1:
        raise ValueError("rows must be >= 0 and days >= 1")
    now = now.replace(microsecond=0, tzinfo=None)
    rng = random.Random(seed)
    population = Population.build(min(max(rows // 40, 200), 200_000), rng)
    first_day = now.date() - timedelta(days=days - 1)
    all_days = [first_day + timedelta(days=n) for n in range(days)]
    today_elapsed = _elapsed_share(now)
    day_weights = [sum(day_slot_weights(day)) * rng.lognormvariate(0, 0.12) for day in all_days]
    day_weights[-1] *= today_elapsed
    counts = _split(rows, day_weights, rng)
    for _ in range(min(min_today, rows) - counts[-1] if len(counts) > 1 else 0):
        counts[max(range(len(counts) - 1), key=counts.__getitem__)] -= 1
        counts[-1] += 1
    chunk: list[Row] = []
    for day, count in zip(all_days, counts, strict=True):
        if count:
            limit = now if day == now.date() else None
            chunk.extend(_day_rows(day, count, population, rng, limit))
        if len(chunk) >= chunk_rows:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _elapsed_share(now: datetime) -> float:
    """Share of today's expected check-ins that have happened by ``now``."""
    weights = day_slot_weights(now.date())
    second = now.hour * 3600 + now.minute * 60 + now.second
    done = sum(weights[: second // 1800]) + weights[second // 1800] * (second % 1800) / 1800
    return done / sum(weights)


def has_rows(using: str = VISITORS_DB) -> bool:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1 FROM visitor_count LIMIT 1")
        return cursor.fetchone() is not None


def truncate(using: str = VISITORS_DB) -> None:
    """Empty the table and restart its ids at 1."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute("TRUNCATE TABLE visitor_count")
        else:
            cursor.execute("DELETE FROM visitor_count")
            cursor.execute("DELETE FROM sqlite_sequence WHERE name = 'visitor_count'")


def insert_rows(chunks: Iterator[list[Row]], *, using: str, total: int, progress: bool) -> int:
    """Write the chunks, one transaction each; returns the number of rows written."""
    connection = connections[using]
    written = 0
    with tqdm(total=total, unit="row", unit_scale=True, disable=not progress) as bar:
        for chunk in chunks:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                if connection.vendor == "mysql":
                    cursor.cursor.max_stmt_length = MYSQL_STATEMENT_BYTES
                cursor.executemany(INSERT_SQL, chunk)
            written += len(chunk)
            bar.update(len(chunk))
    return written


def describe_table(using: str) -> str:
    """Where the rows go, as an operator would name it: the table, database and server (or
    SQLite file) behind the alias, never the alias."""
    settings = connections[using].settings_dict
    if connections[using].vendor == "sqlite":
        return f"table visitor_count in the SQLite file {settings['NAME']}"
    host = settings.get("HOST") or "localhost"
    port = settings.get("PORT") or 3306
    return f"table visitor_count of database {settings['NAME']!r} on {host}:{port}"


def seed_visitors(
    *,
    rows: int,
    days: int,
    seed: int,
    now: datetime,
    using: str = VISITORS_DB,
    existing: ExistingRows = "refuse",
    min_today: int = 0,
    progress: bool = False,
) -> SeedResult:
    """Create the table if absent and load synthetic rows ending at ``now``.

    Raises ``TableNotEmpty`` when the table has rows and ``existing`` is ``"refuse"``.
    """
    if not table_exists(using):
        ensure_table(using)
    elif has_rows(using):
        if existing == "refuse":
            raise TableNotEmpty("visitor_count already has rows")
        if existing == "truncate":
            truncate(using)
    started = time.monotonic()
    first: datetime | None = None
    last: datetime | None = None

    def tracked() -> Iterator[list[Row]]:
        nonlocal first, last
        for chunk in generate_rows(rows=rows, days=days, seed=seed, now=now, min_today=min_today):
            if first is None:
                first = datetime.fromisoformat(chunk[0][4])
            last = datetime.fromisoformat(chunk[-1][4])
            yield chunk

    written = insert_rows(tracked(), using=using, total=rows, progress=progress)
    return SeedResult(rows=written, first=first, last=last, seconds=time.monotonic() - started)


def demo_days(today: date) -> int:
    """Days from 1 January four years ago to today: five calendar years of data."""
    return (today - date(today.year - 4, 1, 1)).days + 1
