"""The gate system's ``visitor_count`` table (DDL), for demo data, tests and benchmarks only.

In production the gate system owns the table; the service never creates or alters it there.
"""

from __future__ import annotations

from django.db import connections

from visitors.routers import VISITORS_DB

_DDL = {
    "mysql": """
        CREATE TABLE IF NOT EXISTS visitor_count (
          visitor_id   INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
          member_id    VARCHAR(64)  NULL,
          member_name  VARCHAR(128) NULL,
          institution  VARCHAR(128) NULL,
          room_code    VARCHAR(64)  NULL,
          checkin_date DATETIME     NOT NULL,
          INDEX idx_checkin_date (checkin_date)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
    """,
    "sqlite": """
        CREATE TABLE IF NOT EXISTS visitor_count (
          visitor_id   INTEGER PRIMARY KEY AUTOINCREMENT,
          member_id    VARCHAR(64)  NULL,
          member_name  VARCHAR(128) NULL,
          institution  VARCHAR(128) NULL,
          room_code    VARCHAR(64)  NULL,
          checkin_date DATETIME     NOT NULL
        )
    """,
}
_INDEX = {"sqlite": "CREATE INDEX IF NOT EXISTS idx_checkin_date ON visitor_count (checkin_date)"}


def table_exists(using: str = VISITORS_DB) -> bool:
    connection = connections[using]
    return "visitor_count" in connection.introspection.table_names()


def ensure_table(using: str = VISITORS_DB) -> None:
    """Create ``visitor_count`` (the gate system's schema, above) if it is absent."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(_DDL[connection.vendor])
        if connection.vendor in _INDEX:
            cursor.execute(_INDEX[connection.vendor])


def drop_table(using: str = VISITORS_DB) -> None:
    with connections[using].cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS visitor_count")
