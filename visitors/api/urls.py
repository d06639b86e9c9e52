from rest_framework.routers import SimpleRouter

from visitors.api.views import VisitorCountsViewSet


class OptionalSlashRouter(SimpleRouter):
    """``/api/visitors/today`` (the old service's paths) and ``.../today/`` both answer."""

    def __init__(self) -> None:
        super().__init__(trailing_slash=False)
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("visitors", VisitorCountsViewSet, basename="visitors")

urlpatterns = router.urls
