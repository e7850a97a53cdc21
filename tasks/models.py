"""The requester's side: projects, their items, and workers' leases and answers on items.

Rules that a database can hold are database constraints (see each ``Meta.constraints``); the rest
(labels of a project, gold label among them) are checked by ``clean()`` and by the services.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from hitl_platform import money

MONEY = {"max_digits": money.MAX_DIGITS, "decimal_places": money.PLACES}
#: Unless a project sets its own, a worker is blocked below this share of the way from guessing
#: (1/K for K labels) to always right: on control questions (gold) 60% with two labels and 36%
#: with five, on the consensus model's estimate 55% and 28%.
GOLD_FLOOR_ABOVE_GUESSING = 0.2
ESTIMATED_FLOOR_ABOVE_GUESSING = 0.1


class AggregationMethod(models.TextChoices):
    DAWID_SKENE = "ds", "Dawid-Skene"
    ONE_COIN = "ods", "One-coin Dawid-Skene"
    GLAD = "glad", "GLAD"
    WEIGHTED_MAJORITY = "wmv", "Weighted majority vote"
    MAJORITY = "mv", "Majority vote"


class Project(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        FINISHED = "finished", "Finished"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="projects"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    instructions = models.TextField(blank=True, help_text="Shown to workers; Markdown.")
    labels = models.JSONField(
        default=list, help_text="The ordered label set, at least two distinct labels."
    )
    reward = models.DecimalField(**MONEY, help_text="Paid per approved answer.")
    budget = models.DecimalField(**MONEY, help_text="Spending never goes past this amount.")
    min_overlap = models.PositiveSmallIntegerField(
        default=2, help_text="Answers every item gets before it can be final."
    )
    max_overlap = models.PositiveSmallIntegerField(
        default=5,
        help_text="Answers an item can get at most; more are bought only while uncertain.",
    )
    target_confidence = models.FloatField(
        default=0.95, help_text="An item is final once its consensus reaches this (0.5–0.999)."
    )
    gold_rate = models.FloatField(
        default=0.1, help_text="Share of a worker's tasks that are gold (control) items."
    )
    assignment_seconds = models.PositiveIntegerField(
        default=600, help_text="How long a worker holds an item before the lease expires."
    )
    aggregation_method = models.CharField(
        max_length=8, choices=AggregationMethod.choices, default=AggregationMethod.DAWID_SKENE
    )
    # Qualification and blocking rules.
    exam_size = models.PositiveSmallIntegerField(
        default=4,
        help_text="Gold items a worker new to the project answers as an exam (0: no exam).",
    )
    exam_pass_accuracy = models.FloatField(
        default=0.75, help_text="Share of exam answers that must be right to open paid work."
    )
    block_gold_accuracy = models.FloatField(
        null=True,
        blank=True,
        default=None,
        help_text="Block a worker whose gold accuracy (with a prior) falls below this (empty: a "
        "fifth of the way from guessing to always right, 60% with two labels, 36% with five)…",
    )
    block_gold_min_answers = models.PositiveSmallIntegerField(
        default=8, help_text="…once they have answered this many gold items."
    )
    block_estimated_accuracy = models.FloatField(
        null=True,
        blank=True,
        default=None,
        help_text="Block a worker whose estimated accuracy falls below this (empty: a tenth of the "
        "way from guessing to always right, 55% with two labels, 28% with five)…",
    )
    block_estimated_min_answers = models.PositiveSmallIntegerField(
        default=20, help_text="…once they have given this many answers."
    )
    block_min_median_seconds = models.FloatField(
        default=1.0, help_text="Block a worker whose median answer time is below this (seconds)…"
    )
    block_speed_min_answers = models.PositiveSmallIntegerField(
        default=10, help_text="…once they have given this many answers."
    )
    approval_delay_days = models.PositiveSmallIntegerField(
        default=3, help_text="Days an approved reward stays pending before the worker can be paid."
    )
    auto_approve_days = models.PositiveSmallIntegerField(
        default=7, help_text="Approve answers still pending after this many days."
    )
    reject_gold_mismatch = models.BooleanField(
        default=False, help_text="Reject (and do not pay) answers that contradict a gold item."
    )
    # The pre-labeler: a model trained on the labels so far, one more voter in consensus.
    model_enabled = models.BooleanField(
        default=False, help_text="Train a model on the labels so far."
    )
    model_features = models.JSONField(
        default=dict,
        blank=True,
        help_text='Payload fields the model reads: {"text": ["text"], "numeric": ["f1", "f2"]}.',
    )
    model_classifier = models.CharField(
        max_length=16,
        default="logreg",
        choices=[
            ("logreg", "Logistic regression"),
            ("nb", "Naive Bayes (text)"),
            ("hgb", "Gradient boosting"),
        ],
    )
    model_min_labels = models.PositiveIntegerField(
        default=50, help_text="Labels needed before the first training."
    )
    model_retrain_every = models.PositiveIntegerField(
        default=100, help_text="Retrain after this many new labels."
    )
    auto_label_threshold = models.FloatField(
        default=0.95, help_text="The model labels an item alone when the posterior reaches this."
    )
    spot_check_rate = models.FloatField(
        default=0.1,
        help_text="Share of items that people decide without the model's vote (chosen by a hash of "
        "the item): the model never labels them alone, and they keep measuring it.",
    )
    max_model_share = models.FloatField(
        default=0.8, help_text="The model labels at most this share of all items."
    )
    refit_every = models.PositiveIntegerField(
        default=50, help_text="Refit worker skills after this many new answers."
    )
    # Budget counters: what open leases and unpaid answers hold, and what was paid. The database
    # refuses any write that would take spent + reserved past the budget.
    reserved = models.DecimalField(**MONEY, default=money.ZERO, editable=False)
    spent = models.DecimalField(**MONEY, default=money.ZERO, editable=False)
    # The current worker model (from the last refit): class prior and an unseen worker's confusion.
    class_prior = models.JSONField(null=True, blank=True, editable=False)
    prior_confusion = models.JSONField(null=True, blank=True, editable=False)
    answers_since_refit = models.PositiveIntegerField(default=0, editable=False)
    # Items people's submits settled since the model's last training: it paces the training
    # checks that submits queue (``aggregation.training.training_check_due``).
    labels_since_training = models.PositiveIntegerField(default=0, editable=False)
    refitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    refit_started_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Set while a refit runs (one at a time)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(reward__gte=0), name="project_reward_non_negative"),
            models.CheckConstraint(condition=Q(budget__gte=0), name="project_budget_non_negative"),
            models.CheckConstraint(
                condition=Q(min_overlap__gte=1), name="project_min_overlap_at_least_1"
            ),
            models.CheckConstraint(
                condition=Q(max_overlap__gte=F("min_overlap")),
                name="project_max_overlap_at_least_min",
            ),
            models.CheckConstraint(
                condition=Q(target_confidence__gte=0.5, target_confidence__lte=0.999),
                name="project_target_confidence_range",
            ),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0, gold_rate__lte=1), name="project_gold_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(assignment_seconds__gte=10), name="project_assignment_at_least_10s"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "active", "paused", "finished"]),
                name="project_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(aggregation_method__in=["ds", "ods", "glad", "wmv", "mv"]),
                name="project_aggregation_method_valid",
            ),
            # Half a quantum of slack: exact for 4-decimal amounts, and immune to SQLite doing
            # the comparison in binary floating point (see money.HALF_QUANTUM).
            models.CheckConstraint(
                condition=Q(reserved__gte=-money.HALF_QUANTUM, spent__gte=-money.HALF_QUANTUM),
                name="project_counters_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(budget__gte=F("spent") + F("reserved") - money.HALF_QUANTUM),
                name="project_never_over_budget",
            ),
            models.CheckConstraint(
                condition=Q(exam_pass_accuracy__gte=0, exam_pass_accuracy__lte=1)
                & (
                    Q(block_gold_accuracy__isnull=True)
                    | Q(block_gold_accuracy__gte=0, block_gold_accuracy__lte=1)
                )
                & (
                    Q(block_estimated_accuracy__isnull=True)
                    | Q(block_estimated_accuracy__gte=0, block_estimated_accuracy__lte=1)
                )
                & Q(block_min_median_seconds__gte=0),
                name="project_quality_rules_range",
            ),
            models.CheckConstraint(
                condition=Q(refit_every__gte=1), name="project_refit_every_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def _above_guessing(self, share: float) -> float:
        """The accuracy ``share`` of the way from guessing (1/K) to always right."""
        chance = 1.0 / max(len(self.labels), 2)
        return round(chance + share * (1.0 - chance), 6)

    @property
    def gold_accuracy_floor(self) -> float:
        """The gold accuracy below which the blocking rule blocks a worker: the project's
        ``block_gold_accuracy``, or, unset, one relative to guessing."""
        if self.block_gold_accuracy is not None:
            return self.block_gold_accuracy
        return self._above_guessing(GOLD_FLOOR_ABOVE_GUESSING)

    @property
    def estimated_accuracy_floor(self) -> float:
        """The estimated accuracy below which the blocking rule blocks a worker: the project's
        ``block_estimated_accuracy``, or, unset, one relative to guessing. A fixed 55% would
        block most of a five-label crowd that is right half the time, far above the 20% of a
        guess, and leave its items unanswered."""
        if self.block_estimated_accuracy is not None:
            return self.block_estimated_accuracy
        return self._above_guessing(ESTIMATED_FLOOR_ABOVE_GUESSING)

    def clean(self) -> None:
        labels = self.labels
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ValidationError({"labels": "Labels must be a list of strings."})
        stripped = [x.strip() for x in labels]
        if any(not x for x in stripped):
            raise ValidationError({"labels": "A label cannot be empty."})
        if len(set(stripped)) != len(stripped):
            raise ValidationError({"labels": "Labels must be distinct."})
        if len(stripped) < 2:
            raise ValidationError({"labels": "A project needs at least two labels."})
        self.labels = stripped
        features = self.model_features or {}
        if (
            not isinstance(features, dict)
            or set(features) - {"text", "numeric"}
            or not all(
                isinstance(v, list) and all(isinstance(f, str) for f in v)
                for v in features.values()
            )
        ):
            raise ValidationError(
                {"model_features": 'Use {"text": ["field", …], "numeric": ["field", …]}.'}
            )
        if self.model_enabled and not any(features.values()):
            raise ValidationError(
                {"model_features": "Name the payload fields the model reads to turn it on."}
            )

    @property
    def assignment_duration(self) -> timedelta:
        return timedelta(seconds=self.assignment_seconds)

    @property
    def remaining(self):
        return self.budget - self.spent - self.reserved


class Item(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        REVIEW = "review", "Needs review"
        FINAL = "final", "Final"

    class Source(models.TextChoices):
        CROWD = "crowd", "Crowd"
        MODEL = "model", "Model"
        GOLD = "gold", "Gold"
        REVIEW = "review", "Review"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=255)
    payload = models.JSONField(default=dict, blank=True)
    gold_label = models.CharField(max_length=200, blank=True)
    audit_label = models.CharField(
        max_length=200,
        blank=True,
        help_text="A known label kept from workers and quality control: only measures accuracy.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    final_label = models.CharField(max_length=200, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    label_source = models.CharField(max_length=16, choices=Source.choices, blank=True)
    finalized_on = models.DateField(
        null=True, blank=True, help_text="The day the item became final."
    )
    model_version = models.ForeignKey(
        "tasks.ModelVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The model version that last voted on this item.",
    )
    model_assisted = models.BooleanField(
        default=False,
        help_text="A useful model version's vote took part in deciding this item, so its label "
        "teaches the model but does not measure it.",
    )
    model_label = models.CharField(max_length=200, blank=True, help_text="The model's vote.")
    model_bin = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Confidence bin of the model's vote."
    )
    answers_count = models.PositiveIntegerField(
        default=0, help_text="Submitted answers (kept by the services that store answers)."
    )
    priority = models.FloatField(
        default=0.0,
        help_text="Routing key among items with as many live leases (lowest is served first): the "
        "current confidence, minus 1 while below the minimum answers; before any answer 0, or 1 "
        "with the model on.",
    )
    leases_count = models.PositiveIntegerField(
        default=0, help_text="Leases held on the item now (kept by the claim/submit services)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"], name="item_external_id_unique"
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="item_external_id_not_empty"),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=0, confidence__lte=1),
                name="item_confidence_range",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "review", "final"]), name="item_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(label_source__in=["", "crowd", "model", "gold", "review"]),
                name="item_label_source_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="final") | (~Q(final_label="") & ~Q(label_source="")),
                name="item_final_has_label_and_source",
            ),
        ]
        indexes = [
            # The claim query: open, non-gold items of a project, fewest answers on the way
            # (live leases) first, then by routing key (``priority``), then fewest answers, then
            # oldest. Partial, so it stays small as items become final.
            models.Index(
                fields=["project", "leases_count", "priority", "answers_count", "id"],
                condition=Q(status="open", gold_label=""),
                name="item_open_routing",
            ),
            models.Index(fields=["project", "id"], condition=~Q(gold_label=""), name="item_gold"),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def is_gold(self) -> bool:
        return bool(self.gold_label)

    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


#: Final items whose label measures the model: no useful version's vote helped decide them. Gold
#: and an expert's answer ("review") settle an item whatever the vote says. Training measures the
#: model on these (``aggregation.training``); the report's agreement with people counts only these.
MEASURES_MODEL = Q(label_source__in=(Item.Source.GOLD, Item.Source.REVIEW)) | Q(
    model_assisted=False
)


class Assignment(models.Model):
    """A worker's lease on one item and, once submitted, their answer."""

    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        SUBMITTED = "submitted", "Submitted"
        EXPIRED = "expired", "Expired"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    class Kind(models.TextChoices):
        TASK = "task", "Task"
        GOLD = "gold", "Control (gold)"
        EXAM = "exam", "Exam"

    ANSWERED = ("submitted", "approved", "rejected")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    worker = models.ForeignKey(
        "workers.Worker", on_delete=models.PROTECT, related_name="assignments"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LEASED)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TASK)
    label = models.CharField(max_length=200, blank=True)
    reward = models.DecimalField(**MONEY, help_text="The reward promised when the lease was taken.")
    leased_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    seconds_spent = models.FloatField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True, help_text="Approved or rejected at.")
    rejection_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "worker"], name="assignment_one_per_item_and_worker"
            ),
            models.UniqueConstraint(
                fields=["worker", "project"],
                condition=Q(status="leased"),
                name="assignment_one_live_lease_per_worker_and_project",
            ),
            models.CheckConstraint(
                condition=Q(reward__gte=0), name="assignment_reward_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("leased_at")), name="assignment_expires_after_leased"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["leased", "submitted", "expired", "approved", "rejected"]),
                name="assignment_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["submitted", "approved", "rejected"])
                | (~Q(label="") & Q(submitted_at__isnull=False)),
                name="assignment_answer_has_label_and_time",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["leased", "expired"]) | Q(label=""),
                name="assignment_lease_has_no_label",
            ),
            models.CheckConstraint(
                condition=Q(seconds_spent__isnull=True) | Q(seconds_spent__gte=0),
                name="assignment_seconds_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["task", "gold", "exam"]), name="assignment_kind_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="leased"), name="assignment_live_expiry"
            ),
            models.Index(fields=["worker", "project", "status"], name="assignment_worker_project"),
        ]

    def __str__(self) -> str:
        return f"{self.item} by {self.worker}"

    def is_live(self, now=None) -> bool:
        """A lease is live while leased and not past its expiry, whether or not a job expired it."""
        return self.status == self.Status.LEASED and self.expires_at > (now or timezone.now())


class ItemImport(models.Model):
    """An uploaded file of items: validated, previewed, then imported all at once or not at all."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting confirmation"
        IMPORTED = "imported", "Imported"
        FAILED = "failed", "Rejected"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=8, choices=Format.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    rows = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.original_name} → {self.project}"


class ModelVersion(models.Model):
    """One training of a project's pre-labeler, and how good it measured itself out of fold."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    classifier = models.CharField(max_length=16)
    features = models.JSONField(default=dict)
    n_train = models.PositiveIntegerField()
    cv_accuracy = models.FloatField()
    cv_accuracy_lower = models.FloatField()
    chance_rate = models.FloatField()
    is_useful = models.BooleanField(help_text="Better than chance out of fold: it may vote.")
    confusion = models.JSONField(help_text="Out-of-fold K×K [true, predicted].")
    voter_confusion = models.JSONField(help_text="B×K×K, by confidence bin of the vote.")
    training_seconds = models.FloatField()
    items_predicted = models.PositiveIntegerField(default=0)
    items_auto_labeled = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="model_version_unique"),
            models.CheckConstraint(
                condition=Q(cv_accuracy__gte=0, cv_accuracy__lte=1), name="model_cv_accuracy_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} model v{self.version}"
