from django.db import models


class Visitor(models.Model):
    """One check-in at the library gate, in the gate system's table (read-only for us)."""

    visitor_id = models.AutoField(primary_key=True)
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
