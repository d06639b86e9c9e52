"""visitors/series.py: complete series from closed days plus today's live count."""

from datetime import date

from visitors import series


def test_weekly_is_seven_days_oldest_first_ending_today_with_zeros():
    today = date(2026, 3, 2)
    closed = {date(2026, 2, 24): 9, date(2026, 2, 28): 4, date(2026, 3, 1): 7}
    assert series.weekly(today=today, closed=closed, today_count=3) == [
        {"date": "2026-02-24", "total": 9},
        {"date": "2026-02-25", "total": 0},
        {"date": "2026-02-26", "total": 0},
        {"date": "2026-02-27", "total": 0},
        {"date": "2026-02-28", "total": 4},
        {"date": "2026-03-01", "total": 7},
        {"date": "2026-03-02", "total": 3},
    ]


def test_today_count_wins_over_a_rollup_entry_for_today():
    today = date(2026, 3, 2)
    values = series.weekly(today=today, closed={today: 100}, today_count=5)
    assert values[-1] == {"date": "2026-03-02", "total": 5}


def test_monthly_crosses_the_year_and_includes_today():
    today = date(2027, 1, 15)
    closed = {
        date(2026, 2, 1): 1,
        date(2026, 1, 31): 50,
        date(2026, 12, 31): 2,
        date(2027, 1, 14): 6,
    }
    months = series.monthly(today=today, closed=closed, today_count=10)
    assert [m["month"] for m in months] == [
        "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07",
        "2026-08", "2026-09", "2026-10", "2026-11", "2026-12", "2027-01",
    ]  # fmt: skip
    assert months[0]["total"] == 1  # January 2026 is outside the window
    assert months[-2]["total"] == 2
    assert months[-1]["total"] == 16
    assert sum(m["total"] for m in months) == 19


def test_yearly_is_five_years_with_zeros_and_today():
    today = date(2026, 1, 1)
    closed = {date(2022, 12, 31): 1, date(2021, 12, 31): 99, date(2025, 6, 1): 5}
    assert series.yearly(today=today, closed=closed, today_count=2) == [
        {"year": 2022, "total": 1},
        {"year": 2023, "total": 0},
        {"year": 2024, "total": 0},
        {"year": 2025, "total": 5},
        {"year": 2026, "total": 2},
    ]


def test_history_starts_on_the_first_of_january_of_the_oldest_year():
    assert series.history_start(date(2026, 11, 29)) == date(2022, 1, 1)
    assert series.history_start(date(2024, 2, 29)) == date(2020, 1, 1)


def test_week_days_across_a_leap_day():
    assert series.week_days(date(2024, 3, 3))[0] == date(2024, 2, 26)
    assert date(2024, 2, 29) in series.week_days(date(2024, 3, 3))
