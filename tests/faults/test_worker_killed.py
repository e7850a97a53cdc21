"""``kill -9`` of a Celery worker in the middle of a refit and of a payout run: after a restart
the project converges to the labels, skills and balances of a run without the fault."""

import random
import re
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Count

from aggregation.jobs import project_refit_job
from billing.jobs import payouts_run_job
from billing.models import LedgerEntry, Movement, Payout
from billing.selectors import all_balances, ledger_mismatches, worker_balances
from billing.services import bonus_pay
from tasks.models import Item, Project
from tasks.routing import answer_submit, assignment_claim
from workers.models import WorkerStanding

from .conftest import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.celery_worker]


def succeeded(workers, job) -> list[str]:
    """Return values of the runs of ``job`` the workers' log reports as finished."""
    return re.findall(
        rf"Task {re.escape(job.name)}\[[^\]]+\] succeeded in [^:]+: (.*)", workers.output()
    )


# --- Refit --------------------------------------------------------------------------------------


def answer_everything(project: Project, workers, threads: int = 4) -> int:
    """Workers of mixed skill answer every item to its overlap, through the real services
    (in a few threads: it is the slow part of the test)."""
    rng = random.Random(7)
    skill = {w.pk: rng.uniform(0.55, 0.95) for w in workers}
    truth = {pk: rng.choice(project.labels) for pk in project.items.values_list("pk", flat=True)}
    answered = []

    def work(mine) -> None:
        rng = random.Random(mine[0].pk)
        try:
            active = list(mine)
            while active:
                for worker in list(active):
                    lease = assignment_claim(worker=worker, project=project)
                    if lease is None:
                        active.remove(worker)
                        continue
                    right = truth[lease.item_id]
                    wrong = [label for label in project.labels if label != right]
                    label = right if rng.random() < skill[worker.pk] else rng.choice(wrong)
                    answer_submit(assignment=lease, worker=worker, label=label)
                    answered.append(lease.pk)
        finally:
            connection.close()

    pool = [threading.Thread(target=work, args=(workers[n::threads],)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    return len(answered)


def outcome(project: Project) -> tuple[dict, dict]:
    """What users see of a refit: each item's decision, each worker's estimated skill."""
    labels = {
        pk: (status, label, round(confidence, 4))
        for pk, status, label, confidence in Item.objects.filter(project=project).values_list(
            "pk", "status", "final_label", "confidence"
        )
    }
    skills = {
        worker: (round(accuracy, 4) if accuracy is not None else None, evidence)
        for worker, accuracy, evidence in WorkerStanding.objects.filter(
            project=project
        ).values_list("worker_id", "estimated_accuracy", "evidence_answers")
    }
    return labels, skills


@pytest.mark.django_db(transaction=True)
def test_a_refit_killed_midway_is_redone_after_a_restart(live_project, make_worker, celery_workers):
    # The worker to kill, and the one that restarts after it (a fresh process on its own queue,
    # started now because a worker takes seconds to boot).
    doomed = celery_workers.start()
    celery_workers.start(queue="restarted")
    project = live_project(
        tasks=200,
        labels=["a", "b", "c"],
        min_overlap=3,
        max_overlap=3,
        target_confidence=0.95,
        aggregation_method="glad",  # the slowest estimator: a refit long enough to kill
        refit_every=100_000,  # no refit while the answers come in
        budget=Decimal("1000"),
        block_gold_accuracy=0,
        block_estimated_accuracy=0,
        block_min_median_seconds=0,
    )
    assert answer_everything(project, [make_worker() for _ in range(20)]) == 600
    before = outcome(project)

    # The control: the same refit without a fault, from the same state, then rolled back.
    with transaction.atomic():
        project_refit_job.apply(args=[project.pk], throw=True)
        control = outcome(project)
        transaction.set_rollback(True)
    assert outcome(project) == before
    # The refit changes both, or comparing with it proves nothing.
    assert control[0] != before[0] and control[1] != before[1]

    project_refit_job.delay(project.pk)
    # Kill it once it has written the new skills and before it finished the items.
    started = time.monotonic()
    wait_for(
        lambda: WorkerStanding.objects.filter(
            project=project, estimated_accuracy__isnull=False
        ).exists(),
        90,
        "the refit to store worker skills",
        interval=0.005,
    )
    celery_workers.kill(doomed)
    project.refresh_from_db()
    assert project.refitted_at is None, (
        f"the refit finished before the kill ({time.monotonic() - started:.1f} s): make it longer"
    )
    assert project.refit_started_at is not None  # the dead refit's claim is still on the project
    # Half-done: the new skills are stored, the items are as before or all re-decided (one
    # transaction for these 200), and the project does not know it was refitted.
    assert outcome(project)[1] == control[1]
    assert outcome(project)[0] in (before[0], control[0])

    # After the restart: the killed job's message stays unacknowledged in Redis until its
    # visibility timeout (an hour); the next periodic pass (≤ 5 min) queues the refit again,
    # which is what this does, and no 30-minute wait for the dead claim (aggregation.jobs).
    project_refit_job.apply_async(args=[project.pk], queue="restarted")
    wait_for(lambda: succeeded(celery_workers, project_refit_job), 90, "the refit after restart")
    project.refresh_from_db()
    assert project.refitted_at is not None and project.refit_started_at is None
    assert project.answers_since_refit == 0
    assert outcome(project) == control
    assert "freed the claim of a refit whose process died" in celery_workers.output()


# --- Payouts ------------------------------------------------------------------------------------

N_WORKERS = 200


@pytest.mark.django_db(transaction=True)
def test_a_payout_run_killed_midway_pays_everyone_exactly_once_after_a_restart(
    requester, project_factory, make_worker, celery_workers
):
    doomed = celery_workers.start()
    celery_workers.start(queue="restarted")
    project = project_factory(requester, budget=Decimal("500"))
    earned = {}
    for n in range(N_WORKERS):
        worker = make_worker()
        amount = Decimal("0.0100") * (n % 9 + 1)
        bonus_pay(project=project, worker=worker, amount=amount, reason="Thanks", actor=requester)
        earned[worker.pk] = amount

    payouts_run_job.delay("run-fault")
    wait_for(Payout.objects.exists, 90, "the first payouts", interval=0.005)
    celery_workers.kill(doomed)
    paid_at_kill = Payout.objects.count()
    assert 0 < paid_at_kill < N_WORKERS, "the kill must land in the middle of the run"
    # What was paid before the kill is paid in full and recorded; nobody is half-paid.
    for payout in Payout.objects.all():
        assert payout.amount == earned[payout.worker_id]
        assert list(payout.entries.values_list("amount", flat=True)) == [payout.amount]
    assert LedgerEntry.objects.filter(movement=Movement.PAYOUT).count() == paid_at_kill

    # Restart and run it again, twice (the operator's rerun, and a duplicate delivery).
    payouts_run_job.apply_async(args=["run-fault"], queue="restarted")
    payouts_run_job.apply_async(args=["run-fault"], queue="restarted")
    runs = wait_for(
        lambda: (r := succeeded(celery_workers, payouts_run_job)) and len(r) == 2 and r,
        90,
        "two payout runs after the restart",
    )
    assert sorted(runs) == ["0", str(N_WORKERS - paid_at_kill)]

    # The balances of a run without the fault: everyone paid what they earned, exactly once.
    assert (
        max(Payout.objects.values("worker").annotate(n=Count("id")).values_list("n", flat=True))
        == 1
    )
    assert dict(Payout.objects.values_list("worker_id", "amount")) == earned
    for worker_id, amount in earned.items():
        assert worker_balances(worker_id=worker_id) == {
            "pending": 0,
            "available": 0,
            "paid": amount,
        }
    assert sum(all_balances().values()) == 0
    assert ledger_mismatches(project=project) == []
