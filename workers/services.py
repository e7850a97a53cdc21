from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record

from .models import Worker, WorkerStanding


def worker_create(*, username: str, password: str, email: str = "") -> Worker:
    """A new crowd worker account (a user with a worker profile)."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, password=password, email=email
        )
        return Worker.objects.create(user=user)


def standing_block(
    *, standing: WorkerStanding, reason: str, rule: str, now=None, data=None
) -> None:
    """Block a worker in one project, with the reason they will see, as an audit event."""
    standing.state = WorkerStanding.State.BLOCKED
    standing.blocked_reason = reason
    standing.blocked_at = now or timezone.now()
    standing.save(update_fields=["state", "blocked_reason", "blocked_at"])
    audit_record(
        action="worker.block",
        reason=reason,
        project=standing.project,
        worker=standing.worker,
        data={"rule": rule, **(data or {})},
    )


def _percents(measured: float, floor: float) -> tuple[str, str]:
    """Both as whole percents, or with one decimal where whole ones would read the same
    ("46.5% is below 46.7%", never "47% is below 47%")."""
    digits = 0 if f"{measured:.0%}" != f"{floor:.0%}" else 1
    return f"{measured:.{digits}%}", f"{floor:.{digits}%}"


def standings_apply_rules(*, project) -> list[WorkerStanding]:
    """Block the project's qualified workers whose measured quality breaks one of its rules.

    Rules (each with its minimum evidence, so a few unlucky answers block nobody): gold accuracy
    (Beta(2, 2) posterior mean) below ``Project.gold_accuracy_floor`` after
    ``block_gold_min_answers`` gold answers; estimated accuracy (from the consensus model) below
    ``Project.estimated_accuracy_floor`` once ``block_estimated_min_answers`` of their answers
    can be compared with others' or gold (an estimate from answers nobody else gave rests on
    nothing); median answer time below
    ``block_min_median_seconds`` after ``block_speed_min_answers`` answers. Each block is an audit
    event with its reason, and the worker sees the reason.
    """
    now = timezone.now()
    gold_floor, estimated_floor = project.gold_accuracy_floor, project.estimated_accuracy_floor
    blocked = []
    with transaction.atomic():
        standings = (
            WorkerStanding.objects.select_for_update(of=("self",))
            .select_related("worker__user", "project")
            .filter(project=project, state=WorkerStanding.State.QUALIFIED, expert=False)
            .order_by("pk")
        )
        for standing in standings:
            reason = rule = None
            if (
                standing.gold_answers >= project.block_gold_min_answers
                and standing.gold_accuracy is not None
                and standing.gold_accuracy < gold_floor
            ):
                rule = "gold_accuracy"
                measured, floor_text = _percents(standing.gold_accuracy, gold_floor)
                reason = (
                    f"Accuracy on control questions {measured} "
                    f"({standing.gold_correct} of {standing.gold_answers} right) is below "
                    f"{floor_text}."
                )
            elif (
                standing.evidence_answers >= project.block_estimated_min_answers
                and standing.estimated_accuracy is not None
                and standing.estimated_accuracy < estimated_floor
            ):
                rule = "estimated_accuracy"
                measured, floor_text = _percents(standing.estimated_accuracy, estimated_floor)
                reason = (
                    f"Estimated accuracy {measured} over {standing.answers} "
                    f"answers is below {floor_text}."
                )
            elif (
                standing.answers >= project.block_speed_min_answers
                and standing.median_seconds is not None
                and standing.median_seconds < project.block_min_median_seconds
            ):
                rule = "speed"
                reason = (
                    f"Median answer time {standing.median_seconds:.1f} s is below the "
                    f"{project.block_min_median_seconds:.1f} s that reading an item takes."
                )
            if rule:
                standing_block(standing=standing, reason=reason, rule=rule, now=now)
                blocked.append(standing)
    return blocked


def standing_expert_set(*, standing: WorkerStanding, expert: bool, actor) -> None:
    """A requester marks a worker as an expert in a project, or takes it back; logged.

    An expert skips the exam (they are trusted), gets items in review before anything else and
    settles an item with one answer (``tasks.routing``); automatic blocking rules leave them alone.
    """
    with transaction.atomic():
        locked = WorkerStanding.objects.select_for_update().get(pk=standing.pk)
        if locked.expert == expert:
            return
        locked.expert = expert
        fields = ["expert"]
        if expert and locked.state == WorkerStanding.State.EXAM:
            locked.state = WorkerStanding.State.QUALIFIED
            fields.append("state")
        locked.save(update_fields=fields)
        audit_record(
            action="worker.expert" if expert else "worker.expert_removed",
            reason=f"{'Marked' if expert else 'No longer'} an expert, by {actor}",
            actor=actor,
            project=locked.project,
            worker=locked.worker,
        )
    standing.refresh_from_db()


def standing_unblock(*, standing: WorkerStanding, actor, reason: str = "") -> None:
    """A requester lifts a block; the worker is qualified again. Logged with who did it."""
    with transaction.atomic():
        locked = WorkerStanding.objects.select_for_update().get(pk=standing.pk)
        if locked.state != WorkerStanding.State.BLOCKED:
            return
        previous = locked.blocked_reason
        locked.state = WorkerStanding.State.QUALIFIED
        locked.blocked_reason = ""
        locked.blocked_at = None
        locked.save(update_fields=["state", "blocked_reason", "blocked_at"])
        audit_record(
            action="worker.unblock",
            reason=reason or f"Unblocked by {actor}; was: {previous}",
            actor=actor,
            project=locked.project,
            worker=locked.worker,
        )
    standing.refresh_from_db()
