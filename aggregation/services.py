"""Django glue of the aggregation engine: posteriors on submit, refits over a project.

This module is the only part of ``aggregation`` that knows Django; ``import aggregation`` does not
load it. It reads answers from ``tasks`` and worker standings from ``workers`` and writes the
worker model back (confusion matrices, estimated accuracy, class prior) and item decisions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from aggregation import encode, make_estimator, posterior
from aggregation.learning import combine
from hitl_platform.db import rows_update
from tasks.models import Assignment, Item, ModelVersion, Project
from workers.models import WorkerStanding

logger = logging.getLogger(__name__)

#: An unseen worker, before any refit: right with this probability, errors spread evenly.
DEFAULT_ACCURACY = 0.7
GOLD_PRIOR = (2, 2)  # Beta prior on gold accuracy: three lucky answers do not make an expert.
REDECIDE_CHUNK = 1000


def one_coin(accuracy: float, k: int) -> np.ndarray:
    off = (1.0 - accuracy) / (k - 1)
    return np.full((k, k), off) + np.eye(k) * (accuracy - off)


def gold_accuracy(correct: int, answered: int) -> float:
    a, b = GOLD_PRIOR
    return (correct + a) / (answered + a + b)


def project_worker_model(project: Project) -> tuple[np.ndarray, np.ndarray]:
    """The class prior and an unseen worker's confusion matrix, from the last refit or defaults."""
    k = len(project.labels)
    prior = np.asarray(project.class_prior) if project.class_prior else np.full(k, 1.0 / k)
    confusion = (
        np.asarray(project.prior_confusion)
        if project.prior_confusion
        else one_coin(DEFAULT_ACCURACY, k)
    )
    return prior, confusion


def _item_answers(item: Item, project: Project) -> tuple[np.ndarray, list, np.ndarray]:
    """The item's answers: label codes, each worker's confusion matrix (``None`` for a worker
    the model has not seen) and the evidence behind it, in one query; kept on the item, so that
    ``item_posterior`` and ``item_decide`` on the same submit read them once."""
    cached = getattr(item, "_answers", None)
    if cached is not None:
        return cached
    with connection.cursor() as cursor:
        cursor.execute(ITEM_ANSWERS_SQL, [project.pk, item.pk])
        item_answers_keep(item, project, cursor.fetchall())
    return item._answers


# Hand-written (every submit runs it); one standing per worker and project. Parameters: project,
# item. Rows: label, the worker's confusion matrix (JSON, or NULL), their evidence, answer id.
ITEM_ANSWERS_SQL = (
    "SELECT a.label, s.confusion, s.evidence_answers, a.id FROM tasks_assignment a"
    " LEFT JOIN workers_workerstanding s ON s.project_id = %s AND s.worker_id = a.worker_id"
    " WHERE a.item_id = %s AND a.status IN ('submitted', 'approved', 'rejected')"
)


def item_answers_keep(item: Item, project: Project, rows) -> None:
    """Keep ``ITEM_ANSWERS_SQL``'s rows on the item, in answer order, for ``_item_answers``
    (the submit reads them in the statement that stores its answer)."""
    rows = [
        (label, json.loads(m) if isinstance(m, str) else m, e)
        for label, m, e, _ in sorted(rows, key=lambda row: row[3])
    ]
    code = {label: i for i, label in enumerate(project.labels)}
    labels = np.asarray([code[label] for label, _, _ in rows], dtype=np.intp)
    evidence = np.asarray([(e or 0) if m is not None else 0 for _, m, e in rows], dtype=float)
    item._answers = (labels, [m for _, m, _ in rows], evidence)


