"""What a simulation bought and how good its labels are, read back from the database.

Accounting (see docs/simulator.md):
- *answers bought*: stored answers that carry a reward (paid after the run's settlement); unpaid
  exam answers are counted apart. *Money spent*: the project's ``spent`` counter, checked
  against the ledger (``billing.selectors.ledger_mismatches``).
- *final labels*: every non-gold item with at least one answer gets a label: its final label if
  it is final, otherwise (open or review) the most likely label under the project's last refit
  (the same estimator, on the same answers and gold). Gold items given to the platform are not
  labels the platform produced and are not counted.
- *accuracy*: on the hidden gold only (items imported with an ``audit_label``, which workers and
  quality control never see), over the hidden-gold items that got a label; *coverage* is the
  share of hidden-gold items that got one.
- *cost per accurate label* = money spent ÷ (labeled items × accuracy).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from django.db.models import Count, Sum

from aggregation import encode, make_estimator
from aggregation.services import known_labels
from billing.models import LedgerEntry, Movement
from billing.selectors import ledger_mismatches
from hitl_platform import money
from reports.selectors import model_passes
from tasks.models import Assignment, Item, Project
from workers.models import WorkerStanding

from .engine import Run


def consensus_labels(project: Project) -> dict[int, str]:
    """Most likely label of every answered item under the project's estimator (what its last
    refit computed: same answers, same known labels clamped, deterministic fit)."""
    rows = list(
        Assignment.objects.filter(project=project, status__in=Assignment.ANSWERED).values_list(
            "item_id", "worker_id", "label"
        )
    )
    if not rows:
        return {}
    item_ids, worker_ids, labels = zip(*rows, strict=True)
    answers = encode(
        np.asarray(item_ids), np.asarray(worker_ids), np.asarray(labels), project.labels
    )
    code = {label: i for i, label in enumerate(project.labels)}
    task_code = {int(t): i for i, t in enumerate(answers.task_ids)}
    gold = {
        task_code[pk]: code[label]
        for pk, label in known_labels(project=project, item_ids=list(task_code)).items()
    }
    model = make_estimator(project.aggregation_method).fit(answers, gold=gold)
    return {
        int(t): str(answers.label_ids[c])
        for t, c in zip(answers.task_ids, model.labels_, strict=True)
    }


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(money.quantize(value))


def run_results(run: Run, *, with_labels: bool = True) -> dict:
    """The report of a finished run, as a JSON-ready dict."""
    project = Project.objects.get(pk=run.project.pk)
    answered = Assignment.objects.filter(project=project, status__in=Assignment.ANSWERED)
    by_kind = dict(answered.values_list("kind").annotate(n=Count("id")).order_by())
    bought = answered.filter(reward__gt=0).count()
    approved = LedgerEntry.objects.filter(project=project, movement=Movement.APPROVE).aggregate(
        s=Sum("amount"), n=Count("id")
    )
    consensus = consensus_labels(project)
    items = list(
        Item.objects.filter(project=project, gold_label="").values_list(
            "pk",
            "external_id",
            "status",
            "final_label",
            "audit_label",
            "answers_count",
            "label_source",
        )
    )
    labels: dict[str, str] = {}
    status_count: dict[str, int] = {}
    source_count: dict[str, int] = {}
    for pk, ext, status, final, _, n, source in items:
        status_count[status] = status_count.get(status, 0) + 1
        if status == "final":
            source_count[source] = source_count.get(source, 0) + 1
        label = final if status == "final" and final else (consensus.get(pk) if n else None)
        if label:
            labels[ext] = label
    hidden = [(ext, audit) for _, ext, _, _, audit, _, _ in items if audit]
    scored = [(labels[ext], audit) for ext, audit in hidden if ext in labels]
    correct = sum(1 for got, want in scored if got == want)
    accuracy = correct / len(scored) if scored else None
    spent = project.spent
    cost_per_accurate = (
        money.quantize(spent / Decimal(len(labels)) / Decimal(str(round(accuracy, 6))))
        if labels and accuracy
        else None
    )
    task_answers = by_kind.get("task", 0)
    report = {
        "dataset": run.dataset.name,
        "project_id": project.pk,
        "policy": run.config.policy,
        "workers": run.config.workers,
        "presence": (
            run.config.presence if run.config.workers == "replay" and not run.remote else None
        ),
        "seed": run.config.seed,
        "settings": {
            "reward": _dec(project.reward),
            "budget": _dec(project.budget),
            "min_overlap": project.min_overlap,
            "max_overlap": project.max_overlap,
            "target_confidence": project.target_confidence,
            "gold_share": run.config.gold_share,
            "gold_rate": project.gold_rate,
            "exam_size": project.exam_size,
            "method": project.aggregation_method,
            "refit_every": project.refit_every,
            "abandon": run.config.abandon,
            "blocking": run.config.blocking,
            "refit_minutes": run.config.refit_minutes,
        },
        "items": len(items),
        "gold_items_given": len(run.given_gold),
        "hidden_gold_items": len(hidden),
        "answers_available": run.answers_available,
        "answers_bought": bought,
        "answers_unpaid_exam": by_kind.get("exam", 0),
        "answers_by_kind": by_kind,
        "answers_per_item": round(task_answers / len(items), 4) if items else None,
        "money_spent": _dec(spent),
        "money_reserved": _dec(project.reserved),
        "ledger_approved": _dec(approved["s"] or 0),
        "ledger_ok": not ledger_mismatches(project=project),
        "labeled_items": len(labels),
        "items_by_status": status_count,
        "final_by_source": source_count,
        "model_share": round(source_count.get("model", 0) / len(labels), 6) if labels else 0.0,
        "accuracy": None if accuracy is None else round(accuracy, 6),
        "accuracy_items": len(scored),
        "accuracy_correct": correct,
        "coverage": round(len(scored) / len(hidden), 6) if hidden else None,
        "cost_per_accurate_label": _dec(cost_per_accurate),
        "stopped_by": run.stopped_by,
        "blocked_workers": WorkerStanding.objects.filter(
            project=project, state=WorkerStanding.State.BLOCKED
        ).count(),
        "events": dict(run.counters),
        "simulated_hours": round(run.simulated_seconds / 3600, 3),
        "wall_seconds": round(run.wall_seconds, 2),
        "model": run.config.model,
        "model_features": project.model_features if run.config.model else {},
        "model_versions": [
            {**row, "created_at": row["created_at"].isoformat()}
            for row in model_passes(project=project)
        ],
    }
    if with_labels:
        report["final_labels"] = labels
    return report


def summary_lines(report: dict) -> list[str]:
    """The human-readable summary the command prints."""
    acc = report["accuracy"]
    lines = [
        f"dataset {report['dataset']}: {report['workers']} workers"
        + (f" (present {report['presence']})" if report["presence"] else "")
        + f", {report['policy']} policy "
        f"(overlap {report['settings']['min_overlap']}–{report['settings']['max_overlap']}, "
        f"target {report['settings']['target_confidence']}, method {report['settings']['method']}), "
        f"project {report['project_id']}",
        f"answers bought      {report['answers_bought']}"
        + (
            f" of {report['answers_available']} recorded"
            f" ({report['answers_bought'] / report['answers_available']:.1%})"
            if report["answers_available"]
            else ""
        )
        + f"; {report['answers_per_item']} task answers per item",
        f"money spent         {report['money_spent']} (ledger {'agrees' if report['ledger_ok'] else 'DISAGREES'}; reserved {report['money_reserved']})",
        f"final labels        {report['labeled_items']} of {report['items']} items "
        f"({', '.join(f'{k} {v}' for k, v in sorted(report['items_by_status'].items()))})",
        "accuracy            "
        + ("n/a (no hidden gold)" if acc is None else f"{acc:.2%}")
        + f" on {report['accuracy_items']} hidden-gold items (coverage "
        + ("n/a" if report["coverage"] is None else f"{report['coverage']:.1%}")
        + ")",
        f"cost per accurate label  {report['cost_per_accurate_label']}",
        f"stopped by          {report['stopped_by']}; {report['events']['refits']} refits, "
        f"{report['events']['expired']} leases expired, {report['events']['skips']} skips, "
        f"{report['blocked_workers']} workers blocked",
        f"time                {report['simulated_hours']} simulated hours in {report['wall_seconds']} s",
    ]
    versions = report["model_versions"]
    if not report["model"]:
        lines.append("model               off")
    elif not versions:
        lines.append("model               on; never trained (too few final labels)")
    else:
        lines.append(
            f"model               on; {len(versions)} versions, labeled "
            f"{report['final_by_source'].get('model', 0)} items alone "
            f"({report['model_share']:.1%} of the labels)"
        )
        for v in versions:
            measured = (
                f"{v['measured_accuracy']:.1%} on {v['measured_count']} audited"
                if v["measured_accuracy"] is not None
                else "not audited"
            )
            lines.append(
                f"  v{v['version']}: trained on {v['n_train']}, out-of-fold {v['cv_accuracy']:.1%}"
                f"{'' if v['is_useful'] else ' (no better than chance: labels nothing)'}; "
                f"labeled {v['labeled_by_model']} alone ({measured}), "
                f"{v['labeled_by_people']} by people with its vote"
            )
    return lines


__all__ = ["consensus_labels", "run_results", "summary_lines"]
