"""The crowd worker's browser UI: sign up, dashboard, the task page, history.

Server-rendered templates enhanced by htmx. Every change goes through a service
(``worker_create``, ``assignment_claim``, ``answer_submit``, ``assignment_skip``); views only read,
call one service and render. Nothing here shows whether an item is gold, a project's budget or
another worker's answers (the same rule as the worker API in ``workers/apis.py``).

The task page: ``GET /crowd/projects/<id>/task/`` claims the next item, or shows the live lease
the worker already holds (``assignment_claim`` returns it, so reloading never claims twice).
Submit and skip are POSTs that redirect back to it; htmx follows the redirect inside the same
request, so the label buttons swap in the next item without a page load, and the same forms work
without JavaScript.
"""

from __future__ import annotations

from contextlib import suppress
from functools import wraps

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from billing.selectors import worker_balances
from hitl_platform.errors import ApplicationError, NotAllowed
from hitl_platform.logins import ThrottledPasswordChangeForm
from hitl_platform.throttles import ClaimThrottle, SubmitThrottle, wait_text
from tasks.models import Assignment, Project
from tasks.routing import (
    BudgetExhausted,
    LeaseNotLive,
    answer_submit,
    assignment_claim,
    assignment_skip,
)

from .apis import standing_view
from .forms import SignupForm, ThrottledPasswordResetForm
from .models import Worker, WorkerStanding
from .selectors import (
    projects_pay_rates,
    worker_accuracy,
    worker_answers,
    worker_answers_count,
    worker_earnings,
    worker_for_task,
    worker_standings,
)
from .services import worker_create

HISTORY_PAGE_SIZE = 50
EXPIRED_NOTICE = "Time ran out on your previous item, so it went back to others. Here is a new one."


