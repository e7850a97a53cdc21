"""What a requester sees of consensus and workers in the admin, and what others cannot."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tasks.routing import answer_submit, assignment_claim
from workers.models import WorkerStanding


@pytest.fixture
def answered(live_project, make_worker):
    project = live_project(tasks=1, gold=2, exam_size=2, exam_pass_accuracy=1.0)
    failing, passing = make_worker("fails-exam"), make_worker("passes-exam")
    for w, label in [(failing, "neg"), (passing, "pos")]:
        for _ in range(2):
            lease = assignment_claim(worker=w, project=project)
            answer_submit(assignment=lease, worker=w, label=label)
    lease = assignment_claim(worker=passing, project=project)
    answer_submit(assignment=lease, worker=passing, label="neg")
    return project, lease.item, WorkerStanding.objects.get(worker=failing)


def test_item_page_lists_every_answer_with_its_worker(client, requester, answered):
    project, item, _ = answered
    client.force_login(requester)
    page = client.get(reverse("admin:tasks_item_change", args=[item.pk])).content.decode()
    assert "passes-exam" in page and "neg" in page


def test_standings_show_skills_and_blocks_of_own_projects_only(
    client, requester, other_requester, answered
):
    project, _, blocked = answered
    client.force_login(requester)
    page = client.get(reverse("admin:workers_workerstanding_changelist")).content.decode()
    assert "fails-exam" in page and "Exam failed: 0 of 2 right" in page
    client.force_login(other_requester)
    page = client.get(reverse("admin:workers_workerstanding_changelist")).content.decode()
    assert "fails-exam" not in page
    url = reverse("admin:workers_workerstanding_change", args=[blocked.pk])
    assert client.get(url).status_code == 404
    client.post(
        reverse("admin:workers_workerstanding_changelist"),
        {"action": "unblock", "_selected_action": [blocked.pk]},
    )
    blocked.refresh_from_db()
    assert blocked.state == "blocked"


def test_requester_unblocks_a_worker_and_it_is_logged(client, requester, answered):
    project, _, blocked = answered
    client.force_login(requester)
    client.post(
        reverse("admin:workers_workerstanding_changelist"),
        {"action": "unblock", "_selected_action": [blocked.pk]},
    )
    blocked.refresh_from_db()
    assert blocked.state == "qualified" and blocked.blocked_reason == ""
    event = AuditEvent.objects.get(action="worker.unblock")
    assert event.actor == requester and "Exam failed" in event.reason
    page = client.get(reverse("admin:audit_auditevent_changelist")).content.decode()
    assert "worker.unblock" in page and "worker.block" in page


def test_requester_marks_experts_in_own_projects_only(client, requester, other_requester, answered):
    project, _, standing = answered
    changelist = reverse("admin:workers_workerstanding_changelist")
    client.force_login(other_requester)
    client.post(changelist, {"action": "mark_expert", "_selected_action": [standing.pk]})
    standing.refresh_from_db()
    assert not standing.expert
    client.force_login(requester)
    response = client.post(
        changelist, {"action": "mark_expert", "_selected_action": [standing.pk]}, follow=True
    )
    standing.refresh_from_db()
    assert standing.expert and "1 new expert(s)" in response.content.decode()
    # Marking again changes nothing and says so; taking it back is logged too.
    response = client.post(
        changelist, {"action": "mark_expert", "_selected_action": [standing.pk]}, follow=True
    )
    assert "0 new expert(s)" in response.content.decode()
    client.post(changelist, {"action": "unmark_expert", "_selected_action": [standing.pk]})
    standing.refresh_from_db()
    assert not standing.expert
    events = AuditEvent.objects.filter(action__startswith="worker.expert").order_by("pk")
    assert [e.action for e in events] == [
        "worker.expert",
        "worker.expert_removed",
    ]
