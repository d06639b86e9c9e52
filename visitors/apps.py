from django.apps import AppConfig


class VisitorsConfig(AppConfig):
    name = "visitors"
    verbose_name = "Library visitors"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from visitors import signals  # connects the write-path hook

        post_migrate.connect(
            signals.create_cache_table, sender=self, dispatch_uid="visitors.create_cache_table"
        )
