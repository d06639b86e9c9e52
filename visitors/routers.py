"""Send the legacy visitor table to its own database alias."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS

VISITORS_DB = "visitors"


class VisitorRouter:
    app_label = "visitors"

    def _is_visitor_model(self, model: type) -> bool:
        return model._meta.app_label == self.app_label and model._meta.model_name == "visitor"

    def db_for_read(self, model: type, **hints: object) -> str | None:
        return VISITORS_DB if self._is_visitor_model(model) else None

    def db_for_write(self, model: type, **hints: object) -> str | None:
        return VISITORS_DB if self._is_visitor_model(model) else None

    def allow_relation(self, obj1: object, obj2: object, **hints: object) -> bool | None:
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: object
    ) -> bool:
        # Our own tables (the faculty names) live in ``default`` only; nothing of ours is
        # ever migrated into the visitor database.
        if app_label == self.app_label and model_name != "visitor":
            return db == DEFAULT_DB_ALIAS
        return db != VISITORS_DB
