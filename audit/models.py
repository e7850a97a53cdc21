from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Something done to a worker, money or labels, by a person or by the platform, and why.

    Append-only: rows are written by ``audit.services.audit_record`` and never changed.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the platform acted by itself.",
    )
    action = models.CharField(max_length=64, db_index=True)
    project = models.ForeignKey("tasks.Project", on_delete=models.CASCADE, null=True, blank=True)
    worker = models.ForeignKey("workers.Worker", on_delete=models.CASCADE, null=True, blank=True)
    reason = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.reason}"
