"""REST API plumbing shared by every app: error mapping, throttles, schema, and the /api/v1/ routes.

Throttles keep their counts in the default cache. The default ``LocMemCache`` is per process, so
with several gunicorn workers each process counts on its own; production sets ``CACHE_URL`` to a
shared cache (Redis) so that a limit is one limit for the whole site (see docs/api.md).
"""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from hitl_platform.errors import ApplicationError
from reports import views as report_views
from tasks import apis as task_apis
from tasks import requester_apis as req
from workers import apis as worker_apis


def exception_handler(exc, context):
    """A domain error becomes its status code (400 unless it says otherwise) with its message."""
    if isinstance(exc, ApplicationError):
        return Response(
            {"detail": exc.message, "code": exc.code, **exc.extra}, status=exc.status_code
        )
    return drf_exception_handler(exc, context)


# --- Throttles ------------------------------------------------------------------------------------


class _SettingsRate:
    """Read the rate from the settings at each request (DRF binds it at import time), so that
    ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` changed in a test or by the environment counts."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class ClaimThrottle(_SettingsRate, UserRateThrottle):
    """Claims per worker (rate ``claim``)."""

    scope = "claim"


class SubmitThrottle(_SettingsRate, UserRateThrottle):
    """Submitted answers per worker (rate ``submit``)."""

    scope = "submit"


class FailedLoginThrottle(_SettingsRate, SimpleRateThrottle):
    """Failed sign-ins per client address (rate ``login``), at every door: the token API and the
    crowd's and the admin's login pages (``hitl_platform.logins`` counts them).

    Only failures count: a script that logs in correctly is never slowed down, a password guesser
    is stopped after a handful of tries. The address is ``REMOTE_ADDR``; behind ``NUM_PROXIES``
    proxies (setting, default 0) it is the address the outermost of them saw, as DRF reads
    ``X-Forwarded-For``; a header the client wrote itself is never trusted.
    """

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _load(self, request):
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self._load(request)
        return len(self.history) < self.num_requests or self.throttle_failure()

    def failure_record(self, request) -> None:
        if self.rate is None:
            return
        self._load(request)
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)


class TokenLoginApi(ObtainAuthToken):
    """``POST {username, password}`` → ``{token}``; failed attempts are throttled per address
    (counted by ``hitl_platform.logins`` from Django's ``user_login_failed``)."""

    throttle_classes = [FailedLoginThrottle]


# --- Schema ---------------------------------------------------------------------------------------


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail"],
}
# A 400 is either a domain error ``{detail, code}`` or DRF's field errors ``{field: [messages]}``.
BAD_REQUEST_SCHEMA = {"anyOf": [ERROR_SCHEMA, {"type": "object"}]}
COMMON_ERRORS = {
    "401": "Not signed in: send `Authorization: Token …` or a session cookie.",
    "403": "Signed in, but this role may not do this.",
    "415": "Unsupported content type: send JSON.",
    "429": "Too many requests: wait the seconds in `Retry-After`.",
}


def schema_errors_hook(result, generator, request, public):
    """drf-spectacular postprocessing: document the errors every view can answer whatever it
    declares itself: 401 and 403 where a login is needed, 415 where it takes a body, 429 where a
    throttle applies; and a 400 declared as ``{detail}`` may also be DRF's field errors."""
    views = {}
    for route, _regex, method, callback in generator.endpoints:
        initkwargs = getattr(callback, "initkwargs", None) or {}
        views[(route, method.lower())] = (callback.cls, initkwargs)
    for route, operations in result["paths"].items():
        for method, operation in operations.items():
            cls, initkwargs = views.get((route, method), (None, {}))
            if cls is None:
                continue
            permissions = initkwargs.get("permission_classes", cls.permission_classes)
            throttles = initkwargs.get("throttle_classes", cls.throttle_classes)
            codes = []
            if any(p is not AllowAny for p in permissions):
                codes += ["401", "403"]
            if throttles:
                codes.append("429")
            if "requestBody" in operation:
                codes.append("415")
            responses = operation.setdefault("responses", {})
            bad = responses.get("400", {}).get("content", {}).get("application/json")
            if bad and bad["schema"] == {"$ref": "#/components/schemas/ErrorOutput"}:
                bad["schema"] = BAD_REQUEST_SCHEMA
            for code in codes:
                responses.setdefault(
                    code,
                    {
                        "description": COMMON_ERRORS[code],
                        "content": {"application/json": {"schema": ERROR_SCHEMA}},
                    },
                )
    return result


