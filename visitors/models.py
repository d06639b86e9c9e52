from django.db import models


class UnsignedAutoField(models.AutoField):
    """``INT UNSIGNED AUTO_INCREMENT``: ids up to 4,294,967,295.

    A plain AutoField tells Django the range ends at 2**31 - 1, so lookups past it
    (``visitor_id__gt=3_000_000_000``) would be answered "empty" without asking the database.
    """

    def get_internal_type(self) -> str:
        return "PositiveIntegerField"

    def rel_db_type(self, connection) -> str:  # the table is not ours: never created
        return "integer UNSIGNED"


class Visitor(models.Model):
    """One check-in at the library gate, in the gate system's table (read-only for us)."""

    visitor_id = UnsignedAutoField(primary_key=True)
    member_id = models.CharField(max_length=64, null=True, blank=True)
    member_name = models.CharField(max_length=128, null=True, blank=True)
    institution = models.CharField(max_length=128, null=True, blank=True)
    room_code = models.CharField(max_length=64, null=True, blank=True)
    checkin_date = models.DateTimeField(db_index=True)

    class Meta:
        managed = False
        db_table = "visitor_count"
        ordering = ["-visitor_id"]
        verbose_name = "visitor check-in"

    def __str__(self) -> str:
        return f"#{self.visitor_id} {self.member_id or '-'} at {self.checkin_date}"


class Faculty(models.Model):
    """A faculty's name for the code the gate system writes in ``institution``; ours, in
    the ``default`` database (``visitors.routers``), edited in the admin or loaded with
    ``manage.py load_faculties``."""

    code = models.CharField(max_length=128, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "faculties"

    def __str__(self) -> str:
        return f"{self.code}: {self.name}"
