"""Abuse resistance: throttles, security headers, CSRF on session forms, no secret in the
repository, nothing a worker must not see in any response a worker gets."""

import re
import subprocess
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from tasks.routing import answer_submit, assignment_claim
from tests.api.conftest import token_client
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rates(settings, monkeypatch):
    """``rates(login=…, claim=…, submit=…)``: throttle rates for this test only. The clock of the
    per-address throttles stands still, so that no test's attempts straddle two windows."""
    from hitl_platform.throttles import AddressAttemptThrottle  # noqa: PLC0415

    now = time.time() // 3600 * 3600 + 1  # the start of a window of any rate
    monkeypatch.setattr(AddressAttemptThrottle, "timer", lambda self: now)

    def set_rates(**overrides):
        rest = dict(settings.REST_FRAMEWORK)
        rest["DEFAULT_THROTTLE_RATES"] = {**rest["DEFAULT_THROTTLE_RATES"], **overrides}
        settings.REST_FRAMEWORK = rest

    return set_rates


def login(client, username, password):
    return client.post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )


# --- Throttles ------------------------------------------------------------------------------------


def test_failed_logins_are_throttled_per_address_and_good_ones_are_not(rates, worker, make_worker):
    rates(login="3/min")
    client = APIClient()
    for _ in range(20):  # a script that logs in correctly is never slowed down
        assert login(client, worker.user.username, PASSWORD).status_code == 200
    for _ in range(3):
        assert login(client, worker.user.username, "guess").status_code == 400
    refused = login(client, worker.user.username, PASSWORD)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0 and "throttled" in refused.json()["detail"].lower()
    # Another address is not affected.
    other = APIClient(REMOTE_ADDR="10.0.0.7")
    assert login(other, worker.user.username, PASSWORD).status_code == 200


def test_claims_and_submits_are_limited_per_worker(rates, worker, make_worker, live_project):
    rates(claim="3/min", submit="2/min")
    project = live_project(tasks=10)
    api = token_client(worker.user)
    codes = []
    for _ in range(3):
        claim = api.post(f"/api/v1/projects/{project.pk}/assignments/")
        codes.append(claim.status_code)
        if claim.status_code == 201:
            submit = api.post(
                f"/api/v1/assignments/{claim.json()['id']}/submit/", {"label": "pos"}, format="json"
            )
            codes.append(submit.status_code)
    assert codes == [201, 200, 201, 200, 201, 429]
    assert api.post(f"/api/v1/projects/{project.pk}/assignments/").status_code == 429
    # Limits are per worker: someone else still works.
    other = token_client(make_worker("other-labeler").user)
    assert other.post(f"/api/v1/projects/{project.pk}/assignments/").status_code == 201


def test_the_browser_pages_share_the_claim_and_submit_limits(rates, worker, live_project):
    """A script driving the crowd pages with a session gets no more than the API would: the task
    page (which claims) answers 429 and says how long to wait; a submit over the limit is not
    stored and the page says so."""
    from tasks.models import Assignment  # noqa: PLC0415

    rates(claim="3/min", submit="2/min")
    project = live_project(tasks=10)
    page = Client()
    page.force_login(worker.user)
    task_url = f"/crowd/projects/{project.pk}/task/"
    stored = []
    for _ in range(3):
        assert page.get(task_url).status_code == 200
        lease = Assignment.objects.get(worker=worker, status="leased")
        page.post(f"/crowd/assignments/{lease.pk}/submit/", {"label": "pos"})
        stored.append(Assignment.objects.get(pk=lease.pk).status)
    assert stored == ["submitted", "submitted", "leased"]  # the third answer was over the limit
    refused = page.get(task_url)
    assert refused.status_code == 429
    assert re.search(r"Try again in \d+ seconds?\.", refused.content.decode())
    assert "faster than this site allows; that answer was not stored" in refused.content.decode()
    # The API counts the same claims: this worker is over the limit there too.
    assert (
        token_client(worker.user).post(f"/api/v1/projects/{project.pk}/assignments/").status_code
        == 429
    )


