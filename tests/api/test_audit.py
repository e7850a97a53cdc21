"""Every action on workers, money and labels is an AuditEvent with actor, reason and time."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from billing.services import payout_create
from tasks.approval import GOLD_REJECTION, answers_approve_due, earnings_mature
from tasks.models import Assignment
from tasks.routing import answer_submit, assignment_claim
from tests.api.conftest import token_client

P = "/api/v1/projects"


def last(action):
    event = AuditEvent.objects.filter(action=action).order_by("-id").first()
    assert event is not None, f"no {action} event"
    assert event.reason and event.created_at
    return event


def test_api_actions_are_audited_with_who_did_them(world):
    owner = world.users["owner"]
    api = world.client("owner")
    pid = world.project.pk

    created = api.post(
        f"{P}/", {"name": "A", "labels": ["x", "y"], "reward": "0.01", "budget": "3"}, format="json"
    )
    fund = last("budget.fund")
    assert fund.actor == owner and fund.project_id == created.json()["id"]

    api.post(f"{P}/{pid}/items/import/", [{"external_id": "n1", "text": "t"}], format="json")
    imported = last("items.import")
    assert imported.actor == owner and imported.project_id == pid
    assert imported.data["items"] == 1 and "Imported 1 items" in imported.reason

    b"".join(api.get(f"{P}/{pid}/results/?format=jsonl").streaming_content)
    exported = last("results.export")
    assert exported.actor == owner and exported.data == {"format": "jsonl"}

    blocked = world.workers["blocked_worker"]
    api.post(f"{P}/{pid}/workers/{blocked.pk}/unblock/", {"reason": "appeal"}, format="json")
    unblock = last("worker.unblock")
    assert (unblock.actor, unblock.worker, unblock.reason) == (owner, blocked, "appeal")

    worker = world.workers["worker"]
    api.post(
        f"{P}/{pid}/workers/{worker.pk}/bonus/", {"amount": "1", "reason": "kind"}, format="json"
    )
    bonus = last("money.bonus")
    assert (bonus.actor, bonus.worker, bonus.reason) == (owner, worker, "kind")

    api.post(f"/api/v1/assignments/{world.answer.pk}/reject/", {"reason": "spam"}, format="json")
    reject = last("answer.reject")
    assert (reject.actor, reject.worker, reject.reason) == (owner, worker, "spam")


def test_automatic_block_rejection_and_payout_are_audited(
    requester, worker, live_project, superuser
):
    project = live_project(tasks=2, gold=3, exam_size=2, exam_pass_accuracy=1.0)
    for _ in range(2):  # fails the exam: blocked by the platform
        a = assignment_claim(worker=worker, project=project)
        answer_submit(assignment=a, worker=worker, label="neg")
    block = last("worker.block")
    assert block.actor is None and block.worker == worker and "Exam failed" in block.reason

    strict = live_project(tasks=2, gold=2, reject_gold_mismatch=True, gold_rate=1.0)
    other = assignment_claim(worker=worker, project=strict)
    answer_submit(assignment=other, worker=worker, label="neg")
    assert Assignment.objects.get(pk=other.pk).kind == "gold"
    answers_approve_due(project=strict)
    reject = last("answer.reject")
    assert reject.actor is None and reject.reason == GOLD_REJECTION
    assert reject.data == {"assignment": other.pk, "rule": "gold_mismatch"}

    fine = live_project(tasks=1)
    paid = assignment_claim(worker=worker, project=fine)
    answer_submit(assignment=paid, worker=worker, label="pos")
    Assignment.objects.filter(pk=paid.pk).update(submitted_at=timezone.now() - timedelta(days=30))
    answers_approve_due(project=fine)
    earnings_mature(now=timezone.now() + timedelta(days=30))
    payout_create(worker=worker, actor=superuser)
    payout = last("money.payout")
    assert payout.actor == superuser and payout.worker == worker


@pytest.mark.parametrize("action", ["add", "change", "delete"])
def test_the_audit_log_is_read_only_in_the_admin(world, client, action):
    event = AuditEvent.objects.first()
    client.force_login(world.users["superuser"])
    url = {
        "add": reverse("admin:audit_auditevent_add"),
        "change": reverse("admin:audit_auditevent_change", args=[event.pk]),
        "delete": reverse("admin:audit_auditevent_delete", args=[event.pk]),
    }[action]
    before = AuditEvent.objects.count()
    response = client.post(url, {"action": "x", "reason": "forged", "post": "yes"})
    assert response.status_code == 403
    assert AuditEvent.objects.count() == before
    assert AuditEvent.objects.get(pk=event.pk).reason != "forged"


def test_a_refused_export_or_import_records_nothing(world):
    before = AuditEvent.objects.count()
    other = token_client(world.users["other_requester"])
    other.get(f"{P}/{world.project.pk}/results/")
    owner = world.client("owner")
    owner.post(f"{P}/{world.project.pk}/items/import/", [{"external_id": "t0"}], format="json")
    owner.get(f"{P}/{world.project.pk}/results/?format=xml")
    assert AuditEvent.objects.count() == before
