"""Django glue of the pre-labeler: train a project's model, let it vote, let it label alone.

The model (``aggregation.learning.PreLabeler``) is trained on the project's final labels that
people or gold gave (never on its own labels), weighted by their confidence. It measures itself
out of fold only on the labels that no useful model version's vote helped decide
(``Item.model_assisted`` false: labels from before its first useful version and the spot-check
share; and gold and experts' answers): a label people settled together with the model agrees
with the model partly because of it, and measuring on it would let each version trust itself
more than the last. It then votes on every open item: its
vote enters the item's posterior as one more voter (``combine``), which also moves the routing
key, so people get the items the model is least sure of first. An item with no human answer yet
whose posterior with the model's vote reaches the project's ``auto_label_threshold`` becomes
final with source ``model``, except a spot-check share (chosen by a hash of the item, so it is
stable) that goes to people first, who decide it without the model's vote and so keep the model
measured, and never past ``max_model_share`` of the project's items.

Do no harm: a model no better than chance out of fold (``is_useful_`` False) has a neutral
voter confusion, labels nothing and changes no routing.
"""

from __future__ import annotations

import logging

import numpy as np
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Max
from django.db.models.functions import Greatest
from django.utils import timezone

from aggregation.learning import FeatureSpec, PreLabeler, combine
from audit.services import audit_record
from hitl_platform.db import rows_update
from tasks.models import MEASURES_MODEL, Item, ModelVersion, Project

from .services import project_worker_model, spot_checked

logger = logging.getLogger(__name__)

HUMAN_SOURCES = ("crowd", "gold", "review")
CHUNK = 2000


