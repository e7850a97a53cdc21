from django.conf import settings
from django.db import models


class Worker(models.Model):
    """A crowd worker: the profile of a user who does paid micro-tasks."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="worker"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "suspended"]), name="worker_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.user.get_username()
