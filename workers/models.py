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


class WorkerStanding(models.Model):
    """A worker's standing in one project: exam, qualified or blocked, and their measured quality."""

    class State(models.TextChoices):
        EXAM = "exam", "Taking the exam"
        QUALIFIED = "qualified", "Qualified"
        BLOCKED = "blocked", "Blocked"

    project = models.ForeignKey("tasks.Project", on_delete=models.CASCADE, related_name="standings")
    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="standings")
    state = models.CharField(max_length=16, choices=State.choices, default=State.EXAM)
    blocked_reason = models.TextField(blank=True)
    blocked_at = models.DateTimeField(null=True, blank=True)
    expert = models.BooleanField(
        default=False,
        help_text="Trusted by the requester: their answer settles an item like a gold label, "
        "and items people could not settle (review) go to them first.",
    )
    answers = models.PositiveIntegerField(default=0)
    exam_answers = models.PositiveSmallIntegerField(default=0)
    exam_correct = models.PositiveSmallIntegerField(default=0)
    gold_answers = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    estimated_accuracy = models.FloatField(null=True, blank=True)
    evidence_answers = models.PositiveIntegerField(
        default=0,
        help_text="Answers on items someone else (or gold) also labeled: what the estimate rests on.",
    )
    gold_accuracy = models.FloatField(
        null=True, blank=True, help_text="Posterior mean with a Beta(2, 2) prior."
    )
    median_seconds = models.FloatField(null=True, blank=True)
    confusion = models.JSONField(
        null=True, blank=True, help_text="K×K confusion matrix from the last refit."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "worker"], name="standing_one_per_project"),
            models.CheckConstraint(
                condition=models.Q(state__in=["exam", "qualified", "blocked"]),
                name="standing_state_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(exam_correct__lte=models.F("exam_answers"))
                & models.Q(gold_correct__lte=models.F("gold_answers")),
                name="standing_correct_at_most_answered",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="blocked") | ~models.Q(blocked_reason=""),
                name="standing_block_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.worker} in {self.project_id}: {self.state}"
