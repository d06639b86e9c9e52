"""Response shapes, for the OpenAPI schema (views return the cached payloads as they are)."""

from rest_framework import serializers

SOURCE_HELP = (
    "'cache' when served from Redis, 'db' when computed from the database by this process "
    "(the cache was cold or unreachable)."
)
STALE_HELP = (
    "Present (true) only while the database is unreachable, or, for the rankings of members, "
    "while the cache is: the body is the last good value."
)
AS_OF_HELP = "With stale: when the served values were read from the database (ISO 8601)."


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for humans.")
    code = serializers.CharField(
        help_text="Machine-readable: bad_request, method_not_allowed, not_acceptable, "
        "throttled, database_unavailable, not_found, ..."
    )


class BadRequestSerializer(serializers.Serializer):
    """Django's own 400, before any view: a bad Host or too many query parameters."""

    detail = serializers.CharField(help_text="What went wrong, for humans.")
    code = serializers.ChoiceField(choices=["bad_request"])


class StaleMixin(serializers.Serializer):
    stale = serializers.BooleanField(required=False, help_text=STALE_HELP)
    as_of = serializers.DateTimeField(required=False, help_text=AS_OF_HELP)


class DayTotalSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="Library-local calendar day, YYYY-MM-DD.")
    total = serializers.IntegerField(min_value=0)


class MonthTotalSerializer(serializers.Serializer):
    month = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="YYYY-MM.")
    total = serializers.IntegerField(min_value=0)


class YearTotalSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    total = serializers.IntegerField(min_value=0)


class TodaySerializer(StaleMixin):
    total = serializers.IntegerField(min_value=0, help_text="Check-ins since local midnight.")
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class WeeklySerializer(StaleMixin):
    days = DayTotalSerializer(many=True, help_text="The last 7 days, oldest first, today last.")
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class MonthlySerializer(StaleMixin):
    months = MonthTotalSerializer(
        many=True, help_text="The last 12 months, oldest first, this month last."
    )
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class YearlySerializer(StaleMixin):
    years = YearTotalSerializer(
        many=True, help_text="The last 5 years, oldest first, this year last."
    )
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class SummarySerializer(StaleMixin):
    today = serializers.IntegerField(min_value=0)
    weekly = DayTotalSerializer(many=True)
    monthly = MonthTotalSerializer(many=True)
    yearly = YearTotalSerializer(many=True)
    source = serializers.CharField(
        help_text="Per part, e.g. 'today:cache,weekly:cache,monthly:db,yearly:cache'."
    )


MEMBER_ID_HELP = (
    "The member's id; null for anonymous callers unless RANKINGS_PUBLIC_MEMBERS=true "
    "(staff signed in to the admin always get it)."
)
MEMBER_NAME_HELP = (
    "The name on the member's latest check-in; for anonymous callers, unless "
    "RANKINGS_PUBLIC_MEMBERS=true, only its initials ('A. S.')."
)
INSTITUTION_HELP = "The institution (faculty) code as the gate system writes it; null: none."
FAKULTAS_HELP = "The faculty's name from the faculty mapping; null when the code has none."
GENERATED_AT_HELP = "When today's part of the ranking last changed (ISO 8601, local)."
RANKING_ORDER = (
    "Top RANKING_SIZE, by total descending; ties by member_id ascending (members) or by "
    "institution code ascending, the null group last (faculties)."
)


class MemberRankSerializer(serializers.Serializer):
    member_id = serializers.CharField(allow_null=True, help_text=MEMBER_ID_HELP)
    member_name = serializers.CharField(allow_null=True, help_text=MEMBER_NAME_HELP)
    institution = serializers.CharField(allow_null=True, help_text=INSTITUTION_HELP)
    fakultas = serializers.CharField(allow_null=True, help_text=FAKULTAS_HELP)
    total = serializers.IntegerField(min_value=1, help_text="Check-ins in the period, today's too.")


class FacultyRankSerializer(serializers.Serializer):
    institution = serializers.CharField(allow_null=True, help_text=INSTITUTION_HELP)
    fakultas = serializers.CharField(allow_null=True, help_text=FAKULTAS_HELP)
    total = serializers.IntegerField(min_value=1, help_text="Check-ins in the period, today's too.")


class MonthlyTopSerializer(StaleMixin):
    month = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="This month (local), YYYY-MM.")
    visitors = MemberRankSerializer(many=True, help_text=RANKING_ORDER)
    generated_at = serializers.DateTimeField(help_text=GENERATED_AT_HELP)
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class YearlyTopSerializer(StaleMixin):
    year = serializers.IntegerField(help_text="This year (local).")
    visitors = MemberRankSerializer(many=True, help_text=RANKING_ORDER)
    generated_at = serializers.DateTimeField(help_text=GENERATED_AT_HELP)
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class FacultiesMonthlyTopSerializer(StaleMixin):
    month = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="This month (local), YYYY-MM.")
    faculties = FacultyRankSerializer(many=True, help_text=RANKING_ORDER)
    generated_at = serializers.DateTimeField(help_text=GENERATED_AT_HELP)
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class FacultiesYearlyTopSerializer(StaleMixin):
    year = serializers.IntegerField(help_text="This year (local).")
    faculties = FacultyRankSerializer(many=True, help_text=RANKING_ORDER)
    generated_at = serializers.DateTimeField(help_text=GENERATED_AT_HELP)
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class TodayStreamInitSerializer(serializers.Serializer):
    total = serializers.IntegerField(min_value=0, help_text="Check-ins since local midnight.")
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)
    at = serializers.DateTimeField(help_text="When this event was sent (ISO 8601, local).")