def item_posterior(*, item: Item, project: Project) -> np.ndarray:
    """``p(label | answers)`` of one item under the current worker model; O(answers of the item)."""
    labels, matrices, _ = _item_answers(item, project)
    class_prior, prior_confusion = project_worker_model(project)
    k = len(project.labels)
    known = [m for m in matrices if m is not None]
    stack = np.asarray(known, dtype=float).reshape(len(known), k, k)
    index = np.cumsum([m is not None for m in matrices]) - 1
    workers = np.asarray(
        [index[i] if m is not None else -1 for i, m in enumerate(matrices)], dtype=np.intp
    )
    return posterior((workers, labels), stack, class_prior, prior_confusion)


def typical_accuracy(project: Project) -> float:
    """Accuracy of the crowd's typical worker under the current worker model:
    ``Σ_k π_k C̄[k, k]`` with ``C̄`` the prior mean of a confusion matrix (an unseen worker's)."""
    class_prior, prior_confusion = project_worker_model(project)
    return float(np.dot(class_prior, np.diag(prior_confusion)))


def conservative_posterior(*, item: Item, project: Project) -> np.ndarray:
    """``p(label | answers)`` under a worker model that trusts an estimate only as far as the
    evidence behind it goes.

    Worker ``w``'s confusion is ``C̃_w = (e_w C_w + m T) / (e_w + m)``: ``C_w`` the refit's
    estimate, ``e_w`` the worker's answers that could be compared with someone else's or with gold
    (``WorkerStanding.evidence_answers``), ``T`` the typical worker (one-coin at the crowd's
    typical accuracy, kept in [1/K, 0.999]) and ``m`` the project's
    ``block_estimated_min_answers``, the evidence the project already asks for before it judges
    a worker by their estimate. A worker the refit believes nearly infallible on a handful of
    answers thus counts about like anyone else, while a well-measured worker (good or bad) keeps
    their weight. The class prior is uniform: on few answers per item a refit can put nearly all
    the prior on one label (seen on ``web``: 5 grades, 1–2 answers an item), and stopping on that
    would label every item with it.
    """
    labels, matrices, evidence = _item_answers(item, project)
    k = len(project.labels)
    typical = one_coin(min(max(typical_accuracy(project), 1.0 / k), 0.999), k)
    m = max(float(project.block_estimated_min_answers), 1.0)
    log_p = np.zeros(k)  # a uniform class prior: a refit on few answers can collapse it
    for label, matrix, e in zip(labels, matrices, evidence, strict=True):
        c = typical if matrix is None else (e * np.asarray(matrix) + m * typical) / (e + m)
        log_p = log_p + np.log(np.clip(c[:, label], 1e-12, None))
    p = np.exp(log_p - log_p.max())
    return p / p.sum()


ModelVote = tuple  # (voter_confusion B×K×K, confidence bin, label code): the model's answer


