from django.urls import re_path
from rest_framework.routers import SimpleRouter

from visitors.api.report import ReportView
from visitors.api.stream_paths import SummaryStreamView, TodayStreamView
from visitors.api.views import VisitorCountsViewSet


class OptionalSlashRouter(SimpleRouter):
    """``/api/visitors/today`` (the old service's paths) and ``.../today/`` both answer."""

    def __init__(self) -> None:
        super().__init__(trailing_slash=False)
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("visitors", VisitorCountsViewSet, basename="visitors")

urlpatterns = [
    re_path(r"^visitors/today/stream/?$", TodayStreamView.as_view(), name="visitors-today-stream"),
    re_path(r"^visitors/stream/?$", SummaryStreamView.as_view(), name="visitors-stream"),
    re_path(r"^visitors/report/?$", ReportView.as_view(), name="visitors-report"),
    *router.urls,
]
