"""Every write on projects, items and assignments goes through these functions."""

import logging

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from aggregation.jobs import project_refit_job, project_train_job
from aggregation.services import spot_checked
from audit.services import audit_record
from billing.services import budget_fund
from hitl_platform import money
from hitl_platform.errors import ApplicationError, Conflict
from hitl_platform.jobs import enqueue_on_commit

from .importing import ParseResult, RowError, detect_format, parse_items
from .models import Item, ItemImport, Project

logger = logging.getLogger(__name__)

IMPORT_BATCH = 2000


class ImportRejected(ApplicationError):
    """A file had at least one bad row; nothing was imported. ``errors`` names every line."""

    def __init__(self, errors: list[RowError], errors_total: int | None = None) -> None:
        total = errors_total if errors_total is not None else len(errors)
        super().__init__(f"The file was rejected: {total} error(s); nothing was imported.")
        self.errors = errors
        self.errors_total = total


# --- Projects ------------------------------------------------------------------------------------


def project_create(*, owner, **fields) -> Project:
    """A new draft project; its budget is funded through the ledger like any later top-up."""
    budget = fields.pop("budget", 0)
    project = Project(owner=owner, budget=0, **fields)
    try:
        project.full_clean()
        if money.quantize(budget) < 0:
            raise ValidationError({"budget": "The budget cannot be negative."})
    except ValidationError as exc:
        raise ApplicationError("; ".join(exc.messages), extra={"fields": exc.message_dict}) from exc
    with transaction.atomic():
        project.save()
        if money.quantize(budget) > 0:
            budget_fund(project=project, amount=budget, actor=owner, reason="Initial budget")
    return project


def _project_transition(*, project: Project, to: str, allowed_from: tuple[str, ...]) -> Project:
    """Compare-and-swap on the status, so two admins clicking at once cannot both win."""
    with transaction.atomic():
        changed = Project.objects.filter(pk=project.pk, status__in=allowed_from).update(
            status=to, updated_at=timezone.now()
        )
        project.refresh_from_db(fields=["status", "updated_at"])
    if not changed:
        raise ApplicationError(
            f"Project “{project.name}” is {project.get_status_display().lower()} and cannot become {to}."
        )
    return project


def project_publish(*, project: Project) -> Project:
    """Open a draft or paused project to workers. It needs items and a valid label set."""
    try:
        project.clean()
    except ValidationError as exc:
        raise ApplicationError("; ".join(exc.messages)) from exc
    if not project.items.exists():
        raise ApplicationError(f"Project “{project.name}” has no items yet: import items first.")
    project = _project_transition(project=project, to="active", allowed_from=("draft", "paused"))
    model_train_soon(project=project)
    return project


def model_train_soon(*, project: Project) -> None:
    """With the model on, queue a training check (``aggregation.jobs.project_train_job``;
    ``training_due`` decides): on publishing, turning the model on, and gold imported into an
    active project, so gold enough for a first training gives a model before the first person
    answers."""
    if project.model_enabled:
        enqueue_on_commit(project_train_job, project.pk)


def project_pause(*, project: Project) -> Project:
    return _project_transition(project=project, to="paused", allowed_from=("active",))


def project_finish(*, project: Project) -> Project:
    return _project_transition(
        project=project, to="finished", allowed_from=("draft", "active", "paused")
    )


LABELS_FIXED = "The labels cannot change once the project has items."


def labels_change_refused(*, project: Project, labels: list[str]) -> bool:
    """Gold labels and answers refer to the labels: once a project has items they are fixed."""
    return labels != project.labels and project.items.exists()


#: The settings an item's decision (final, open or review) and routing key depend on.
DECISION_RULE = ("min_overlap", "max_overlap", "target_confidence", "aggregation_method")


