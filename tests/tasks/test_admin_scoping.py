"""A requester sees only their own projects, items and assignments; everyone else gets 404."""

import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from tasks.models import Assignment, Item


@pytest.fixture
def owned(project, worker):
    item = Item.objects.create(project=project, external_id="secret-item", payload={"text": "hi"})
    now = timezone.now()
    assignment = Assignment.objects.create(
        project=project,
        item=item,
        worker=worker,
        reward=Decimal("0.05"),
        leased_at=now,
        expires_at=now + timedelta(minutes=5),
    )
    return {"project": project, "item": item, "assignment": assignment}


PAGES = {
    "project": lambda o: reverse("admin:tasks_project_change", args=[o["project"].pk]),
    "item": lambda o: reverse("admin:tasks_item_change", args=[o["item"].pk]),
    "assignment": lambda o: reverse("admin:tasks_assignment_change", args=[o["assignment"].pk]),
    "import": lambda o: reverse("admin:tasks_project_import", args=[o["project"].pk]),
    "export": lambda o: reverse("admin:tasks_project_export", args=[o["project"].pk, "csv"]),
}


@pytest.mark.parametrize("page", PAGES)
def test_owner_opens_their_pages(client, requester, owned, page):
    client.force_login(requester)
    assert client.get(PAGES[page](owned)).status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_another_requester_gets_404(client, other_requester, owned, page):
    client.force_login(other_requester)
    assert client.get(PAGES[page](owned)).status_code == 404


@pytest.mark.parametrize("page", PAGES)
def test_superuser_sees_every_project(client, superuser, owned, page):
    client.force_login(superuser)
    assert client.get(PAGES[page](owned)).status_code == 200


@pytest.mark.parametrize("persona", ["outsider", "worker"])
@pytest.mark.parametrize("page", PAGES)
def test_non_staff_are_sent_to_the_login_page(client, request, owned, persona, page):
    user = request.getfixturevalue(persona)
    user = getattr(user, "user", user)
    client.force_login(user)
    response = client.get(PAGES[page](owned))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_anonymous_is_sent_to_the_login_page(client, owned):
    response = client.get(PAGES["project"](owned))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


@pytest.mark.parametrize("model", ["project", "item", "assignment"])
def test_lists_show_only_the_requesters_own_rows(
    client, other_requester, owned, model, project_factory
):
    theirs = project_factory(other_requester, name="Bob's own project")
    Item.objects.create(project=theirs, external_id="bobs-item")
    client.force_login(other_requester)
    page = client.get(reverse(f"admin:tasks_{model}_changelist")).content.decode()
    assert "secret-item" not in page and "Sentiment of movie reviews" not in page
    if model != "assignment":
        assert "Bob" in page or "bobs-item" in page


def test_another_requesters_project_cannot_be_changed_by_post(client, other_requester, owned):
    client.force_login(other_requester)
    url = PAGES["project"](owned)
    response = client.post(
        url, {"name": "hijacked", "labels": "a\nb", "reward": "1", "budget": "1"}
    )
    assert response.status_code == 404
    owned["project"].refresh_from_db()
    assert owned["project"].name == "Sentiment of movie reviews"


def test_admin_actions_cannot_touch_another_requesters_project(client, other_requester, owned):
    client.force_login(other_requester)
    client.post(
        reverse("admin:tasks_project_changelist"),
        {"action": "finish", "_selected_action": [owned["project"].pk]},
    )
    owned["project"].refresh_from_db()
    assert owned["project"].status == "draft"


def test_requester_creates_a_project_they_own(client, requester, project_form):
    client.force_login(requester)
    response = client.post(reverse("admin:tasks_project_add"), project_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    project = requester.projects.get()
    assert project.labels == ["toxic", "fine"] and project.status == "draft"


def test_quality_floors_left_empty_in_the_admin_follow_the_label_count(
    client, requester, project_form
):
    client.force_login(requester)
    form = project_form(
        labels="1\n2\n3\n4\n5\n", block_gold_accuracy="", block_estimated_accuracy=""
    )
    assert client.post(reverse("admin:tasks_project_add"), form).status_code == 302
    project = requester.projects.get()
    assert project.block_gold_accuracy is None and project.block_estimated_accuracy is None
    assert round(project.gold_accuracy_floor, 2) == 0.36
    assert round(project.estimated_accuracy_floor, 2) == 0.28
    page = client.get(reverse("admin:tasks_project_change", args=[project.pk])).content.decode()
    assert "60% with two labels, 36% with five" in page  # the help text says what empty means


def test_admin_form_rejects_a_single_label(client, requester):
    client.force_login(requester)
    response = client.post(
        reverse("admin:tasks_project_add"),
        {
            "name": "x",
            "labels": "only",
            "reward": "0.02",
            "budget": "5",
            "min_overlap": 1,
            "max_overlap": 1,
            "target_confidence": 0.9,
            "gold_rate": 0,
            "assignment_seconds": 60,
            "aggregation_method": "ds",
        },
    )
    assert response.status_code == 200
    assert "at least two labels" in response.content.decode()
    assert not requester.projects.exists()


def test_publish_pause_finish_actions(client, requester, owned):
    client.force_login(requester)
    url = reverse("admin:tasks_project_changelist")
    project = owned["project"]
    for action, status in [
        ("publish", "active"),
        ("pause", "paused"),
        ("publish", "active"),
        ("finish", "finished"),
    ]:
        client.post(url, {"action": action, "_selected_action": [project.pk]})
        project.refresh_from_db()
        assert project.status == status
    response = client.post(
        url, {"action": "publish", "_selected_action": [project.pk]}, follow=True
    )
    project.refresh_from_db()
    assert project.status == "finished"
    assert "cannot become active" in response.content.decode()


def test_publishing_an_empty_project_says_to_import_first(client, requester, project):
    client.force_login(requester)
    response = client.post(
        reverse("admin:tasks_project_changelist"),
        {"action": "publish", "_selected_action": [project.pk]},
        follow=True,
    )
    assert "import items first" in response.content.decode()
    project.refresh_from_db()
    assert project.status == "draft"


def test_saving_a_project_with_its_labels_as_the_browser_sends_them_changes_no_labels(
    client, requester, project_form
):
    client.force_login(requester)
    assert client.post(reverse("admin:tasks_project_add"), project_form()).status_code == 302
    project = requester.projects.get()
    form = project_form(labels="toxic\r\nfine\r\n", reward="0.0300")
    form.pop("budget")
    change = reverse("admin:tasks_project_change", args=[project.pk])
    as_a_browser = {"content_type": "application/x-www-form-urlencoded"}
    assert client.post(change, urlencode(form), **as_a_browser).status_code == 302
    history = client.get(reverse("admin:tasks_project_history", args=[project.pk])).content
    changed = re.findall(rb"Changed [^<]*", history)
    assert len(changed) == 1 and b"Reward" in changed[0] and b"labels" not in changed[0].lower()
