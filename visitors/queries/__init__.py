"""Pick the DB layer (``USE_ORM``): raw SQL or the Django ORM, behind one interface."""

from __future__ import annotations

from visitors.conf import visitor_settings
from visitors.queries.base import VisitorQueries
from visitors.queries.orm import OrmQueries
from visitors.queries.raw import RawQueries
from visitors.routers import VISITORS_DB

LAYERS: dict[bool, type[VisitorQueries]] = {False: RawQueries, True: OrmQueries}


def get_queries(*, using: str = VISITORS_DB, use_orm: bool | None = None) -> VisitorQueries:
    orm = visitor_settings().USE_ORM if use_orm is None else use_orm
    return LAYERS[orm](using)


__all__ = ["OrmQueries", "RawQueries", "VisitorQueries", "get_queries"]
