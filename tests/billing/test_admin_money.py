"""Money in the admin, from the requester's and the operator's side (and the outsider's)."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerEntry, Payout
from billing.selectors import ledger_mismatches, worker_balances
from tasks.approval import answers_approve_due, earnings_mature
from tasks.models import Assignment
from tasks.routing import answer_submit, assignment_claim
from workers.models import WorkerStanding


def answer(worker, project, label="pos"):
    lease = assignment_claim(worker=worker, project=project)
    answer_submit(assignment=lease, worker=worker, label=label)
    return lease


def test_a_new_projects_budget_is_funded_through_the_ledger_and_then_read_only(
    client, requester, project_form
):
    client.force_login(requester)
    data = project_form(name="Cats", labels="cat\ndog", reward="0.05", budget="12.50", exam_size=0)
    response = client.post(reverse("admin:tasks_project_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    project = requester.projects.get()
    assert project.budget == Decimal("12.50")
    assert LedgerEntry.objects.get(movement="fund").amount == Decimal("12.50")
    client.post(
        reverse("admin:tasks_project_change", args=[project.pk]), {**data, "budget": "9999"}
    )
    project.refresh_from_db()
    assert project.budget == Decimal("12.50")
    assert ledger_mismatches(project=project) == []


def test_requester_tops_up_their_own_budget_only(client, requester, other_requester, live_project):
    project = live_project(tasks=1)
    url = reverse("admin:tasks_project_topup", args=[project.pk])
    client.force_login(other_requester)
    assert client.post(url, {"amount": "5"}).status_code == 404
    client.force_login(requester)
    client.post(url, {"amount": "5", "reason": "more items coming"})
    project.refresh_from_db()
    assert project.budget == Decimal("105.0000")
    assert ledger_mismatches(project=project) == []
    assert "greater than or equal to" in client.post(url, {"amount": "-1"}).content.decode()
    project.refresh_from_db()
    assert project.budget == Decimal("105.0000")


def test_requester_rejects_answers_with_a_reason_and_approves_others(
    client, requester, live_project, make_worker
):
    project = live_project(tasks=2, min_overlap=2, max_overlap=3)
    good, bad = answer(make_worker(), project), answer(make_worker(), project)
    client.force_login(requester)
    url = reverse("admin:tasks_assignment_changelist")
    page = client.post(url, {"action": "reject", ACTION_CHECKBOX_NAME: [bad.pk]}).content.decode()
    assert "The worker sees this" in page  # the reason form
    client.post(
        url, {"action": "reject", ACTION_CHECKBOX_NAME: [bad.pk], "reason": "Copied the example"}
    )
    client.post(url, {"action": "approve", ACTION_CHECKBOX_NAME: [good.pk]})
    bad.refresh_from_db()
    good.refresh_from_db()
    assert (bad.status, bad.rejection_reason) == ("rejected", "Copied the example")
    assert good.status == "approved"
    assert ledger_mismatches(project=project) == []


def test_another_requester_cannot_reject_your_answers(
    client, other_requester, live_project, worker
):
    project = live_project(tasks=1)
    lease = answer(worker, project)
    client.force_login(other_requester)
    client.post(
        reverse("admin:tasks_assignment_changelist"),
        {"action": "reject", ACTION_CHECKBOX_NAME: [lease.pk], "reason": "sabotage"},
    )
    assert Assignment.objects.get(pk=lease.pk).status == "submitted"


def test_requester_pays_a_bonus_with_a_reason(client, requester, live_project, worker):
    project = live_project(tasks=2)
    answer(worker, project)
    standing = WorkerStanding.objects.get(worker=worker)
    client.force_login(requester)
    client.post(
        reverse("admin:workers_workerstanding_changelist"),
        {
            "action": "bonus",
            ACTION_CHECKBOX_NAME: [standing.pk],
            "amount": "0.75",
            "reason": "Great notes",
        },
    )
    assert worker_balances(worker_id=worker.pk)["available"] == Decimal("0.75")
    assert LedgerEntry.objects.get(movement="bonus").reason == "Great notes"


def test_operator_payout_run_exports_csv_and_never_pays_twice(
    client, superuser, requester, live_project, worker
):
    project = live_project(tasks=1, min_overlap=1, max_overlap=1, target_confidence=0.6)
    answer(worker, project)
    answers_approve_due(project=project)
    earnings_mature(now=timezone.now() + timedelta(days=30))
    url = reverse("admin:billing_payout_run")
    client.force_login(requester)
    assert client.get(url).status_code in (302, 403)
    client.force_login(superuser)
    assert worker.user.username in client.get(url).content.decode()
    response = client.post(url)
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["username"], r["amount"]) for r in rows] == [(worker.user.username, "0.0500")]
    again = list(csv.DictReader(io.StringIO(client.post(url).content.decode())))
    assert again == []
    assert Payout.objects.count() == 1
    assert worker_balances(worker_id=worker.pk) == {
        "pending": 0,
        "available": 0,
        "paid": Decimal("0.0500"),
    }
