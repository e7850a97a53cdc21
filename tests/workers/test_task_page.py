"""The task page without a browser: claiming, submitting, skipping and every state it shows."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tasks.models import Assignment, Project
from tasks.routing import assignment_claim

from .conftest import assignment_id
from .helpers import answer, block


def task_url(project):
    return f"/crowd/projects/{project.pk}/task/"


def submit(client, pk, label, **headers):
    return client.post(f"/crowd/assignments/{pk}/submit/", {"label": label}, **headers)


def test_opening_the_task_page_twice_claims_once(live_project, worker, login_client):
    project = live_project(tasks=3)
    client = login_client(worker)
    first = assignment_id(client.get(task_url(project)))
    again = assignment_id(client.get(task_url(project)))
    assert first == again
    assert Assignment.objects.filter(worker=worker).count() == 1


def test_submit_stores_the_answer_and_redirects_to_the_next_item(
    live_project, worker, login_client
):
    project = live_project(tasks=3)
    client = login_client(worker)
    pk = assignment_id(client.get(task_url(project)))
    response = submit(client, pk, "neg")
    assert response.status_code == 303 and response.url == task_url(project)
    stored = Assignment.objects.get(pk=pk)
    assert (stored.status, stored.label) == ("submitted", "neg")
    assert assignment_id(client.get(response.url)) != pk


def test_with_htmx_the_next_item_comes_back_as_the_task_panel_alone(
    live_project, worker, login_client
):
    project = live_project(tasks=3)
    client = login_client(worker)
    pk = assignment_id(client.get(task_url(project)))
    response = submit(client, pk, "pos", HTTP_HX_REQUEST="true", follow=True)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="task-panel"') and "<html" not in html
    assert assignment_id(response) != pk
    assert "HX-Request" in response["Vary"]


def test_the_panel_has_one_button_per_label_with_its_key_and_a_skip(
    live_project, worker, login_client
):
    project = live_project(tasks=1, labels=[f"L{n}" for n in range(1, 12)])
    html = login_client(worker).get(task_url(project)).content.decode()
    for n in range(1, 10):
        assert f'value="L{n}" class="label-button" data-key="{n}"' in html
    assert 'value="L10" class="label-button">' in html  # past 9 labels: a button, no key
    assert 'data-key="s"' in html and "Skip this item" in html
    assert html.count('<form method="post"') == 2  # the answer form and log out
    assert html.count("csrfmiddlewaretoken") == 2


def test_item_text_with_html_or_a_script_is_shown_as_text(payload_project, worker, login_client):
    project = payload_project(
        {"text": "<script>alert(1)</script><b>bold?</b>", "note": '<img src=x onerror="1">'}
    )
    html = login_client(worker).get(task_url(project)).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold?&lt;/b&gt;" in html
    assert "&lt;img src=x onerror=&quot;1&quot;&gt;" in html


def test_an_image_item_and_a_table_of_fields(payload_project, worker, make_worker, login_client):
    project = payload_project(
        {"image_url": "https://example.org/cat.jpg", "caption": "A cat?", "n": 3}
    )
    html = login_client(worker).get(task_url(project)).content.decode()
    assert '<img class="item-image" src="https://example.org/cat.jpg"' in html
    assert '<th scope="row">caption</th><td>A cat?</td>' in html
    assert '<th scope="row">n</th><td>3</td>' in html
    # A non-http(s) URL is never an image source.
    other = payload_project({"image_url": "javascript:alert(1)"}, name="other")
    html = login_client(make_worker()).get(task_url(other)).content.decode()
    assert "<img" not in html and "javascript:alert(1)" in html  # shown as a field, as text


def test_instructions_are_markdown_without_scripts_or_event_handlers(
    live_project, worker, login_client
):
    project = live_project(
        tasks=1,
        instructions=(
            "Read **carefully**.\n\n<script>alert('x')</script>\n\n"
            '<img src="https://example.org/a.png" onerror="alert(2)">\n\n[more](https://example.org)'
        ),
    )
    html = login_client(worker).get(task_url(project)).content.decode()
    assert "<strong>carefully</strong>" in html
    assert "<script>alert" not in html and "onerror" not in html
    assert '<img src="https://example.org/a.png">' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert '<details class="instructions card"' in html  # collapsible


def test_the_exam_shows_its_progress_and_then_paid_work_opens(live_project, worker, login_client):
    project = live_project(tasks=3, gold=3, exam_size=2)
    client = login_client(worker)
    response = client.get(task_url(project))
    html = response.content.decode()
    assert 'data-state="exam"' in html and "Exam · question 1 of 2" in html
    assert 'value="0"' in html  # progress bar
    response = submit(client, assignment_id(response), "pos", follow=True)
    assert b"Exam \xc2\xb7 question 2 of 2" in response.content
    response = submit(client, assignment_id(response), "pos", follow=True)
    html = response.content.decode()
    assert 'data-state="task"' in html and "You passed the exam" in html
    assert "0.05</strong> per answer" in html


def test_a_control_item_looks_like_any_other_item(live_project, worker, login_client):
    project = live_project(tasks=2, gold=2, gold_rate=1.0)
    response = login_client(worker).get(task_url(project))
    assert Assignment.objects.get(pk=assignment_id(response)).kind == "gold"
    html = response.content.decode().lower()
    assert 'data-state="task"' in html
    html = re.sub(r'value="[^"]*"', "", html)  # random CSRF tokens may contain "g0" by chance
    for word in ("gold", "control", "budget", "g0", "g1"):
        assert word not in html.replace("control text", ""), word


def test_a_failed_exam_blocks_with_its_reason(live_project, worker, login_client):
    project = live_project(tasks=3, gold=3, exam_size=2, exam_pass_accuracy=1.0)
    client = login_client(worker)
    response = client.get(task_url(project))
    response = submit(client, assignment_id(response), "neg", follow=True)
    response = submit(client, assignment_id(response), "neg", follow=True)
    html = response.content.decode()
    assert 'data-state="blocked"' in html
    assert "Exam failed: 0 of 2 right" in html and "label-button" not in html


def test_a_blocked_worker_sees_the_reason_and_gets_no_task(live_project, worker, login_client):
    project = live_project(tasks=3)
    block(worker, project, reason="Median answer time 0.4 s is below 1.0 s.")
    client = login_client(worker)
    html = client.get(task_url(project)).content.decode()
    assert 'data-state="blocked"' in html and "Median answer time 0.4 s is below 1.0 s." in html
    assert "label-button" not in html
    assert not Assignment.objects.filter(worker=worker).exists()
    dashboard = client.get("/crowd/").content.decode()
    assert "Median answer time 0.4 s is below 1.0 s." in dashboard


def test_no_work_left(live_project, worker, login_client):
    project = live_project(tasks=1)
    client = login_client(worker)
    submit(client, assignment_id(client.get(task_url(project))), "pos")
    html = client.get(task_url(project)).content.decode()
    assert 'data-state="empty"' in html and "No work left for you here" in html


def test_budget_used_up(live_project, worker, login_client):
    project = live_project(tasks=2, budget="0.0400")
    html = login_client(worker).get(task_url(project)).content.decode()
    assert 'data-state="budget"' in html and "used up its budget" in html
    assert "0.04" not in html  # no budget figure


def test_a_paused_project_says_so(live_project, worker, login_client):
    project = live_project(tasks=2)
    Project.objects.filter(pk=project.pk).update(status=Project.Status.PAUSED)
    html = login_client(worker).get(task_url(project)).content.decode()
    assert 'data-state="closed"' in html and "not open for work (paused)" in html


def test_a_draft_or_unknown_project_is_404(project, worker, login_client):
    client = login_client(worker)
    assert client.get(task_url(project)).status_code == 404
    assert client.get("/crowd/projects/999999/task/").status_code == 404
    assert not Assignment.objects.exists()


def test_an_expired_lease_shows_its_message_and_the_next_item_on_reload(
    live_project, worker, login_client
):
    project = live_project(tasks=3)
    past = timezone.now() - timedelta(hours=1)
    stale = assignment_claim(worker=worker, project=project, now=past)
    html = login_client(worker).get(task_url(project)).content.decode()
    assert "Time ran out on your previous item" in html
    assert Assignment.objects.get(pk=stale.pk).status == "expired"
    assert 'data-state="task"' in html and f'data-assignment="{stale.pk}"' not in html


def test_an_answer_on_an_expired_lease_is_refused_with_a_message_and_the_next_item(
    live_project, worker, login_client
):
    project = live_project(tasks=3)
    client = login_client(worker)
    pk = assignment_id(client.get(task_url(project)))
    now = timezone.now()
    Assignment.objects.filter(pk=pk).update(
        leased_at=now - timedelta(minutes=20), expires_at=now - timedelta(seconds=1)
    )
    response = submit(client, pk, "pos", HTTP_HX_REQUEST="true", follow=True)
    html = response.content.decode()
    assert "your answer was not stored" in html
    assert assignment_id(response) != pk
    assert Assignment.objects.get(pk=pk).status == "expired"


def test_a_label_outside_the_project_is_refused_and_the_item_stays(
    live_project, worker, login_client
):
    project = live_project(tasks=3)
    client = login_client(worker)
    pk = assignment_id(client.get(task_url(project)))
    response = submit(client, pk, "maybe", follow=True)
    assert b"is not a label of this project" in response.content
    assert assignment_id(response) == pk
    assert Assignment.objects.get(pk=pk).status == "leased"


def test_skip_gives_the_next_item_and_never_the_skipped_one_again(
    live_project, worker, login_client
):
    project = live_project(tasks=2)
    client = login_client(worker)
    skipped = assignment_id(client.get(task_url(project)))
    response = client.post(
        f"/crowd/assignments/{skipped}/skip/", HTTP_HX_REQUEST="true", follow=True
    )
    nxt = assignment_id(response)
    assert nxt != skipped and Assignment.objects.get(pk=skipped).status == "expired"
    skipped_item = Assignment.objects.get(pk=skipped).item_id
    assert Assignment.objects.get(pk=nxt).item_id != skipped_item
    submit(client, nxt, "pos")
    assert b'data-state="empty"' in client.get(task_url(project)).content


def test_nobody_can_answer_or_skip_another_workers_item(
    live_project, worker, make_worker, login_client
):
    project = live_project(tasks=2)
    pk = assignment_id(login_client(worker).get(task_url(project)))
    other = login_client(make_worker())
    assert submit(other, pk, "pos").status_code == 404
    assert other.post(f"/crowd/assignments/{pk}/skip/").status_code == 404
    assert Assignment.objects.get(pk=pk).status == "leased"


def test_only_post_changes_anything(live_project, worker, login_client):
    project = live_project(tasks=2)
    client = login_client(worker)
    pk = assignment_id(client.get(task_url(project)))
    assert client.get(f"/crowd/assignments/{pk}/submit/?label=pos").status_code == 405
    assert client.get(f"/crowd/assignments/{pk}/skip/").status_code == 405
    assert Assignment.objects.get(pk=pk).status == "leased"


def test_a_post_without_its_csrf_token_is_refused(live_project, worker):
    project = live_project(tasks=2)
    client = Client(enforce_csrf_checks=True)
    client.force_login(worker.user)
    pk = assignment_id(client.get(task_url(project)))
    assert submit(client, pk, "pos").status_code == 403
    assert Assignment.objects.get(pk=pk).status == "leased"


@pytest.mark.parametrize("seconds", [0, 7, 75, 3700])
def test_the_countdown_starts_from_the_time_left(live_project, worker, login_client, seconds):
    project = live_project(tasks=1)
    lease = assignment_claim(worker=worker, project=project)
    Assignment.objects.filter(pk=lease.pk).update(
        expires_at=timezone.now() + timedelta(seconds=seconds + 0.5)
    )
    html = login_client(worker).get(task_url(project)).content.decode()
    if seconds == 0:  # expired by now or about to be: either way a valid page
        assert 'data-state="task"' in html
        return
    assert f'data-seconds="{seconds}"' in html
    expected = {7: "0:07", 75: "1:15", 3700: "1:01:40"}[seconds]
    assert f'<span class="countdown-value">{expected}</span>' in html


def test_the_history_lists_own_answers_with_status_and_reward(
    live_project, worker, make_worker, login_client
):
    project = live_project(tasks=4, gold=2, exam_size=1)
    exam = answer(worker, project, "pos")
    approved = answer(worker, project, "pos")
    rejected = answer(worker, project, "neg")
    pending = answer(worker, project, "pos")
    Assignment.objects.filter(pk=approved.pk).update(status="approved")
    Assignment.objects.filter(pk=rejected.pk).update(
        status="rejected", rejection_reason="Contradicts a control item."
    )
    someone = make_worker("someone-else")
    answer(someone, project, "neg")
    html = login_client(worker).get("/crowd/history/").content.decode()
    assert html.count("<tr>") == 1 + 4  # header + four answers
    assert "exam, unpaid" in html
    assert '<span class="badge badge-good">Approved</span>' in html
    assert '<span class="badge badge-bad">Rejected</span>' in html
    assert '<span class="reason">Contradicts a control item.</span>' in html
    assert html.count('<span class="badge">Pending</span>') == 2  # the exam answer and one task
    assert html.count(">0.05</td>") == 3
    assert "someone-else" not in html
    assert exam.kind == "exam" and pending.kind == "task"