def spot_checked(item_pk: int, rate: float) -> bool:
    """Whether an item is in the model's audit share (``spot_check_rate``, chosen by a hash of
    the item, so it is stable): the model never labels it alone, and people decide it without
    the model's vote, so these labels keep measuring the model honestly."""
    digest = hashlib.blake2b(str(item_pk).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 2**32 < rate


def model_vote(*, item: Item, project: Project, votes: dict | None = None) -> ModelVote | None:
    """The pre-labeler's vote on ``item`` as ``(voter_confusion, bin, label code)``; ``None`` when
    the item has no vote, its model version is no better than chance (do no harm), or the item
    is spot-checked (people decide it alone: :func:`spot_checked`).

    ``votes`` (``{version pk: voter_confusion}`` of the project's useful versions) saves the query
    when deciding many items; without it, one query for items that carry a vote, none otherwise.
    """
    if item.model_version_id is None or not item.model_label:
        return None
    if spot_checked(item.pk, project.spot_check_rate):
        return None
    if votes is None:
        row = (
            ModelVersion.objects.filter(pk=item.model_version_id, is_useful=True)
            .values_list("voter_confusion", flat=True)
            .first()
        )
        confusion = None if row is None else np.asarray(row)
    else:
        confusion = votes.get(item.model_version_id)
    if confusion is None:
        return None
    return confusion, item.model_bin or 0, project.labels.index(item.model_label)


def useful_votes(project: Project) -> dict:
    """``{version pk: voter_confusion}`` of the project's model versions better than chance."""
    return {
        pk: np.asarray(confusion)
        for pk, confusion in ModelVersion.objects.filter(
            project=project, is_useful=True
        ).values_list("pk", "voter_confusion")
    }


def required_answers(*, project: Project, vote: ModelVote | None) -> int:
    """People's answers an item needs before it can be final: the project's minimum overlap, of
    which a useful model vote counts as one (never fewer than one person)."""
    return max(1, project.min_overlap - 1) if vote is not None else project.min_overlap


def routing_key(*, confidence: float, answers: int, required: int) -> float:
    """An open item's routing key once people have answered it (lowest is served first).

    Below its minimum answers (``required_answers``): ``confidence - 1``, so every started item
    reaches its minimum before any item gets more than it needs; from there, its confidence: the
    least certain first. Items nobody answered keep ``tasks.services.unstarted_priority`` (or the
    model vote's confidence); why the minimum comes first: docs/simulator.md, *Routing*.
    """
    return confidence - 1.0 if answers < required else confidence


def confident_enough(
    *, item: Item, proba: np.ndarray, project: Project, vote: ModelVote | None = None
) -> bool:
    """The stopping rule: may ``item`` stop getting answers with label ``argmax(proba)``?

    Both: its minimum answers (``required_answers``) and ``proba`` (its posterior under the
    current worker model, with the model's ``vote`` if any) reaching the target; and the
    *conservative* posterior (``conservative_posterior``, with the same vote) reaching the target
    on the same label. Stopping on a posterior that a sparse refit made over-confident is the trap
    this avoids: alone, the per-worker posterior finalizes items on the say of one or two workers
    believed excellent on little evidence. The model's vote is calibrated apart (out of fold), so
    it enters both posteriors as it is.
    """
    best = int(np.argmax(proba))
    if (
        item.answers_count < required_answers(project=project, vote=vote)
        or proba[best] < project.target_confidence
    ):
        return False
    safe = conservative_posterior(item=item, project=project)
    if vote is not None:
        safe = combine(safe, *vote)
    return int(np.argmax(safe)) == best and safe[best] >= project.target_confidence


def item_decide(
    *, item: Item, proba: np.ndarray, project: Project, vote: ModelVote | None = None
) -> bool:
    """Set an item's confidence, routing key and status from its posterior; returns whether
    anything changed.

    ``proba`` is the posterior from people's answers and, when ``vote`` is given, the model's vote
    (``combine``). Final when the stopping rule (``confident_enough``) holds: the most likely
    label reaches the target confidence under the per-worker model and under a conservative one,
    with the item's minimum answers; review when it has its maximum answers and is still
    uncertain; open otherwise. Gold items and items a person decided in review keep their label.
    An item already final with the same label stays final without re-reading its answers (a refit
    re-decides every item; only a change of label or a confidence below the target re-opens it).
    """
    if item.gold_label or item.label_source in (Item.Source.GOLD, Item.Source.REVIEW):
        return False
    before = _decision(item)
    best = int(np.argmax(proba))
    item.confidence = round(float(proba[best]), 6)
    item.priority = routing_key(
        confidence=item.confidence,
        answers=item.answers_count,
        required=required_answers(project=project, vote=vote),
    )
    keeps = (
        item.status == "final"
        and item.final_label == project.labels[best]
        and item.confidence >= project.target_confidence
        and item.answers_count >= required_answers(project=project, vote=vote)
    )
    if keeps or confident_enough(item=item, proba=proba, project=project, vote=vote):
        if item.status != "final":
            item.finalized_on = timezone.localdate()
        item.status, item.final_label, item.label_source = "final", project.labels[best], "crowd"
    elif item.answers_count >= project.max_overlap:
        item.status, item.final_label, item.label_source = "review", "", ""
        item.finalized_on = None
    else:
        item.status, item.final_label, item.label_source = "open", "", ""
        item.finalized_on = None
    return before != _decision(item)


def _decision(item: Item) -> tuple:
    """What ``item_decide`` sets: compared before and after to tell whether to write the item."""
    return (item.status, item.final_label, item.confidence, item.priority, item.label_source)


def item_settle(*, item: Item, label: str, now) -> None:
    """A person the requester trusts (an expert) decided the item: final with their label,
    source ``review``; refits keep it and clamp it like a gold label."""
    item.status, item.final_label, item.label_source = "final", label, Item.Source.REVIEW
    item.confidence = item.priority = 1.0
    item.finalized_on = timezone.localdate(now)


def item_reassess(*, item: Item, project: Project) -> bool:
    """Re-decide one item after a new answer: people's posterior, the model's vote if useful."""
    vote = model_vote(item=item, project=project)
    proba = item_posterior(item=item, project=project)
    if vote is not None:
        proba = combine(proba, *vote)
    return item_decide(item=item, proba=proba, project=project, vote=vote)


@dataclass
class RefitResult:
    answers: int
    workers: int
    items_changed: int
    n_iter: int


REFIT_TIMEOUT = timedelta(minutes=30)


def project_refit(*, project: Project) -> RefitResult | None:
    """Refit unless another refit of the project is running (then ``None``); see ``_refit``.

    One at a time per project, by a compare-and-swap on ``refit_started_at``; a refit whose
    process died frees the slot after ``REFIT_TIMEOUT``.
    """
    now = timezone.now()
    claimed = (
        Project.objects.filter(pk=project.pk)
        .filter(Q(refit_started_at__isnull=True) | Q(refit_started_at__lt=now - REFIT_TIMEOUT))
        .update(refit_started_at=now)
    )
    if not claimed:
        logger.info("refit of project %s skipped: another refit is running", project.pk)
        return None
    try:
        return _refit(project=project)
    finally:
        Project.objects.filter(pk=project.pk).update(refit_started_at=None)


def known_labels(*, project: Project, item_ids: list[int]) -> dict[int, str]:
    """The labels a refit clamps, by item: gold items' and those an expert settled (``review``)."""
    return {
        pk: gold or final
        for pk, gold, final in Item.objects.filter(project=project, pk__in=item_ids)
        .filter(~Q(gold_label="") | Q(label_source=Item.Source.REVIEW))
        .values_list("pk", "gold_label", "final_label")
    }


def _refit(*, project: Project) -> RefitResult:
    """Refit the project's aggregation model over all its answers, gold clamped.

    Stores each worker's confusion matrix, estimated accuracy, gold accuracy and median answer
    time, the class prior and an unseen worker's confusion, and re-decides every answered item.
    Safe to run twice and beside live traffic: an item that got a new answer since the snapshot
    was read is left to the submit that decided it (checked under a row lock, chunk by chunk).
    """
    counted = Project.objects.values_list("answers_since_refit", flat=True).get(pk=project.pk)
    rows = list(
        Assignment.objects.filter(project=project, status__in=Assignment.ANSWERED).values_list(
            "item_id", "worker_id", "label", "seconds_spent"
        )
    )
    if not rows:
        return RefitResult(0, 0, 0, 0)
    item_ids, worker_ids, labels, seconds = zip(*rows, strict=True)
    answers = encode(
        np.asarray(item_ids), np.asarray(worker_ids), np.asarray(labels), project.labels
    )
    k = len(project.labels)
    code = {label: i for i, label in enumerate(project.labels)}
    gold_items = known_labels(project=project, item_ids=answers.task_ids.tolist())
    task_code = {int(t): i for i, t in enumerate(answers.task_ids)}
    gold = {task_code[pk]: code[label] for pk, label in gold_items.items()}
    estimator = make_estimator(project.aggregation_method).fit(answers, gold=gold)
    skills = np.asarray(estimator.skills_, dtype=float)
    confusion = getattr(estimator, "confusion_", None)
    if confusion is None:
        confusion = np.stack([one_coin(float(np.clip(s, 1e-3, 1 - 1e-3)), k) for s in skills])
    class_prior = getattr(estimator, "class_prior_", None)
    if class_prior is None:
        class_prior = estimator.proba_.mean(axis=0)
    prior_confusion = getattr(estimator, "prior_confusion_", None)
    if prior_confusion is None:
        prior_confusion = confusion.mean(axis=0)

    # Worker standings.
    times: dict[int, list[float]] = {}
    for w, s in zip(worker_ids, seconds, strict=True):
        if s is not None:
            times.setdefault(w, []).append(s)
    worker_code = {w: i for i, w in enumerate(answers.worker_ids.tolist())}
    # An accuracy estimate rests on answers that can be compared: items with another answer, or gold.
    per_task = np.bincount(answers.task, minlength=answers.n_tasks)
    comparable = per_task[answers.task] >= 2
    if gold:
        comparable |= np.isin(answers.task, np.fromiter(gold.keys(), dtype=np.int64))
    evidence = np.bincount(answers.worker, weights=comparable, minlength=answers.n_workers)
    with transaction.atomic():  # standings locked in primary-key order, like every other locker
        standings = list(
            WorkerStanding.objects.select_for_update()
            .filter(project=project, worker_id__in=list(worker_code))
            .order_by("pk")
        )
        for standing in standings:
            i = worker_code[standing.worker_id]
            standing.confusion = np.round(confusion[i], 6).tolist()
            standing.estimated_accuracy = round(float(skills[i]), 6)
            standing.evidence_answers = int(evidence[i])
            standing.gold_accuracy = (
                round(gold_accuracy(standing.gold_correct, standing.gold_answers), 6)
                if standing.gold_answers
                else None
            )
            w = standing.worker_id
            standing.median_seconds = statistics.median(times[w]) if w in times else None
        rows_update(
            WorkerStanding,
            standings,
            [
                "confusion",
                "estimated_accuracy",
                "evidence_answers",
                "gold_accuracy",
                "median_seconds",
            ],
        )

    # Item decisions, against the counts the snapshot saw, with the model's vote where useful.
    votes = useful_votes(project)
    seen = np.bincount(answers.task, minlength=answers.n_tasks)
    changed = 0
    ids = [int(t) for t in answers.task_ids if int(t) not in gold_items]
    for start in range(0, len(ids), REDECIDE_CHUNK):
        chunk = ids[start : start + REDECIDE_CHUNK]
        with transaction.atomic():
            items = list(
                Item.objects.select_for_update()
                .filter(pk__in=chunk)
                .exclude(label_source__in=["gold", "review"])
            )
            dirty = []
            for item in items:
                t = task_code[item.pk]
                if item.answers_count != seen[t]:
                    continue  # answered meanwhile: that submit decided it with fresher data
                proba = estimator.proba_[t]
                vote = model_vote(item=item, project=project, votes=votes)
                if vote is not None:  # the model: one more voter
                    proba = combine(proba, *vote)
                if item_decide(item=item, proba=proba, project=project, vote=vote):
                    dirty.append(item)
            rows_update(
                Item,
                dirty,
                ["status", "final_label", "confidence", "priority", "label_source", "finalized_on"],
            )
            changed += len(dirty)

    Project.objects.filter(pk=project.pk).update(
        class_prior=np.round(class_prior, 6).tolist(),
        prior_confusion=np.round(prior_confusion, 6).tolist(),
        answers_since_refit=Greatest(F("answers_since_refit") - counted, 0),
        refitted_at=timezone.now(),
    )
    logger.info(
        "refit project %s: %d answers, %d workers, %d items changed",
        project.pk,
        len(rows),
        answers.n_workers,
        changed,
    )
    return RefitResult(len(rows), answers.n_workers, changed, int(getattr(estimator, "n_iter_", 0)))
