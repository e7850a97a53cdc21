"""Sign up, log in, log out, change and reset a password; who may enter the crowd pages."""

import re

import pytest
from django.core import mail
from django.test import Client

from tests.conftest import PASSWORD
from workers.models import Worker
from workers.services import worker_create

STRONG = "tide-lantern-orchid-42"


def test_a_visitor_signs_up_and_lands_on_the_dashboard_as_a_worker(db, client):
    response = client.post(
        "/crowd/signup/",
        {"username": "nina", "email": "", "password1": STRONG, "password2": STRONG},
    )
    assert response.status_code == 302 and response.url == "/crowd/"
    worker = Worker.objects.get(user__username="nina")
    assert worker.status == Worker.Status.ACTIVE
    response = client.get("/crowd/")
    assert response.status_code == 200 and b"Hello, nina" in response.content


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", b"too short"),
        ("password123", b"too common"),
        ("83920175946", b"entirely numeric"),
        ("nina-nina-nina", b"too similar"),
    ],
)
def test_signup_applies_djangos_password_validators(db, client, password, message):
    response = client.post(
        "/crowd/signup/",
        {"username": "nina-nina-nina", "password1": password, "password2": password},
    )
    assert response.status_code == 200 and message in response.content
    assert not Worker.objects.exists()


def test_signup_refuses_a_taken_username_in_any_case(worker, client):
    response = client.post(
        "/crowd/signup/",
        {"username": worker.user.username.upper(), "password1": STRONG, "password2": STRONG},
    )
    assert response.status_code == 200 and b"already exists" in response.content
    assert Worker.objects.count() == 1


def test_every_form_has_a_label_for_each_field_and_a_csrf_token(db, client):
    for url in ("/crowd/signup/", "/crowd/login/", "/crowd/password-reset/"):
        html = client.get(url).content.decode()
        assert "csrfmiddlewaretoken" in html
        for field_id in re.findall(r'<input[^>]+id="([^"]+)"', html):
            assert f'for="{field_id}"' in html, (url, field_id)


def test_log_in_and_log_out(worker, client):
    response = client.post(
        "/crowd/login/", {"username": worker.user.username, "password": PASSWORD}
    )
    assert response.status_code == 302 and response.url == "/crowd/"
    assert client.get("/crowd/").status_code == 200
    assert client.get("/crowd/logout/").status_code == 405  # logging out is a POST
    response = client.post("/crowd/logout/")
    assert response.status_code == 302 and response.url == "/crowd/login/"
    assert client.get("/crowd/").url.startswith("/crowd/login/")


def test_a_wrong_password_does_not_log_in(worker, client):
    response = client.post("/crowd/login/", {"username": worker.user.username, "password": "no"})
    assert response.status_code == 200 and b"correct username and password" in response.content


def test_change_password(worker, login_client):
    client = login_client(worker)
    response = client.post(
        "/crowd/password/",
        {"old_password": PASSWORD, "new_password1": STRONG, "new_password2": STRONG},
    )
    assert response.status_code == 302 and response.url == "/crowd/password/done/"
    worker.user.refresh_from_db()
    assert worker.user.check_password(STRONG)
    assert client.get("/crowd/").status_code == 200  # still logged in


def test_reset_a_forgotten_password_by_email(db, client):
    worker_create(username="olga", password=PASSWORD, email="olga@example.org")
    response = client.post("/crowd/password-reset/", {"email": "olga@example.org"})
    assert response.status_code == 302 and response.url == "/crowd/password-reset/sent/"
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/crowd/password-reset/\S+/)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    response = client.get(link.group(1), follow=True)
    assert b"Choose a new password" in response.content
    response = client.post(
        response.redirect_chain[-1][0], {"new_password1": STRONG, "new_password2": STRONG}
    )
    assert response.status_code == 302 and response.url == "/crowd/password-reset/done/"
    assert client.login(username="olga", password=STRONG)


def test_the_crowd_pages_need_a_login(db, client, live_project):
    project = live_project(tasks=1)
    for url in ("/crowd/", "/crowd/history/", f"/crowd/projects/{project.pk}/task/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url == f"/crowd/login/?next={url}"


def test_an_htmx_request_after_the_session_ended_reloads_into_the_login_page(db, client):
    response = client.post(
        "/crowd/assignments/1/submit/",
        {"label": "pos"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/crowd/projects/1/task/",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/crowd/login/?next=/crowd/projects/1/task/"


def test_requesters_and_outsiders_are_not_workers(requester, outsider, live_project):
    project = live_project(tasks=1)
    for user in (requester, outsider):
        client = Client()
        client.force_login(user)
        for url in ("/crowd/", "/crowd/history/", f"/crowd/projects/{project.pk}/task/"):
            response = client.get(url)
            assert response.status_code == 403, (user, url)
            assert b"not a crowd worker account" in response.content
    assert not project.assignments.exists()