class TodayStreamUpdateSerializer(serializers.Serializer):
    total = serializers.IntegerField(min_value=0, help_text="Check-ins since local midnight.")
    generated_at = serializers.DateTimeField(
        help_text="When the count was read from the database (ISO 8601, local)."
    )


# --- when and where -----------------------------------------------------------------------
class HourSerializer(serializers.Serializer):
    hour = serializers.IntegerField(min_value=0, max_value=23, help_text="Local hour, 0-23.")
    total = serializers.IntegerField(min_value=0, help_text="Today's check-ins in this hour.")
    last_week = serializers.IntegerField(
        min_value=0, help_text="Check-ins in this hour on the same weekday last week."
    )


class PeakHourSerializer(serializers.Serializer):
    hour = serializers.IntegerField(min_value=0, max_value=23)
    total = serializers.IntegerField(min_value=0)


class TodayHourlySerializer(StaleMixin):
    date = serializers.DateField(help_text="Today, library-local.")
    last_week_date = serializers.DateField(help_text="The same weekday last week.")
    current_hour = serializers.IntegerField(
        min_value=0, max_value=23, help_text="The local hour now; its total is live."
    )
    hours = HourSerializer(
        many=True,
        help_text="The 24 local wall-clock hours of today, 0-23 (on a DST day, a skipped "
        "hour stays empty and a repeated hour holds both).",
    )
    peak = PeakHourSerializer(
        allow_null=True,
        help_text="The busiest hour so far (the earliest of equal ones); null before the "
        "first check-in of the day.",
    )
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class ComparedDaySerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The earlier day (the same weekday).")
    total = serializers.IntegerField(
        min_value=0, help_text="Its check-ins before the same local time, to the minute."
    )
    difference = serializers.IntegerField(help_text="Today's count minus total.")
    percent = serializers.FloatField(
        allow_null=True, help_text="difference / total x 100, one decimal; null when total is 0."
    )


class TodayCompareSerializer(StaleMixin):
    date = serializers.DateField(help_text="Today, library-local.")
    time = serializers.RegexField(r"^\d{2}:\d{2}$", help_text="The local time compared, HH:MM.")
    today = serializers.IntegerField(min_value=0, help_text="Today's count (as /today).")
    last_week = ComparedDaySerializer(help_text="The same weekday 7 days ago.")
    last_year = ComparedDaySerializer(help_text="The same weekday 364 days (52 weeks) ago.")
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class RoomTotalSerializer(serializers.Serializer):
    room_code = serializers.CharField(
        allow_null=True, help_text="The room; null for check-ins without one."
    )
    total = serializers.IntegerField(min_value=1)


ROOMS_HELP = "By total, largest first; equal totals by room_code, the null group last."


class RoomsTodaySerializer(StaleMixin):
    date = serializers.DateField(help_text="Today, library-local.")
    rooms = RoomTotalSerializer(many=True, help_text=ROOMS_HELP)
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class RoomsMonthlySerializer(StaleMixin):
    month = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="This month, YYYY-MM.")
    rooms = RoomTotalSerializer(many=True, help_text=ROOMS_HELP)
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class WeekdayHoursSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(
        min_value=1, max_value=7, help_text="ISO weekday: 1 Monday .. 7 Sunday."
    )
    hours = serializers.ListField(
        child=serializers.FloatField(min_value=0),
        min_length=24,
        max_length=24,
        help_text="Average check-ins in each local hour 0-23, two decimals.",
    )


class HeatmapSerializer(StaleMixin):
    weeks = serializers.IntegerField(min_value=1, help_text="HEATMAP_WEEKS: weeks averaged.")
    # "from" is a Python keyword: the class namespace takes it as a string.
    locals()["from"] = serializers.DateField(help_text="The first day averaged: a Monday.")
    to = serializers.DateField(help_text="The last day averaged: last Sunday.")
    days = WeekdayHoursSerializer(many=True, help_text="Monday first.")
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class ReportRowSerializer(serializers.Serializer):
    period = serializers.CharField(
        help_text="YYYY-MM-DD (day), YYYY-Www (ISO week), YYYY-MM (month) or YYYY (year)."
    )
    start = serializers.DateField(help_text="The period's first day inside the range.")
    end = serializers.DateField(help_text="The period's last day inside the range.")
    total = serializers.IntegerField(min_value=0)


class ReportSerializer(serializers.Serializer):
    locals()["from"] = serializers.DateField(help_text="The first day, as asked.")
    to = serializers.DateField(help_text="The last day, as asked (inclusive).")
    by = serializers.ChoiceField(choices=["day", "week", "month", "year"])
    total = serializers.IntegerField(min_value=0, help_text="The whole range.")
    rows = ReportRowSerializer(many=True, help_text="One per period, oldest first.")
    stale = serializers.BooleanField(
        required=False,
        help_text="Present (true) only while the database is unreachable: today's count is "
        "its last good value.",
    )
    as_of = serializers.DateTimeField(required=False, help_text=AS_OF_HELP)


class ReportErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What is wrong with the parameter.")
    code = serializers.ChoiceField(choices=["invalid_parameter"])
    parameter = serializers.ChoiceField(
        choices=["from", "to", "by", "format"], help_text="The query parameter at fault."
    )