def project_update(*, project: Project, **fields) -> Project:
    """Change a project's settings (not its budget: that moves through the ledger).

    Labels are fixed once items exist (``labels_change_refused``). Turning the model on or off
    then re-keys the items nobody has answered (``unstarted_rekey``), so routing
    follows the setting now in force rather than the one the items were imported under, and
    turning it on queues a training check. A change of the stopping rule (``DECISION_RULE``)
    queues a refit, which re-decides every answered item under the new rule.
    """
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        if "labels" in fields and labels_change_refused(project=project, labels=fields["labels"]):
            raise Conflict(LABELS_FIXED)
        model_was = project.model_enabled
        rule_was = {name: getattr(project, name) for name in DECISION_RULE}
        for name, value in fields.items():
            setattr(project, name, value)
        try:
            project.full_clean()
        except ValidationError as exc:
            raise ApplicationError(
                "; ".join(exc.messages), extra={"fields": exc.message_dict}
            ) from exc
        project.save(update_fields=[*fields, "updated_at"])
        rule_changed = any(getattr(project, name) != value for name, value in rule_was.items())
        if rule_changed:
            # Counted like an answer: should the refit below find another refit or a training
            # running (it then leaves the project), the periodic pass refits it.
            Project.objects.filter(pk=project.pk).update(
                answers_since_refit=Greatest(F("answers_since_refit"), 1)
            )
    if project.model_enabled != model_was:
        unstarted_rekey(project=project)
        model_train_soon(project=project)
    if rule_changed:
        # The answered items were decided under the old rule: a refit re-decides every one
        # now, not when new answers would bring one (a project whose items are all final
        # under the old target gets none).
        enqueue_on_commit(project_refit_job, project.pk)
    return project


def unstarted_priority(project: Project) -> float:
    """The routing key of an item nobody has answered yet (lowest is served first).

    0: after the started items below their minimum answers (``aggregation.services.routing_key``,
    below 0) and before any item gets more answers than its minimum. With the model on, 1: people
    finish the items they started (each final label is a training label) before starting new
    ones, so the items nobody started wait for the model's vote, which sets their key to its
    confidence (the least sure go to people first) or labels them alone.
    """
    return 1.0 if project.model_enabled else 0.0


REKEY_CHUNK = 2000


def unstarted_rekey(*, project: Project) -> None:
    """Give the open items nobody has answered the routing key of the project's current model
    setting: ``unstarted_priority``, or with the model on and a useful vote already cast on the
    item, that vote's confidence (the least sure go to people first), 0 for the spot-check share
    (people decide it without the vote, first: it measures the model).

    After the settings commit, outside the project's row lock (a claim locks an item, then the
    project: holding the project while locking items would invert that order), in short chunks
    (a claim skips locked items rather than waiting), reading the setting afresh for each chunk so
    that two quick toggles end on the last one. Idempotent.
    """
    ids = list(
        Item.objects.filter(project=project, status="open", gold_label="", answers_count=0)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), REKEY_CHUNK):
        current = Project.objects.only("model_enabled", "spot_check_rate").get(pk=project.pk)
        some = ids[start : start + REKEY_CHUNK]
        chunk = Item.objects.filter(pk__in=some, answers_count=0)
        if current.model_enabled:
            # The spot-check share a useful version voted on goes to people first (0).
            audit = [pk for pk in some if spot_checked(pk, current.spot_check_rate)]
            audited = Q(pk__in=audit, model_version__is_useful=True)
            chunk.filter(audited).update(priority=0.0)
            voted = Q(model_version__is_useful=True, confidence__isnull=False)
            chunk.filter(voted).exclude(audited).update(priority=F("confidence"))
            chunk = chunk.exclude(voted).exclude(audited)
        chunk.update(priority=unstarted_priority(current))


# --- Import --------------------------------------------------------------------------------------


def _parse_for_project(*, project: Project, data: bytes, fmt: str) -> ParseResult:
    existing = project.items.values_list("external_id", flat=True)
    return parse_items(data, fmt=fmt, labels=project.labels, existing_ids=existing)