def test_sign_ups_and_password_resets_are_limited_per_address(rates, worker, mailoutbox):
    rates(signup="2/hour", password_reset="2/hour")
    page = Client()
    for _ in range(3):  # a form with a typo creates nothing and takes no attempt
        typo = page.post(
            "/crowd/signup/", {"username": "new-0", "password1": PASSWORD, "password2": "x"}
        )
        assert typo.status_code == 200 and "Too many" not in typo.content.decode()
    for n in range(2):
        created = page.post(
            "/crowd/signup/",
            {"username": f"new-{n}", "password1": PASSWORD, "password2": PASSWORD},
        )
        assert created.status_code == 302, created.content.decode()[:500]
        page.logout()
    refused = page.post(
        "/crowd/signup/", {"username": "new-2", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert refused.status_code == 200
    assert re.search(
        r"Too many sign-ups from your address\. Try again in \d+ minutes\.",
        refused.content.decode(),
    )
    assert not get_user_model().objects.filter(username="new-2").exists()

    worker.user.email = "wendy@example.com"
    worker.user.save()
    for _ in range(5):
        page.post("/crowd/password-reset/", {"email": "wendy@example.com"})
    assert len(mailoutbox) == 2
    refused = page.post("/crowd/password-reset/", {"email": "wendy@example.com"})
    assert "Too many reset requests from your address" in refused.content.decode()
    elsewhere = Client(REMOTE_ADDR="10.0.0.7")
    assert (
        elsewhere.post("/crowd/password-reset/", {"email": "wendy@example.com"}).status_code == 302
    )
    assert len(mailoutbox) == 3


def test_default_rates_leave_room_for_a_fast_labeler(worker, live_project):
    """The benchmark's pace (about 5 claim+submit cycles a second per worker) is never throttled."""
    project = live_project(tasks=120)
    api = token_client(worker.user)
    for _ in range(100):
        claim = api.post(f"/api/v1/projects/{project.pk}/assignments/")
        assert claim.status_code == 201, claim.content
        submit = api.post(
            f"/api/v1/assignments/{claim.json()['id']}/submit/", {"label": "neg"}, format="json"
        )
        assert submit.status_code == 200, submit.content


# --- Headers, CSRF, docs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "signed_in"),
    [
        ("/api/v1/projects/", True),
        ("/api/schema/", False),
        ("/api/docs/", False),
        ("/crowd/login/", False),
        ("/admin/login/", False),
        ("/admin/", True),
    ],
)
def test_responses_carry_the_security_headers(requester, url, signed_in):
    client = Client()
    if signed_in:
        client.force_login(requester)
    response = client.get(url)
    assert response.status_code == 200, url
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    if url != "/api/docs/":  # Swagger UI sets unsafe-none itself, for its OAuth pop-up
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_docs_page_loads_nothing_from_a_cdn():
    page = Client().get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assert not re.search(r"https?://(cdn|unpkg|fonts)", page), page
    assert "/static/drf_spectacular_sidecar/" in page


def test_a_session_write_without_the_csrf_token_is_refused(requester):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(requester)
    body = {"name": "x", "labels": ["a", "b"], "reward": "0.01"}
    refused = client.post("/api/v1/projects/", body, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    client.get("/admin/")  # a page with a form sets the cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post("/api/v1/projects/", body, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


@pytest.mark.parametrize("url", ["/crowd/login/", "/crowd/signup/", "/admin/login/"])
def test_every_session_form_has_a_csrf_token_and_refuses_a_post_without_it(db, url):
    client = Client(enforce_csrf_checks=True)
    page = client.get(url).content.decode()
    forms = re.findall(r"<form\b.*?</form>", page, flags=re.S)
    posting = [f for f in forms if re.search(r'method="post"', f, flags=re.I)]
    assert posting, url
    assert all("csrfmiddlewaretoken" in f for f in posting), url
    assert client.post(url, {"username": "x", "password": "y"}).status_code == 403


# --- Secrets --------------------------------------------------------------------------------------

SECRET_PATTERNS = [
    r"-----BEGIN (RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----",
    r"AKIA[0-9A-Z]{16}",
    r"gh[pousr]_[A-Za-z0-9]{36}",
    r"xox[baprs]-[A-Za-z0-9-]{10,}",
    r"sk_live_[A-Za-z0-9]{20,}",
    r"(?i)(secret_key|api_key|password)\s*=\s*['\"][^'\"\s]{16,}['\"]",
    r"(?i)(postgres(ql)?|redis|amqp)://[^:@/\s]+:(?!pass@|password@|…@)[^@/\s]+@",
]


def test_no_secret_is_committed():
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in files:
        path = ROOT / name
        if name.startswith("tests/"):  # test passwords are made up on purpose
            continue
        if path.suffix in (".png", ".jpg", ".gz", ".zip", ".sqlite3") or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        for pattern in SECRET_PATTERNS:
            for match in re.finditer(pattern, text):
                if "development-only-insecure-key" in match.group(0):
                    continue
                found.append(f"{name}: {match.group(0)[:60]}")
    assert not found, found


# --- What workers see -----------------------------------------------------------------------------

NEVER_FOR_WORKERS = {
    "gold_label",
    "audit_label",
    "is_gold",
    "budget",
    "spent",
    "reserved",
    "remaining",
    "final_label",
    "confidence",
    "label_source",
    "worker_answers",
    "answers_count",
    "priority",
}


def _keys(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


def test_no_worker_response_shows_gold_budget_or_other_answers(worker, make_worker, live_project):
    project = live_project(tasks=2, gold=3, exam_size=2, gold_rate=0.5)
    other = make_worker("someone-else")
    for _ in range(2):  # another worker's answers on the same items
        a = assignment_claim(worker=other, project=project)
        answer_submit(assignment=a, worker=other, label="neg")
    api = token_client(worker.user)
    seen = [api.get("/api/v1/projects/available/"), api.get("/api/v1/me/")]
    for _ in range(4):
        claim = api.post(f"/api/v1/projects/{project.pk}/assignments/")
        seen.append(claim)
        if claim.status_code != 201:
            break
        seen.append(
            api.post(
                f"/api/v1/assignments/{claim.json()['id']}/submit/", {"label": "pos"}, format="json"
            )
        )
    bodies = [r.json() for r in seen if r.content]
    assert any(isinstance(b, dict) and b.get("is_exam") for b in bodies)  # gold items were served
    leaked = set().union(*(set(_keys(b)) for b in bodies)) & NEVER_FOR_WORKERS
    assert not leaked, leaked
    text = str(bodies)
    assert "someone-else" not in text and str(project.budget) not in text
    # And every requester endpoint is closed to workers.
    for url in [
        f"/api/v1/projects/{project.pk}/",
        f"/api/v1/projects/{project.pk}/items/",
        f"/api/v1/projects/{project.pk}/results/",
        f"/api/v1/projects/{project.pk}/workers/",
    ]:
        assert api.get(url).status_code == 403, url


def test_failed_sign_ins_count_at_every_door_and_the_pages_say_how_long_to_wait(
    rates, worker, requester
):
    """One limit per address for the token API, the crowd's login page and the admin's: a
    guesser cannot get three times the tries by switching doors."""
    rates(login="3/min")
    page = Client()
    for _ in range(20):  # correct sign-ins never count
        assert (
            page.post(
                "/crowd/login/", {"username": worker.user.username, "password": PASSWORD}
            ).status_code
            == 302
        )
        page.logout()
    page.post("/crowd/login/", {"username": worker.user.username, "password": "guess-1"})
    page.post("/admin/login/", {"username": requester.username, "password": "guess-2"})
    assert login(APIClient(), worker.user.username, "guess-3").status_code == 400
    refused = page.post("/crowd/login/", {"username": worker.user.username, "password": PASSWORD})
    assert refused.status_code == 200 and "_auth_user_id" not in page.session
    assert re.search(
        r"Too many failed sign-ins from your address\. Try again in \d+ seconds\.",
        refused.content.decode(),
    )
    admin_page = Client().post(
        "/admin/login/", {"username": requester.username, "password": PASSWORD}
    )
    assert admin_page.status_code == 200
    assert "Too many failed sign-ins" in admin_page.content.decode()
    assert login(APIClient(), worker.user.username, PASSWORD).status_code == 429
    elsewhere = Client(REMOTE_ADDR="10.0.0.7")  # another address is not affected
    assert (
        elsewhere.post(
            "/crowd/login/", {"username": worker.user.username, "password": PASSWORD}
        ).status_code
        == 302
    )


def test_a_made_up_forwarded_address_gets_no_fresh_count(rates, worker, settings):
    rates(login="3/min")
    for n in range(3):
        spoofed = APIClient(HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
        assert login(spoofed, worker.user.username, "guess").status_code == 400
    page = Client(HTTP_X_FORWARDED_FOR="203.0.113.99")
    refused = page.post("/crowd/login/", {"username": worker.user.username, "password": PASSWORD})
    assert "Too many failed sign-ins" in refused.content.decode()
    # Behind one proxy that appends the address it saw, that address is the client's.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxied = APIClient(HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.50")
    assert login(proxied, worker.user.username, PASSWORD).status_code == 200


def test_guesses_sent_in_parallel_each_take_an_attempt(
    rates, settings, transactional_db, live_server
):
    """Guesses sent sixteen at a time through a threaded server: at most the limit of them is
    checked, however they interleave (before, each read the count before any failure was
    recorded, and 38 of 40 parallel guesses were checked against a limit of 5). An unknown
    username costs Django one hash of the password, with the production hasher here, so the
    guesses overlap as they would against a real server."""
    import concurrent.futures  # noqa: PLC0415
    import http.client  # noqa: PLC0415
    import json  # noqa: PLC0415
    from urllib.parse import urlsplit  # noqa: PLC0415

    rates(login="3/min")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    address = urlsplit(live_server.url)

    def guess(n):
        body = json.dumps({"username": "nobody-by-that-name", "password": f"guess-{n}"})
        for _ in range(5):  # the test server's listen queue is short: a refused connect retries
            connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
            try:
                connection.request(
                    "POST", "/api/v1/auth/token/", body, {"Content-Type": "application/json"}
                )
                return connection.getresponse().status
            except (ConnectionResetError, ConnectionRefusedError, http.client.RemoteDisconnected):
                continue
            finally:
                connection.close()
        raise AssertionError("the test server refused five connects in a row")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(guess, range(32)))
    assert codes.count(400) == 3 and codes.count(429) == 29, codes


def test_a_successful_sign_in_gives_its_attempt_back(rates, worker):
    """Attempts are taken before the password is checked: in flight, they count; a correct one
    gives its attempt back, a wrong one keeps it."""
    from django.test import RequestFactory  # noqa: PLC0415

    from hitl_platform.throttles import FailedLoginThrottle  # noqa: PLC0415

    rates(login="3/min")
    factory = RequestFactory()
    in_flight = [factory.post("/api/v1/auth/token/") for _ in range(5)]
    allowed = [FailedLoginThrottle().allow_request(r, None) for r in in_flight]
    assert allowed == [True, True, True, False, False]
    FailedLoginThrottle().success_record(in_flight[0])
    FailedLoginThrottle().success_record(in_flight[0])  # once only
    assert FailedLoginThrottle().allow_request(factory.post("/"), None)
    assert not FailedLoginThrottle().allow_request(factory.post("/"), None)
    client = APIClient()
    assert login(client, worker.user.username, PASSWORD).status_code == 429


def test_the_old_password_of_a_password_change_counts_like_a_sign_in(rates, worker):
    """Someone holding a worker's session cannot guess the password itself at the change form
    faster than at the sign-in doors: the same count per address."""
    rates(login="3/min")
    page = Client()
    page.force_login(worker.user)
    change = {"new_password1": "amber-kettle-meadow-77", "new_password2": "amber-kettle-meadow-77"}
    for n in range(2):
        wrong = page.post("/crowd/password/", {"old_password": f"guess-{n}", **change})
        assert wrong.status_code == 200 and "incorrect" in wrong.content.decode()
    assert login(APIClient(), worker.user.username, "guess-api").status_code == 400
    refused = page.post("/crowd/password/", {"old_password": PASSWORD, **change})
    assert refused.status_code == 200
    assert "Too many failed sign-ins from your address" in refused.content.decode()
    worker.user.refresh_from_db()
    assert worker.user.check_password(PASSWORD)  # unchanged
    elsewhere = Client(REMOTE_ADDR="10.0.0.7")  # the right password, from elsewhere, is fine
    elsewhere.force_login(worker.user)
    done = elsewhere.post("/crowd/password/", {"old_password": PASSWORD, **change})
    assert done.status_code == 302
