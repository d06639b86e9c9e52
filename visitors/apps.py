from django.apps import AppConfig


class VisitorsConfig(AppConfig):
    name = "visitors"
    verbose_name = "Library visitors"

    def ready(self) -> None:
        from visitors import signals  # noqa: F401  (connects the write-path hook)