def items_import(*, project: Project, data: bytes, fmt: str, actor=None, reason: str = "") -> int:
    """Import every item of ``data`` into ``project`` or none of them.

    Raises ``ImportRejected`` listing every bad line. Items are written with bulk inserts in one
    transaction; a gold item is final from the start (its label is known) and serves as a control.
    An import is an audit event (``items.import``) with ``actor`` (empty for a command) in the
    same transaction; a rejected import changes nothing and records nothing.
    """
    if fmt not in ("csv", "jsonl"):
        raise ApplicationError(f"Unknown format {fmt!r}: use csv or jsonl.")
    result = _parse_for_project(project=project, data=data, fmt=fmt)
    if not result.ok:
        raise ImportRejected(result.errors, result.errors_total)
    items = [
        Item(
            project=project,
            external_id=row.external_id,
            payload=row.payload,
            gold_label=row.gold_label,
            audit_label=row.audit_label,
            priority=unstarted_priority(project),
            **(
                {
                    "finalized_on": timezone.localdate(),
                    "status": "final",
                    "final_label": row.gold_label,
                    "confidence": 1.0,
                    "label_source": "gold",
                }
                if row.gold_label
                else {}
            ),
        )
        for row in result.items
    ]
    try:
        with transaction.atomic():
            Item.objects.bulk_create(items, batch_size=IMPORT_BATCH)
            gold = sum(1 for item in items if item.gold_label)
            audit_record(
                action="items.import",
                reason=(
                    f"Imported {len(items)} items ({gold} gold) from {fmt}, {len(data):,} bytes. "
                    f"{reason}"
                ).strip(),
                actor=actor,
                project=project,
                data={"items": len(items), "gold": gold, "format": fmt, "bytes": len(data)},
            )
    except IntegrityError as exc:
        # Another import of the same ids committed between our check and our insert.
        raise ImportRejected(
            [RowError(0, "some external ids were imported by someone else meanwhile; try again")]
        ) from exc
    logger.info("imported %d items into project %s", len(items), project.pk)
    if gold and project.status == Project.Status.ACTIVE:
        model_train_soon(project=project)
    return len(items)


def item_import_stage(*, project: Project, filename: str, data: bytes, user) -> ItemImport:
    """Keep an uploaded file and validate it; the requester confirms after seeing the preview."""
    fmt = detect_format(filename)
    staged = ItemImport(
        project=project, uploaded_by=user, original_name=filename[:255], format=fmt or ""
    )
    if fmt is None:
        staged.status = ItemImport.Status.FAILED
        staged.errors = [str(RowError(0, "unknown file type: upload a .csv or .jsonl file"))]
        staged.save()
        return staged
    result = _parse_for_project(project=project, data=data, fmt=fmt)
    staged.rows = len(result.items)
    if not result.ok:
        staged.status = ItemImport.Status.FAILED
        staged.errors = [str(e) for e in result.errors]
        if result.errors_total > len(result.errors):
            staged.errors.append(f"… and {result.errors_total - len(result.errors)} more errors")
    staged.file.save(filename, ContentFile(data), save=False)
    staged.save()
    return staged


def item_import_confirm(*, item_import: ItemImport) -> int:
    """Import a staged file. Locks the staged row so that a double click imports once."""
    rejected: ImportRejected | None = None
    with transaction.atomic():
        staged = ItemImport.objects.select_for_update().get(pk=item_import.pk)
        if staged.status != ItemImport.Status.PENDING:
            raise ApplicationError("This file was already handled; upload it again to re-import.")
        with staged.file.open("rb") as fh:
            data = fh.read()
        try:
            count = items_import(
                project=staged.project,
                data=data,
                fmt=staged.format,
                actor=staged.uploaded_by,
                reason=f"File {staged.original_name}.",
            )
        except ImportRejected as exc:
            rejected = exc  # recorded below, outside the transaction that is rolled back
        else:
            staged.status = ItemImport.Status.IMPORTED
            staged.rows = count
            staged.imported_at = timezone.now()
            staged.save(update_fields=["status", "rows", "imported_at"])
    if rejected is not None:
        ItemImport.objects.filter(pk=item_import.pk).update(
            status=ItemImport.Status.FAILED, errors=[str(e) for e in rejected.errors]
        )
        item_import.refresh_from_db()
        raise rejected
    item_import.refresh_from_db()
    return count
