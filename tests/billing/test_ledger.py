"""Money: every flow leaves a balanced ledger that agrees with the budget counters."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import LedgerEntry, Payout
from billing.selectors import all_balances, ledger_mismatches, worker_balances
from billing.services import BudgetExceeded, bonus_pay, budget_fund, payout_create
from hitl_platform import money
from hitl_platform.errors import ApplicationError
from tasks.approval import answer_decide, answers_approve_due, earnings_mature
from tasks.models import Assignment, Project
from tasks.routing import (
    LeaseNotLive,
    answer_submit,
    assignment_claim,
    assignment_skip,
    assignments_expire,
)


def balanced(*projects):
    assert sum(all_balances().values(), Decimal(0)) == 0
    for project in projects:
        project.refresh_from_db()
        assert ledger_mismatches(project=project) == []


def answer(worker, project, label="pos", now=None):
    lease = assignment_claim(worker=worker, project=project, now=now)
    answer_submit(assignment=lease, worker=worker, label=label, now=now)
    return lease


def test_every_flow_keeps_the_ledger_balanced(live_project, make_worker, superuser):
    project = live_project(
        tasks=6, gold=2, gold_rate=0.0, min_overlap=1, max_overlap=3, target_confidence=0.6
    )
    a, b, c = make_worker(), make_worker(), make_worker()
    balanced(project)
    lease = assignment_claim(worker=a, project=project)
    balanced(project)
    assignment_skip(assignment=lease, worker=a)
    balanced(project)
    t0 = timezone.now() - timedelta(hours=2)
    stale = assignment_claim(worker=b, project=project, now=t0)
    assignments_expire()
    balanced(project)
    assert Assignment.objects.get(pk=stale.pk).status == "expired"
    for w in (a, b, c):
        answer(w, project)
    balanced(project)
    assert answers_approve_due(project=project)[0] >= 2
    balanced(project)
    earnings_mature(now=timezone.now() + timedelta(days=project.approval_delay_days, seconds=1))
    balanced(project)
    bonus_pay(project=project, worker=a, amount="0.25", reason="Careful work", actor=superuser)
    balanced(project)
    budget_fund(project=project, amount="5", actor=superuser, reason="top-up")
    balanced(project)
    assert payout_create(worker=a, actor=superuser).amount > 0
    balanced(project)


def test_the_tripwire_catches_a_counter_changed_without_its_entries(live_project, worker):
    project = live_project(tasks=2)
    answer(worker, project)
    assert ledger_mismatches(project=project) == []
    Project.objects.filter(pk=project.pk).update(reserved=project.reward * 3)
    project.refresh_from_db()
    assert any("reserved" in problem for problem in ledger_mismatches(project=project))


def test_submitting_twice_and_approving_twice_pays_once(live_project, make_worker):
    project = live_project(tasks=1, min_overlap=1, max_overlap=1, target_confidence=0.6)
    worker = make_worker()
    lease = assignment_claim(worker=worker, project=project)
    answer_submit(assignment=lease, worker=worker, label="pos")
    answer_submit(assignment=lease, worker=worker, label="pos")
    assert answers_approve_due(project=project) == (1, 0)
    assert answers_approve_due(project=project) == (0, 0)
    assert LedgerEntry.objects.filter(assignment=lease, movement="approve").count() == 1
    assert worker_balances(worker_id=worker.pk)["pending"] == project.reward
    project.refresh_from_db()
    assert (project.spent, project.reserved) == (project.reward, 0)


def test_an_expired_lease_is_never_paid(live_project, worker):
    project = live_project(tasks=1, min_overlap=1, max_overlap=1, auto_approve_days=0)
    t0 = timezone.now() - timedelta(hours=1)
    lease = assignment_claim(worker=worker, project=project, now=t0)
    with pytest.raises(LeaseNotLive):
        answer_submit(assignment=lease, worker=worker, label="pos")
    assert answers_approve_due(project=project, now=timezone.now() + timedelta(days=30)) == (0, 0)
    assert not LedgerEntry.objects.filter(
        assignment=lease, movement__in=["approve", "mature"]
    ).exists()
    assert worker_balances(worker_id=worker.pk) == {"pending": 0, "available": 0, "paid": 0}
    balanced(project)


def test_fractional_cent_rewards_add_up_exactly_and_round_half_even(
    live_project, make_worker, superuser
):
    assert money.quantize("0.00005") == Decimal("0.0000")
    assert money.quantize("0.00015") == Decimal("0.0002")
    assert money.quantize("0.00025") == Decimal("0.0002")
    with pytest.raises(TypeError):
        money.quantize(0.1)
    project = live_project(
        tasks=3, reward=Decimal("0.0125"), min_overlap=1, max_overlap=1, target_confidence=0.6
    )
    worker = make_worker()
    for _ in range(3):
        answer(worker, project)
    answers_approve_due(project=project)
    earnings_mature(now=timezone.now() + timedelta(days=30))
    payout = payout_create(worker=worker, actor=superuser)
    assert payout.amount == Decimal("0.0375")
    assert worker_balances(worker_id=worker.pk) == {
        "pending": 0,
        "available": 0,
        "paid": Decimal("0.0375"),
    }


def test_approval_policy_rejects_gold_mismatches_with_a_reason(live_project, make_worker):
    project = live_project(tasks=2, gold=3, gold_rate=1.0, reject_gold_mismatch=True)
    worker = make_worker()
    right = answer(worker, project, "pos")
    wrong = answer(worker, project, "neg")
    assert (right.kind, wrong.kind) == ("gold", "gold")
    assert answers_approve_due(project=project) == (1, 1)
    wrong.refresh_from_db()
    assert wrong.status == "rejected"
    assert (
        wrong.rejection_reason == "Your answer contradicted a control question with a known answer."
    )
    assert worker_balances(worker_id=worker.pk)["pending"] == project.reward
    balanced(project)


def test_pending_answers_are_approved_after_n_days(live_project, make_worker):
    project = live_project(tasks=1, min_overlap=3, max_overlap=3, auto_approve_days=7)
    lease = answer(make_worker(), project)
    assert answers_approve_due(project=project) == (0, 0)  # the item is not final yet
    later = timezone.now() + timedelta(days=7, seconds=1)
    assert answers_approve_due(project=project, now=later) == (1, 0)
    assert Assignment.objects.get(pk=lease.pk).status == "approved"


def test_rewards_become_payable_after_the_approval_delay(live_project, make_worker):
    project = live_project(
        tasks=1, min_overlap=1, max_overlap=1, target_confidence=0.6, approval_delay_days=3
    )
    worker = make_worker()
    answer(worker, project)
    answers_approve_due(project=project)
    assert earnings_mature(now=timezone.now() + timedelta(days=2)) == 0
    assert worker_balances(worker_id=worker.pk)["available"] == 0
    assert earnings_mature(now=timezone.now() + timedelta(days=3, seconds=1)) == 1
    assert earnings_mature(now=timezone.now() + timedelta(days=4)) == 0
    assert worker_balances(worker_id=worker.pk) == {
        "pending": 0,
        "available": project.reward,
        "paid": 0,
    }


def test_a_payout_is_never_made_twice_for_the_same_balance(live_project, worker, superuser):
    project = live_project(tasks=1)
    bonus_pay(
        project=project, worker=worker, amount="1.50", reason="Welcome bonus", actor=superuser
    )
    first = payout_create(worker=worker, actor=superuser)
    assert first.amount == Decimal("1.5000")
    assert payout_create(worker=worker, actor=superuser) is None
    assert Payout.objects.count() == 1


def test_manual_rejection_needs_a_reason_and_releases_the_money(live_project, worker, requester):
    project = live_project(tasks=2)
    lease = answer(worker, project)
    with pytest.raises(ApplicationError, match="Say why"):
        answer_decide(assignment=lease, approve=False, actor=requester)
    answer_decide(
        assignment=lease, approve=False, actor=requester, reason="Answered without reading"
    )
    lease.refresh_from_db()
    project.refresh_from_db()
    assert lease.status == "rejected" and lease.rejection_reason == "Answered without reading"
    assert project.reserved == 0 and project.spent == 0
    with pytest.raises(ApplicationError, match="not awaiting a decision"):
        answer_decide(assignment=lease, approve=True, actor=requester)
    balanced(project)


def test_a_bonus_cannot_pass_the_budget(live_project, worker, superuser):
    project = live_project(tasks=1, budget=Decimal("1.00"))
    with pytest.raises(BudgetExceeded):
        bonus_pay(
            project=project, worker=worker, amount="1.01", reason="Too generous", actor=superuser
        )
    assert not LedgerEntry.objects.filter(movement="bonus").exists()
    balanced(project)


def test_a_budget_is_used_to_the_last_cent_without_drift(live_project, make_worker):
    """0.1 has no exact binary form: thirty of them must still add up to exactly 3.00, on SQLite too."""
    project = live_project(
        tasks=40,
        reward=Decimal("0.10"),
        budget=Decimal("3.00"),
        min_overlap=1,
        max_overlap=1,
        target_confidence=0.6,
    )
    workers = [make_worker() for _ in range(31)]
    for w in workers[:30]:
        answer(w, project)
    project.refresh_from_db()
    assert project.reserved == Decimal("3.00") and project.remaining == 0
    with pytest.raises(ApplicationError, match="budget"):
        assignment_claim(worker=workers[30], project=project)
    assert answers_approve_due(project=project) == (30, 0)
    project.refresh_from_db()
    assert (project.spent, project.reserved, project.status) == (Decimal("3.00"), 0, "paused")
    balanced(project)