# --- Routes ---------------------------------------------------------------------------------------

urlpatterns = [
    path("v1/auth/token/", TokenLoginApi.as_view(), name="api-token"),
    # The worker's API.
    path(
        "v1/projects/available/",
        worker_apis.ProjectsAvailableApi.as_view(),
        name="api-projects-available",
    ),
    path(
        "v1/projects/<int:project_id>/assignments/",
        task_apis.AssignmentClaimApi.as_view(throttle_classes=[ClaimThrottle]),
        name="api-assignment-claim",
    ),
    path(
        "v1/assignments/<int:assignment_id>/submit/",
        task_apis.AssignmentSubmitApi.as_view(throttle_classes=[SubmitThrottle]),
        name="api-assignment-submit",
    ),
    path(
        "v1/assignments/<int:assignment_id>/skip/",
        task_apis.AssignmentSkipApi.as_view(),
        name="api-assignment-skip",
    ),
    path("v1/me/", worker_apis.MeApi.as_view(), name="api-me"),
    # The requester's API (managers read, superusers do anything).
    path("v1/projects/", req.ProjectsApi.as_view(), name="api-projects"),
    path("v1/projects/<int:project_id>/", req.ProjectDetailApi.as_view(), name="api-project"),
    path(
        "v1/projects/<int:project_id>/topup/",
        req.ProjectTopUpApi.as_view(),
        name="api-project-topup",
    ),
    path(
        "v1/projects/<int:project_id>/publish/",
        req.ProjectPublishApi.as_view(),
        name="api-project-publish",
    ),
    path(
        "v1/projects/<int:project_id>/pause/",
        req.ProjectPauseApi.as_view(),
        name="api-project-pause",
    ),
    path(
        "v1/projects/<int:project_id>/finish/",
        req.ProjectFinishApi.as_view(),
        name="api-project-finish",
    ),
    path(
        "v1/projects/<int:project_id>/items/import/",
        req.ItemImportApi.as_view(),
        name="api-items-import",
    ),
    path("v1/projects/<int:project_id>/items/", req.ItemListApi.as_view(), name="api-items"),
    path(
        "v1/projects/<int:project_id>/items/<int:item_id>/answers/",
        req.ItemAnswersApi.as_view(),
        name="api-item-answers",
    ),
    path(
        "v1/projects/<int:project_id>/results/",
        req.ResultsExportApi.as_view(),
        name="api-results",
    ),
    path(
        "v1/projects/<int:project_id>/workers/",
        req.ProjectWorkersApi.as_view(),
        name="api-project-workers",
    ),
    path(
        "v1/projects/<int:project_id>/workers/<int:worker_id>/unblock/",
        req.WorkerUnblockApi.as_view(),
        name="api-worker-unblock",
    ),
    path(
        "v1/projects/<int:project_id>/workers/<int:worker_id>/expert/",
        req.WorkerExpertApi.as_view(),
        name="api-worker-expert",
    ),
    path(
        "v1/projects/<int:project_id>/workers/<int:worker_id>/bonus/",
        req.WorkerBonusApi.as_view(),
        name="api-worker-bonus",
    ),
    path(
        "v1/assignments/<int:assignment_id>/approve/",
        req.AnswerApproveApi.as_view(),
        name="api-answer-approve",
    ),
    path(
        "v1/assignments/<int:assignment_id>/reject/",
        req.AnswerRejectApi.as_view(),
        name="api-answer-reject",
    ),
    path(
        "v1/projects/<int:project_id>/report/",
        report_views.ProjectReportApi.as_view(),
        name="api-project-report",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