def _login_required(view):
    """``login_required`` that also works for htmx requests: those get a full-page redirect to
    the login page (``HX-Redirect``) instead of a login form swapped into the task panel."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.htmx:
            target = request.htmx.current_url_abs_path or request.get_full_path()
            return HttpResponseClientRedirect(redirect_to_login(target).url)
        return redirect_to_login(request.get_full_path())

    return wrapper


def _not_a_worker(request: HttpRequest) -> HttpResponse:
    """A signed-in user without a worker profile (a requester, an admin)."""
    return render(request, "workers/not_a_worker.html", status=403)


# --- Accounts ------------------------------------------------------------------------------------


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("crowd:dashboard")
    form = SignupForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        worker = worker_create(
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password1"],
            email=form.cleaned_data.get("email", ""),
        )
        login(request, worker.user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome! Pick a project to start.")
        return redirect("crowd:dashboard")
    return render(request, "workers/signup.html", {"form": form})


# --- Dashboard and history -----------------------------------------------------------------------


@_login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    worker = Worker.objects.filter(user=request.user).first()
    if worker is None:
        return _not_a_worker(request)
    projects = list(Project.objects.filter(status=Project.Status.ACTIVE).order_by("pk"))
    standings = worker_standings(worker=worker, project_ids=[p.pk for p in projects])
    rates = projects_pay_rates(worker=worker, projects=projects)
    rows = [
        {
            "project": p,
            "standing": standing_view(p, standings.get(p.pk)),
            "rate": rates[p.pk],
        }
        for p in projects
    ]
    return render(
        request,
        "workers/dashboard.html",
        {
            "rows": rows,
            # Pending and approved from the answers; paid out from the ledger (billing).
            "earnings": {
                **worker_earnings(worker=worker),
                "paid": worker_balances(worker_id=worker.pk)["paid"],
            },
            "answers": worker_answers_count(worker=worker),
            "accuracy": worker_accuracy(worker=worker),
            "nav": "dashboard",
        },
    )


@_login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    worker = Worker.objects.filter(user=request.user).first()
    if worker is None:
        return _not_a_worker(request)
    page = Paginator(worker_answers(worker=worker), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "workers/history.html", {"page": page, "nav": "history"})


# --- The task page -------------------------------------------------------------------------------


@never_cache
@_login_required
@require_GET
def task(request: HttpRequest, project_id: int) -> HttpResponse:
    """Claim (or show) the worker's item in the project and render the task panel or a state.

    Queries on the common path: session, user, one read of the worker with their standing and
    lease (``worker_for_task``), then the claim service; the rendered item and project come with
    the claim.
    """
    worker = worker_for_task(user=request.user, project_id=project_id)
    if worker is None:
        return _not_a_worker(request)
    if worker.project_status in (None, Project.Status.DRAFT):
        raise Http404("No such project.")
    now = timezone.now()
    notices = []
    if worker.lease_expires_at is not None and worker.lease_expires_at <= now:
        notices.append(EXPIRED_NOTICE)
    context = {"notices": notices, "now": now}
    throttle = ClaimThrottle()  # the API's limit on claims, per worker: the page claims too
    if not throttle.allow_request(request, None):
        return _task_render(
            request,
            {**context, "state": "throttled", "wait": wait_text(throttle.wait())},
            project_id,
            status=429,
        )
    try:
        assignment = assignment_claim(worker=worker, project=Project(pk=project_id), now=now)
    except BudgetExhausted:
        context["state"] = "budget"
    except NotAllowed as exc:
        standing = WorkerStanding.objects.filter(worker=worker, project_id=project_id).first()
        if standing is not None and standing.state == WorkerStanding.State.BLOCKED:
            context.update(state="blocked", reason=standing.blocked_reason)
        else:
            context.update(state="closed", reason=exc.message)
    else:
        if assignment is None:
            context["state"] = "empty"
        else:
            if not Assignment.project.is_cached(assignment):  # the live lease, loaded bare
                assignment = Assignment.objects.select_related("project", "item").get(
                    pk=assignment.pk
                )
            context.update(_task_context(worker=worker, assignment=assignment, now=now))
    return _task_render(request, context, project_id)


def _task_render(request, context: dict, project_id: int, status: int = 200) -> HttpResponse:
    if "project" not in context:
        context["project"] = get_object_or_404(Project, pk=project_id)
    template = "workers/_task_panel.html" if request.htmx else "workers/task.html"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _task_context(*, worker: Worker, assignment: Assignment, now) -> dict:
    project = assignment.project
    is_exam = assignment.kind == Assignment.Kind.EXAM
    standing = standing_view(
        project,
        WorkerStanding(
            state=worker.standing_state or WorkerStanding.State.EXAM,
            exam_answers=worker.standing_exam_answers or 0,
        ),
    )
    notices = []
    if (
        not is_exam
        and project.exam_size
        and worker.standing_exam_answers
        and worker.standing_answers == worker.standing_exam_answers
    ):
        notices.append("You passed the exam: paid work is open now.")
    labels = [
        {"value": label, "key": str(n) if n <= 9 else ""}
        for n, label in enumerate(project.labels, start=1)
    ]
    return {
        "state": "exam" if is_exam else "task",
        "assignment": assignment,
        "project": project,
        "labels": labels,
        "last_key": min(len(labels), 9),
        "standing": standing,
        "exam_question": standing["exam_answered"] + 1,
        "seconds_left": max(int((assignment.expires_at - now).total_seconds()), 0),
        "notices_after": notices,
    }


class _SeeOther(HttpResponseRedirect):
    """303: after a POST, GET the next page (htmx follows it inside the same request)."""

    status_code = 303


def _to_task(project_id: int) -> HttpResponse:
    return _SeeOther(reverse("crowd:task", args=[project_id]))


def _own_assignment(request: HttpRequest, assignment_id: int) -> Assignment:
    """The worker's assignment with the worker, in one query; 404 for anyone else's."""
    return get_object_or_404(
        Assignment.objects.select_related("worker"), pk=assignment_id, worker__user=request.user
    )


@_login_required
@require_POST
def submit(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _own_assignment(request, assignment_id)
    throttle = SubmitThrottle()  # the API's limit on answers, per worker
    if not throttle.allow_request(request, None):
        messages.error(
            request,
            f"You are answering faster than this site allows; that answer was not stored. "
            f"Try again in {wait_text(throttle.wait())}.",
        )
        return _to_task(assignment.project_id)
    try:
        answer_submit(
            assignment=assignment, worker=assignment.worker, label=request.POST.get("label", "")
        )
    except LeaseNotLive:
        messages.warning(
            request, "Time ran out on that item; your answer was not stored. Here is a new one."
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _to_task(assignment.project_id)


@_login_required
@require_POST
def skip(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _own_assignment(request, assignment_id)
    # Already expired or skipped: the task page shows the next item either way.
    with suppress(LeaseNotLive):
        assignment_skip(assignment=assignment, worker=assignment.worker)
    return _to_task(assignment.project_id)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's, with the old password's check counted like a sign-in
    (``ThrottledPasswordChangeForm``)."""

    form_class = ThrottledPasswordChangeForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


class PasswordResetView(auth_views.PasswordResetView):
    """Django's, with reset requests per client address limited (``ThrottledPasswordResetForm``)."""

    form_class = ThrottledPasswordResetForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}
