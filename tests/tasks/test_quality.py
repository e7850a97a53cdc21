"""Refits of the worker model and the blocking rules they feed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from aggregation import jobs
from aggregation.jobs import project_refit_job
from aggregation.services import project_refit
from audit.models import AuditEvent
from tasks import routing
from tasks.models import Item, Project
from tasks.routing import answer_submit, assignment_claim
from workers.models import WorkerStanding
from workers.services import standings_apply_rules


def qualified(project, worker, **measured) -> WorkerStanding:
    """A qualified standing with 40 answers and the given measures, as a refit leaves it."""
    return WorkerStanding.objects.create(
        project=project,
        worker=worker,
        state=WorkerStanding.State.QUALIFIED,
        answers=40,
        **measured,
    )


def answer(worker, project, label, seconds=5.0):
    t0 = timezone.now() - timedelta(seconds=seconds)
    lease = assignment_claim(worker=worker, project=project, now=t0)
    answer_submit(assignment=lease, worker=worker, label=label, now=t0 + timedelta(seconds=seconds))
    return lease


def test_a_refit_learns_who_is_reliable_and_relabels_items(live_project, make_worker):
    project = live_project(
        tasks=12, min_overlap=3, max_overlap=3, target_confidence=0.9, refit_every=10_000
    )
    good = [make_worker() for _ in range(2)]
    liar = make_worker()
    truth = {f"t{n}": ("pos" if n % 3 else "neg") for n in range(12)}
    flip = {"pos": "neg", "neg": "pos"}
    for w in [*good, liar]:
        for _ in range(12):
            lease = assignment_claim(worker=w, project=project)
            label = truth[lease.item.external_id]
            answer_submit(assignment=lease, worker=w, label=label if w in good else flip[label])
    result = project_refit(project=project)
    assert result.answers == 36 and result.workers == 3
    standings = {s.worker_id: s for s in WorkerStanding.objects.filter(project=project)}
    assert all(standings[w.pk].estimated_accuracy > 0.8 for w in good)
    assert standings[liar.pk].estimated_accuracy < 0.3
    assert len(standings[liar.pk].confusion) == 2
    for item in Item.objects.all():
        assert item.final_label == truth[item.external_id]
    project.refresh_from_db()
    assert (
        project.refitted_at and project.answers_since_refit == 0 and len(project.class_prior) == 2
    )


def test_refit_follows_every_n_answers_by_itself(
    live_project, make_worker, django_capture_on_commit_callbacks
):
    project = live_project(tasks=6, refit_every=4, max_overlap=1, min_overlap=1)
    w = make_worker()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            answer(w, project, "pos")
    project.refresh_from_db()
    assert project.refitted_at is not None and project.answers_since_refit == 0
    assert WorkerStanding.objects.get(worker=w).estimated_accuracy is not None


def test_answers_arriving_while_a_refit_waits_queue_one_job_not_one_each(
    live_project, make_worker, monkeypatch
):
    """A busy project must not flood the queue: past ``refit_every`` the submits queue one refit
    (the crossing), not one per answer while that refit waits or runs."""
    queued = []
    monkeypatch.setattr(routing, "enqueue_on_commit", lambda job, *args: queued.append(args))
    project = live_project(tasks=10, refit_every=3, max_overlap=1, min_overlap=1)
    w = make_worker()
    for _ in range(8):
        answer(w, project, "pos")
    project.refresh_from_db()
    assert project.answers_since_refit == 8 and queued == [(project.pk,)]


def test_a_refit_that_finds_enough_new_answers_queues_the_next(
    live_project, make_worker, monkeypatch
):
    project = live_project(tasks=10, refit_every=3, max_overlap=1, min_overlap=1)
    monkeypatch.setattr(routing, "enqueue_on_commit", lambda job, *args: None)
    w = make_worker()
    for _ in range(3):
        answer(w, project, "pos")
    followed = []
    monkeypatch.setattr(jobs, "enqueue", lambda job, *args: followed.append(args))
    refit = jobs.project_refit

    def refit_while_answers_arrive(*, project):
        result = refit(project=project)
        Project.objects.filter(pk=project.pk).update(answers_since_refit=4)  # came in meanwhile
        return result

    monkeypatch.setattr(jobs, "project_refit", refit_while_answers_arrive)
    jobs.project_refit_job.delay(project.pk)
    assert followed == [(project.pk,)]
    Project.objects.filter(pk=project.pk).update(answers_since_refit=0)
    monkeypatch.setattr(jobs, "project_refit", refit)
    jobs.project_refit_job.delay(project.pk)
    assert followed == [(project.pk,)]  # nothing new: no follow-up


def test_low_gold_accuracy_blocks_with_its_reason(live_project, make_worker):
    project = live_project(
        tasks=5,
        gold=10,
        gold_rate=1.0,
        block_gold_min_answers=6,
        block_gold_accuracy=0.6,
        refit_every=10_000,
    )
    sloppy, careful = make_worker(), make_worker()
    for _ in range(8):
        answer(sloppy, project, "neg")
        answer(careful, project, "pos")
    project_refit_job.delay(project.pk)
    sloppy_standing = WorkerStanding.objects.get(worker=sloppy)
    assert sloppy_standing.state == "blocked"
    assert sloppy_standing.blocked_reason.startswith(
        "Accuracy on control questions 17% (0 of 8 right)"
    )
    assert WorkerStanding.objects.get(worker=careful).state == "qualified"
    assert AuditEvent.objects.filter(
        action="worker.block", worker=sloppy, data__rule="gold_accuracy"
    ).exists()


def test_answering_faster_than_the_floor_blocks(live_project, make_worker):
    project = live_project(
        tasks=20, block_min_median_seconds=2.0, block_speed_min_answers=5, refit_every=10_000
    )
    clicker, reader = make_worker(), make_worker()
    for _ in range(6):
        answer(clicker, project, "pos", seconds=0.4)
        answer(reader, project, "pos", seconds=8)
    project_refit_job.delay(project.pk)
    assert WorkerStanding.objects.get(worker=clicker).blocked_reason.startswith(
        "Median answer time 0.4 s"
    )
    assert WorkerStanding.objects.get(worker=reader).state == "qualified"


def test_a_refit_is_idempotent(live_project, make_worker):
    project = live_project(tasks=4, refit_every=10_000)
    for w in [make_worker(), make_worker()]:
        for _ in range(4):
            answer(w, project, "pos")
    project_refit(project=project)
    first = list(Item.objects.order_by("pk").values_list("status", "final_label", "confidence"))
    skills = list(
        WorkerStanding.objects.order_by("pk").values_list("estimated_accuracy", flat=True)
    )
    assert project_refit(project=project).items_changed == 0
    assert first == list(
        Item.objects.order_by("pk").values_list("status", "final_label", "confidence")
    )
    assert skills == list(
        WorkerStanding.objects.order_by("pk").values_list("estimated_accuracy", flat=True)
    )


def test_the_accuracy_floors_are_relative_to_guessing(requester, project_factory):
    two = project_factory(requester, labels=["pos", "neg"])
    five = project_factory(requester, labels=["1", "2", "3", "4", "5"])
    assert two.block_estimated_accuracy is None and five.block_gold_accuracy is None
    assert two.estimated_accuracy_floor == pytest.approx(0.55)  # the old fixed defaults
    assert two.gold_accuracy_floor == pytest.approx(0.6)
    assert five.estimated_accuracy_floor == pytest.approx(0.28)  # guessing is 20% here
    assert five.gold_accuracy_floor == pytest.approx(0.36)
    five.block_estimated_accuracy, five.block_gold_accuracy = 0.5, 0.7
    assert (five.estimated_accuracy_floor, five.gold_accuracy_floor) == (0.5, 0.7)  # theirs win


def test_a_five_grade_crowd_right_half_the_time_is_kept_and_a_guesser_blocked(
    requester, project_factory, make_worker
):
    """Right 45-50% of the time on five grades is far better than a guess (20%): fixed floors of
    55% (estimated) and 60% (gold) blocked most of such a crowd and left its items unanswered."""
    project = project_factory(requester, labels=["1", "2", "3", "4", "5"])
    fair, guesser, gold_guesser = make_worker(), make_worker(), make_worker()
    for worker, accuracy, gold_right in (
        (fair, 0.45, 5),
        (guesser, 0.21, 5),
        (gold_guesser, 0.45, 2),
    ):
        qualified(
            project,
            worker,
            evidence_answers=40,
            estimated_accuracy=accuracy,
            gold_answers=10,
            gold_correct=gold_right,
            gold_accuracy=(gold_right + 2) / 14,  # Beta(2, 2): 50% and 29%
        )
    blocked = standings_apply_rules(project=project)
    assert {s.worker_id for s in blocked} == {guesser.pk, gold_guesser.pk}
    assert WorkerStanding.objects.get(worker=fair).state == WorkerStanding.State.QUALIFIED
    assert WorkerStanding.objects.get(worker=guesser).blocked_reason == (
        "Estimated accuracy 21% over 40 answers is below 28%."
    )
    assert WorkerStanding.objects.get(worker=gold_guesser).blocked_reason == (
        "Accuracy on control questions 29% (2 of 10 right) is below 36%."
    )


def test_a_block_reason_never_reads_as_below_the_same_number(
    requester, project_factory, make_worker
):
    project = project_factory(requester, labels=["a", "b", "c"])  # gold floor 46.67%
    worker = make_worker()
    qualified(project, worker, gold_answers=10, gold_correct=5, gold_accuracy=0.466)
    standings_apply_rules(project=project)
    assert WorkerStanding.objects.get(worker=worker).blocked_reason == (
        "Accuracy on control questions 46.6% (5 of 10 right) is below 46.7%."
    )
