"""REST API plumbing shared by every app: error mapping, schema, and the /api/v1/ routes (the
throttles are in ``hitl_platform.throttles``)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from hitl_platform.errors import ApplicationError
from hitl_platform.request_body import BodyLimit, JSONParser
from hitl_platform.throttles import ClaimThrottle, FailedLoginThrottle, SubmitThrottle
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


class TokenLoginApi(BodyLimit, ObtainAuthToken):
    """``POST {username, password}`` → ``{token}``; failed sign-ins are limited per address
    (``FailedLoginThrottle``: each sign-in takes an attempt, a correct one gives it back)."""

    throttle_classes = [FailedLoginThrottle]
    # ObtainAuthToken names DRF's parsers itself: ours, so that JSON nested too deeply is a 400
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)  # a failed sign-in raises: 400
        FailedLoginThrottle().success_record(request)
        return response


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
