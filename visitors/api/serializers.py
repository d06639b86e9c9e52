"""Response shapes, for the OpenAPI schema (views return the cached payloads as they are)."""

from rest_framework import serializers

SOURCE_HELP = "'cache' when served from Redis, 'db' when computed from the database just now."


class DayTotalSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="Library-local calendar day, YYYY-MM-DD.")
    total = serializers.IntegerField(min_value=0)


class MonthTotalSerializer(serializers.Serializer):
    month = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="YYYY-MM.")
    total = serializers.IntegerField(min_value=0)


class YearTotalSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    total = serializers.IntegerField(min_value=0)


class TodaySerializer(serializers.Serializer):
    total = serializers.IntegerField(min_value=0, help_text="Check-ins since local midnight.")
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class WeeklySerializer(serializers.Serializer):
    days = DayTotalSerializer(many=True, help_text="The last 7 days, oldest first, today last.")
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class MonthlySerializer(serializers.Serializer):
    months = MonthTotalSerializer(
        many=True, help_text="The last 12 months, oldest first, this month last."
    )
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class YearlySerializer(serializers.Serializer):
    years = YearTotalSerializer(
        many=True, help_text="The last 5 years, oldest first, this year last."
    )
    source = serializers.ChoiceField(choices=["cache", "db"], help_text=SOURCE_HELP)


class SummarySerializer(serializers.Serializer):
    today = serializers.IntegerField(min_value=0)
    weekly = DayTotalSerializer(many=True)
    monthly = MonthTotalSerializer(many=True)
    yearly = YearTotalSerializer(many=True)
    source = serializers.CharField(
        help_text="Per part, e.g. 'today:cache,weekly:cache,monthly:db,yearly:cache'."
    )