def training_check_due(project: Project, labels: int) -> bool:
    """Whether a submit that brought ``Project.labels_since_training`` (items people's submits
    settled since the last training) to ``labels`` queues a training check
    (``aggregation.jobs.project_train_job``, where ``training_due`` decides on every label,
    gold and refits' included): every tenth of the smaller of ``model_min_labels`` and
    ``model_retrain_every``, so the model learns as labels arrive rather than at the next refit,
    normally at most a tenth of a training's labels late (a check that finds a refit running
    leaves the project to it)."""
    step = max(1, min(project.model_min_labels, project.model_retrain_every) // 10)
    return labels % step == 0


def training_due(*, project: Project) -> bool:
    """Enough labels for a first training, or ``model_retrain_every`` new ones since the last."""
    if not project.model_enabled or not project.model_features:
        return False
    labeled = Item.objects.filter(
        project=project, status="final", label_source__in=HUMAN_SOURCES
    ).count()
    last = project.model_versions.order_by("-version").first()
    if last is None:
        return labeled >= project.model_min_labels
    return labeled - last.n_train >= project.model_retrain_every


def project_train(*, project: Project) -> ModelVersion | None:
    """Train a new model version, store its votes on the open items, auto-label what it may."""
    project = Project.objects.get(pk=project.pk)
    counted = project.labels_since_training
    rows = list(
        Item.objects.filter(project=project, status="final", label_source__in=HUMAN_SOURCES)
        .annotate(measures=ExpressionWrapper(MEASURES_MODEL, output_field=BooleanField()))
        .order_by("pk")
        .values_list("payload", "final_label", "confidence", "measures")
    )
    if len(rows) < max(project.model_min_labels, 2):
        return None
    # Labels a useful version's vote helped decide teach the model but do not measure it.
    payloads, labels, weights, measured = zip(*rows, strict=True)
    spec = FeatureSpec(
        text=project.model_features.get("text", []),
        numeric=project.model_features.get("numeric", []),
    )
    try:
        model = PreLabeler(spec, classifier=project.model_classifier).fit(
            list(payloads),
            list(labels),
            [w if w is not None else 1.0 for w in weights],
            project.labels,
            list(measured),
        )
    except ValueError as exc:  # e.g. one class only so far: not an error, just not yet
        logger.info("model of project %s not trained: %s", project.pk, exc)
        return None
    # The labels counted so far are in this training; those counted meanwhile wait for the next.
    Project.objects.filter(pk=project.pk).update(
        labels_since_training=Greatest(F("labels_since_training") - counted, 0)
    )
    number = (project.model_versions.aggregate(m=Max("version"))["m"] or 0) + 1
    version = ModelVersion.objects.create(
        project=project,
        version=number,
        classifier=project.model_classifier,
        features=project.model_features,
        n_train=model.n_train_,
        cv_accuracy=float(model.cv_accuracy_),
        cv_accuracy_lower=float(model.cv_accuracy_lower_),
        chance_rate=float(model.chance_rate_),
        is_useful=bool(model.is_useful_),
        confusion=np.round(model.confusion_, 6).tolist(),
        voter_confusion=np.round(model.voter_confusion_, 6).tolist(),
        training_seconds=float(model.training_seconds_),
    )
    predicted, auto = _vote_and_label(
        project=project, model=model, version=version, class_prior=_vote_prior(project, labels)
    )
    ModelVersion.objects.filter(pk=version.pk).update(
        items_predicted=predicted, items_auto_labeled=auto
    )
    version.refresh_from_db()
    audit_record(
        action="model.train",
        reason=(
            f"Model v{number}: {model.n_train_} labels ({model.n_measured_} measured it), "
            + (
                f"out-of-fold accuracy {model.cv_accuracy_:.1%} (chance {model.chance_rate_:.1%}); "
                if model.n_measured_
                else "no label decided without an earlier vote to measure it on; "
            )
            + (
                f"auto-labeled {auto} item(s)."
                if version.is_useful
                else "no better than chance: it labels nothing."
            )
        ),
        project=project,
        data={"version": number, "auto_labeled": auto},
    )
    return version


def _vote_prior(project: Project, labels: tuple[str, ...]) -> np.ndarray:
    """The class prior a new version's votes are weighed with: the last refit's; before any
    refit (a model trained on the gold at publishing), the shares of the ``labels`` it learned
    from, one pseudo-label a class, not a uniform prior that would make a vote for a common
    label look less sure than it is."""
    if project.class_prior is not None:
        return project_worker_model(project)[0]
    counts = np.asarray([labels.count(label) for label in project.labels], float) + 1.0
    return counts / counts.sum()


def _vote_and_label(
    *, project: Project, model: PreLabeler, version: ModelVersion, class_prior: np.ndarray
) -> tuple[int, int]:
    voter_confusion = np.asarray(version.voter_confusion)
    total_items = Item.objects.filter(project=project).count()
    model_labels = Item.objects.filter(project=project, label_source="model").count()
    room = max(0, int(project.max_model_share * total_items) - model_labels)
    today = timezone.localdate()
    predicted = auto = 0
    ids = list(
        Item.objects.filter(project=project, status="open", gold_label="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), CHUNK):
        with transaction.atomic():
            items = list(
                Item.objects.select_for_update()
                .filter(pk__in=ids[start : start + CHUNK], status="open")
                .order_by("pk")
            )
            if not items:
                continue
            bins, codes = model.vote([i.payload for i in items])
            for item, b, code in zip(items, bins, codes, strict=True):
                item.model_version, item.model_label, item.model_bin = (
                    version,
                    project.labels[code],
                    int(b),
                )
                if not version.is_useful:
                    continue  # no vote in any decision, no routing change
                if spot_checked(item.pk, project.spot_check_rate):
                    # People decide it alone, and it goes to them first: the audit share is
                    # what measures the model, so it should not wait behind the voted items.
                    if not (item.answers_count or item.leases_count):
                        item.priority = 0.0
                    continue
                item.model_assisted = True
                if item.answers_count or item.leases_count:
                    continue  # people's answers get the vote at their next posterior update
                proba = combine(class_prior, voter_confusion, b, code)
                best = int(np.argmax(proba))
                item.confidence = item.priority = round(float(proba[best]), 6)
                if proba[best] >= project.auto_label_threshold and room > 0:
                    item.status, item.final_label, item.label_source = (
                        "final",
                        project.labels[best],
                        "model",
                    )
                    item.finalized_on = today
                    room -= 1
                    auto += 1
            rows_update(
                Item,
                items,
                [
                    "model_version",
                    "model_label",
                    "model_bin",
                    "model_assisted",
                    "confidence",
                    "priority",
                    "status",
                    "final_label",
                    "label_source",
                    "finalized_on",
                ],
            )
            predicted += len(items)
    return predicted, auto
