"""The numbers a manager asks for, computed with aggregate queries (no per-row Python loops).

Definitions (also in docs/reports.md):
- *labeled items*: final items whose label the platform produced (source crowd, model or review);
  gold items are not counted, their labels were given.
- *spent*: rewards of approved answers plus bonuses (ledger). *Reserved*: held for live leases and
  answers awaiting approval.
- *measured accuracy*: share of labeled items with an audit label (known, kept from workers and
  from quality control) whose final label equals it; shown with that count.
- *estimated accuracy*: mean posterior confidence of the labeled items (what the consensus model
  expects its accuracy to be).
- *cost per accurate label* = spent ÷ (labeled items × accuracy), once per kind of accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Avg, Count, F, Q, Sum
from django.utils import timezone

from billing.models import LedgerEntry, Movement
from hitl_platform import money
from tasks.models import MEASURES_MODEL, Assignment, Item, ModelVersion, Project
from tasks.roles import is_manager
from workers.models import WorkerStanding

LABELED = ("crowd", "model", "review")
SPEND = (Movement.APPROVE, Movement.BONUS)


def _ratio(num, den):
    return None if not den else num / den


def _money(value) -> Decimal | None:
    return None if value is None else money.quantize(value)


@dataclass
class ProjectReport:
    project: Project
    budget: Decimal
    spent: Decimal
    reserved: Decimal
    remaining: Decimal
    items: int
    items_by_status: dict[str, int]
    labels_by_source: dict[str, int]
    labeled: int
    answers: int
    answers_per_label: float | None
    measured_accuracy: float | None
    measured_count: int
    estimated_accuracy: float | None
    cost_per_label: Decimal | None
    cost_per_accurate_label_measured: Decimal | None
    cost_per_accurate_label_estimated: Decimal | None
    spend_per_day: Decimal | None
    budget_runs_out_on: date | None
    work_done_on: date | None
    daily: list[dict] = field(default_factory=list)
    workers: list[dict] = field(default_factory=list)
    model_passes: list[dict] = field(default_factory=list)


def project_report(*, project: Project, today: date | None = None) -> ProjectReport:
    project = Project.objects.get(pk=project.pk)
    today = today or timezone.localdate()
    items = Item.objects.filter(project=project)
    by_status = dict(items.values_list("status").annotate(n=Count("id")).order_by())
    by_source = dict(
        items.filter(status="final").values_list("label_source").annotate(n=Count("id")).order_by()
    )
    labeled_qs = items.filter(status="final", label_source__in=LABELED)
    quality = labeled_qs.aggregate(
        n=Count("id"),
        confidence=Avg("confidence"),
        audited=Count("id", filter=~Q(audit_label="")),
        correct=Count("id", filter=~Q(audit_label="") & Q(final_label=F("audit_label"))),
    )
    labeled = quality["n"]
    answers = Assignment.objects.filter(
        project=project, kind="task", status__in=Assignment.ANSWERED
    ).count()
    spent = project.spent
    measured = _ratio(quality["correct"], quality["audited"])
    estimated = quality["confidence"]

    def per_accurate(accuracy):
        if not labeled or not accuracy:
            return None
        return money.quantize(spent / Decimal(labeled) / Decimal(str(round(accuracy, 6))))

    daily = _daily(project=project)
    recent = [d for d in daily if d["day"] > today - timedelta(days=7)]
    first_day = daily[0]["day"] if daily else today
    window_days = max(1, min(7, (today - first_day).days + 1))
    recent_spend = sum((d["spent"] for d in recent), Decimal(0))
    rate = recent_spend / window_days if recent_spend else None
    runs_out = today + timedelta(days=int(project.remaining / rate)) if rate else None
    recent_labels = sum(d["labeled"] for d in recent)
    open_items = by_status.get("open", 0) + by_status.get("review", 0)
    done_on = (
        today + timedelta(days=int(open_items / (recent_labels / window_days)))
        if recent_labels and open_items
        else (today if not open_items and labeled else None)
    )
    return ProjectReport(
        project=project,
        budget=project.budget,
        spent=spent,
        reserved=project.reserved,
        remaining=project.remaining,
        items=sum(by_status.values()),
        items_by_status=by_status,
        labels_by_source=by_source,
        labeled=labeled,
        answers=answers,
        answers_per_label=_ratio(answers, labeled),
        measured_accuracy=measured,
        measured_count=quality["audited"],
        estimated_accuracy=estimated,
        cost_per_label=_money(spent / labeled) if labeled else None,
        cost_per_accurate_label_measured=per_accurate(measured),
        cost_per_accurate_label_estimated=per_accurate(estimated),
        spend_per_day=_money(rate),
        budget_runs_out_on=runs_out,
        work_done_on=done_on,
        daily=daily,
        workers=_workers(project=project),
        model_passes=model_passes(project=project),
    )


def _daily(*, project: Project) -> list[dict]:
    """Per day: money spent, labels finished, and their running totals, for the charts."""
    spend = dict(
        LedgerEntry.objects.filter(project=project, movement__in=SPEND)
        .values_list("day")
        .annotate(s=Sum("amount"))
        .order_by()
    )
    labels = {
        day: (n, conf)
        for day, n, conf in Item.objects.filter(
            project=project, status="final", label_source__in=LABELED, finalized_on__isnull=False
        )
        .values_list("finalized_on")
        .annotate(n=Count("id"), c=Sum("confidence"))
        .order_by()
    }
    days = sorted(set(spend) | set(labels))
    rows, total_spent, total_labels, total_conf = [], Decimal(0), 0, 0.0
    for day in days:
        s = spend.get(day) or Decimal(0)
        n, c = labels.get(day, (0, 0.0))
        total_spent += s
        total_labels += n
        total_conf += c or 0.0
        estimated = total_conf / total_labels if total_labels else None
        rows.append(
            {
                "day": day,
                "spent": money.quantize(s),
                "labeled": n,
                "spent_total": money.quantize(total_spent),
                "remaining": money.quantize(project.budget - total_spent),
                "labeled_total": total_labels,
                "estimated_accuracy": estimated,
                "cost_per_accurate_label": (
                    money.quantize(
                        total_spent / Decimal(total_labels) / Decimal(str(round(estimated, 6)))
                    )
                    if total_labels and estimated
                    else None
                ),
            }
        )
    return rows


def _workers(*, project: Project) -> list[dict]:
    earned = dict(
        LedgerEntry.objects.filter(project=project, movement__in=SPEND)
        .values_list("worker_id")
        .annotate(s=Sum("amount"))
        .order_by()
    )
    rows = []
    for s in (
        WorkerStanding.objects.filter(project=project)
        .select_related("worker__user")
        .order_by("-answers", "pk")
    ):
        earnings = money.quantize(earned.get(s.worker_id) or 0)
        accurate = s.answers * (s.estimated_accuracy or 0)
        rows.append(
            {
                "worker_id": s.worker_id,
                "worker": s.worker.user.get_username(),
                "state": s.state,
                "answers": s.answers,
                "estimated_accuracy": s.estimated_accuracy,
                "gold_accuracy": s.gold_accuracy,
                "gold_answers": s.gold_answers,
                "earnings": earnings,
                "cost_per_accurate_answer": (
                    money.quantize(earnings / Decimal(str(round(accurate, 6))))
                    if accurate
                    else None
                ),
            }
        )
    return rows


def reports_visible(*, user):
    """Projects whose reports ``user`` may read: their own; every project for managers (active
    staff in the Managers group) and superusers."""
    if user.is_superuser or is_manager(user):
        return Project.objects.all()
    return Project.objects.filter(owner=user)


def model_passes(*, project: Project) -> list[dict]:
    """Per model version: its own out-of-fold figures, what it labeled alone, what people labeled
    with its vote in the posterior, and how right it was where people or audit labels can tell.

    Its agreement with people is counted only on labels no useful version's vote helped decide
    (``tasks.models.MEASURES_MODEL``: the spot-check share, experts' labels): a label one
    person settled together with the agreeing vote agrees with the model partly because of it."""
    people = Q(status="final", label_source__in=["crowd", "review"])
    versions = list(ModelVersion.objects.filter(project=project).order_by("version"))
    if not versions:
        return []
    stats = {
        row["model_version"]: row
        for row in Item.objects.filter(project=project, model_version__in=versions)
        .values("model_version")
        .annotate(
            by_model=Count("id", filter=Q(status="final", label_source="model")),
            by_people=Count("id", filter=people),
            checked=Count("id", filter=people & MEASURES_MODEL),
            agreed=Count("id", filter=people & MEASURES_MODEL & Q(model_label=F("final_label"))),
            audited=Count(
                "id", filter=Q(status="final", label_source="model") & ~Q(audit_label="")
            ),
            audit_correct=Count(
                "id",
                filter=Q(status="final", label_source="model", final_label=F("audit_label"))
                & ~Q(audit_label=""),
            ),
            answers=Sum("answers_count"),
        )
        .order_by()
    }
    rows = []
    for v in versions:
        s = stats.get(v.pk, {})
        rows.append(
            {
                "version": v.version,
                "created_at": v.created_at,
                "n_train": v.n_train,
                "cv_accuracy": v.cv_accuracy,
                "is_useful": v.is_useful,
                "labeled_by_model": s.get("by_model", 0),
                "labeled_by_people": s.get("by_people", 0),
                "answers_bought": s.get("answers") or 0,
                "agreement_with_people": _ratio(s.get("agreed", 0), s.get("checked", 0)),
                "agreement_count": s.get("checked", 0),
                "measured_accuracy": _ratio(s.get("audit_correct", 0), s.get("audited", 0)),
                "measured_count": s.get("audited", 0),
            }
        )
    return rows
