"""The manager's report: the numbers, who may read it, and its CSV and API forms."""

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.test import APIClient

from reports.selectors import project_report
from tasks.approval import answers_approve_due
from tasks.roles import MANAGERS
from tasks.routing import answer_submit, assignment_claim
from tasks.services import items_import, project_publish
from tests.conftest import PASSWORD


@pytest.fixture
def reported(requester, project_factory, make_worker):
    """4 items with audit labels (2 pos, 2 neg); two workers each answer all four, one always 'pos'.

    min overlap 1 and a low target make each item final on its first answer; the second worker's
    answers then only add evidence. Every answer is approved: 8 × 0.10 = 0.80 spent.
    """
    project = project_factory(
        requester,
        reward=Decimal("0.10"),
        budget=Decimal("10"),
        min_overlap=2,
        max_overlap=2,
        target_confidence=0.5,
        exam_size=0,
        gold_rate=0,
    )
    items_import(
        project=project,
        data=b"external_id,audit_label,text\na,pos,1\nb,pos,2\nc,neg,3\nd,neg,4\n",
        fmt="csv",
    )
    project_publish(project=project)
    honest, sloppy = make_worker("honest"), make_worker("sloppy")
    for worker in (honest, sloppy):
        for _ in range(4):
            lease = assignment_claim(worker=worker, project=project)
            truth = "pos" if lease.item.external_id in "ab" else "neg"
            answer_submit(
                assignment=lease, worker=worker, label=truth if worker is honest else "pos"
            )
    answers_approve_due(project=project)
    return project


def test_report_numbers(reported):
    report = project_report(project=reported)
    assert (report.budget, report.spent, report.reserved) == (Decimal("10"), Decimal("0.8000"), 0)
    assert report.remaining == Decimal("9.2000")
    assert report.answers == 8 and report.items == 4
    assert (
        report.labeled == sum(report.labels_by_source.values()) == report.labels_by_source["crowd"]
    )
    assert report.measured_count == report.labeled
    correct = round(report.measured_accuracy * report.measured_count)
    assert report.cost_per_label == Decimal("0.8000") / report.labeled
    assert report.cost_per_accurate_label_measured == (Decimal("0.8") / correct).quantize(
        Decimal("0.0001")
    )
    assert report.answers_per_label == 8 / report.labeled
    assert 0.5 <= report.estimated_accuracy <= 1
    workers = {w["worker"]: w for w in report.workers}
    assert workers["honest"]["answers"] == workers["sloppy"]["answers"] == 4
    assert workers["honest"]["earnings"] == Decimal("0.4000")
    assert report.daily[-1]["spent_total"] == Decimal("0.8000")
    assert report.spend_per_day == Decimal("0.8000")
    assert report.budget_runs_out_on is not None


def test_owner_and_managers_read_the_report_others_get_404(
    client, reported, requester, other_requester, django_user_model, worker
):
    url = reverse("reports:project", args=[reported.pk])
    client.force_login(requester)
    page = client.get(url).content.decode()
    assert "Budget burn-down" in page and "<svg" in page and "honest" in page
    client.force_login(other_requester)
    assert client.get(url).status_code == 404
    manager = django_user_model.objects.create_user("mia-manager", password=PASSWORD, is_staff=True)
    manager.groups.add(Group.objects.get(name=MANAGERS))
    client.force_login(manager)
    assert client.get(url).status_code == 200
    assert reported.name in client.get(reverse("reports:index")).content.decode()
    # A manager reads; changing the project in the admin is not theirs to do.
    assert client.get(reverse("admin:tasks_project_change", args=[reported.pk])).status_code in (
        403,
        404,
    )
    client.force_login(worker.user)
    assert client.get(url).status_code == 302  # not staff: to the admin login
    # A manager who is no longer staff (left, but still in the group) reads nothing, in the API
    # either; before, the API went by the group alone.
    api = APIClient()
    api.force_authenticate(manager)
    assert api.get(f"/api/v1/projects/{reported.pk}/report/").status_code == 200
    manager.is_staff = False
    manager.save()
    assert api.get(f"/api/v1/projects/{reported.pk}/report/").status_code == 404
    client.force_login(manager)
    assert client.get(url).status_code == 302


def test_report_csv_and_api(client, reported, requester, worker):
    client.force_login(requester)
    rows = list(
        csv.reader(
            io.StringIO(
                client.get(reverse("reports:project-csv", args=[reported.pk])).content.decode()
            )
        )
    )
    metrics = {r[0]: r[1:] for r in rows if r}
    assert metrics["spent"][0] == "0.8000"
    assert metrics["measured accuracy"][1] == "4"
    api = APIClient()
    api.force_authenticate(requester)
    body = api.get(f"/api/v1/projects/{reported.pk}/report/").json()
    assert body["spent"] == "0.8000" and body["measured_count"] == 4 and len(body["workers"]) == 2
    api.force_authenticate(worker.user)
    assert api.get(f"/api/v1/projects/{reported.pk}/report/").status_code == 404
    assert APIClient().get(f"/api/v1/projects/{reported.pk}/report/").status_code in (401, 403)


def test_empty_project_report_has_no_division_by_zero(project, client, requester):
    report = project_report(project=project)
    assert report.cost_per_label is None and report.measured_accuracy is None and report.daily == []
    client.force_login(requester)
    assert (
        "no data yet" in client.get(reverse("reports:project", args=[project.pk])).content.decode()
    )
