"""Experts: workers a requester trusts. Their answer settles an item like a gold label, items the
crowd could not settle (review) go to them first, and the model learns from what they settle."""

from rest_framework.test import APIClient

from aggregation.jobs import project_refit_job
from aggregation.training import HUMAN_SOURCES
from audit.models import AuditEvent
from tasks.models import Assignment, Item
from tasks.routing import answer_submit, assignment_claim, standing_get
from workers.models import WorkerStanding
from workers.services import standing_expert_set, standings_apply_rules


def answer(worker, project, label):
    lease = assignment_claim(worker=worker, project=project)
    assert lease is not None
    answer_submit(assignment=lease, worker=worker, label=label)
    return lease


def expert_in(project, worker, requester):
    standing = standing_get(worker=worker, project=project)
    standing_expert_set(standing=standing, expert=True, actor=requester)
    return standing


def test_items_in_review_go_to_experts_first_and_their_answer_settles_them(
    live_project, make_worker, requester
):
    project = live_project(tasks=2, min_overlap=2, max_overlap=2, target_confidence=0.99)
    a, b = make_worker(), make_worker()
    disputed = answer(a, project, "pos").item_id
    Item.objects.exclude(pk=disputed).update(priority=0.99)  # b is sent to the same item
    assert answer(b, project, "neg").item_id == disputed
    item = Item.objects.get(pk=disputed)
    assert item.status == "review" and item.answers_count == 2
    # A non-expert is never given an item in review; the expert gets it before any open item.
    lease = assignment_claim(worker=make_worker(), project=project)
    assert lease.item_id != disputed and Item.objects.get(pk=lease.item_id).status == "open"
    expert = make_worker()
    expert_in(project, expert, requester)
    lease = assignment_claim(worker=expert, project=project)
    assert lease.item_id == disputed and lease.kind == Assignment.Kind.TASK
    answer_submit(assignment=lease, worker=expert, label="neg")
    item.refresh_from_db()
    assert (item.status, item.final_label, item.label_source, item.confidence) == (
        "final",
        "neg",
        "review",
        1.0,
    )
    assert item.label_source in HUMAN_SOURCES  # a training label for the model
    # A refit keeps it, like a gold label, whatever the crowd said.
    project_refit_job.delay(project.pk)
    item.refresh_from_db()
    assert (item.status, item.final_label) == ("final", "neg")


def test_an_expert_settles_an_open_item_with_one_answer(live_project, make_worker, requester):
    project = live_project(tasks=2, min_overlap=3, max_overlap=5)
    expert = make_worker()
    expert_in(project, expert, requester)
    lease = answer(expert, project, "pos")
    item = Item.objects.get(pk=lease.item_id)
    assert (item.status, item.final_label, item.answers_count) == ("final", "pos", 1)


def test_an_expert_skips_the_exam_and_control_questions_and_is_never_blocked_by_rules(
    live_project, make_worker, requester
):
    project = live_project(
        tasks=4,
        gold=3,
        exam_size=2,
        gold_rate=1.0,
        block_min_median_seconds=1000.0,
        block_speed_min_answers=1,
    )
    expert = make_worker()
    standing = expert_in(project, expert, requester)
    assert standing.state == WorkerStanding.State.QUALIFIED
    lease = answer(expert, project, "pos")
    assert lease.kind == Assignment.Kind.TASK  # gold rate 1.0, yet a task
    project_refit_job.delay(project.pk)
    standings_apply_rules(project=project)
    standing.refresh_from_db()
    assert standing.state == WorkerStanding.State.QUALIFIED  # far faster than the floor
    event = AuditEvent.objects.get(action="worker.expert")
    assert event.worker_id == expert.pk and event.actor == requester


def test_requesters_mark_experts_in_their_own_projects_over_the_api(
    live_project, make_worker, requester, other_requester
):
    project = live_project(tasks=2)
    worker = make_worker()
    url = f"/api/v1/projects/{project.pk}/workers/{worker.pk}/expert/"
    stranger = APIClient()
    stranger.force_authenticate(other_requester)
    assert stranger.post(url, {"expert": True}, format="json").status_code == 404
    assert not WorkerStanding.objects.filter(expert=True).exists()
    owner = APIClient()
    owner.force_authenticate(requester)
    # a worker who never worked in the project is nobody there: 404, no name, no standing made
    response = owner.post(url, {"expert": True}, format="json")
    assert response.status_code == 404 and worker.user.username not in response.content.decode()
    assert not WorkerStanding.objects.filter(worker=worker).exists()
    assignment_claim(worker=worker, project=project)  # the worker opens the project once
    assert owner.post(url, {"expert": "maybe"}, format="json").status_code == 400
    response = owner.post(url, {"expert": True}, format="json")
    assert response.status_code == 200 and response.json()["expert"] is True
    assert WorkerStanding.objects.get(worker=worker, project=project).expert
    response = owner.post(url, {"expert": False}, format="json")
    assert response.json()["expert"] is False
    assert [e.action for e in AuditEvent.objects.filter(worker=worker).order_by("pk")] == [
        "worker.expert",
        "worker.expert_removed",
    ]
