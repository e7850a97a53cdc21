"""REST API plumbing shared by every app: error mapping and the /api/v1/ routes."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from hitl_platform.errors import ApplicationError
from reports import views as report_views
from tasks import apis as task_apis
from workers import apis as worker_apis


def exception_handler(exc, context):
    """A domain error becomes its status code (400 unless it says otherwise) with its message."""
    if isinstance(exc, ApplicationError):
        return Response(
            {"detail": exc.message, "code": exc.code, **exc.extra}, status=exc.status_code
        )
    return drf_exception_handler(exc, context)


urlpatterns = [
    path("v1/auth/token/", obtain_auth_token, name="api-token"),
    path(
        "v1/projects/available/",
        worker_apis.ProjectsAvailableApi.as_view(),
        name="api-projects-available",
    ),
    path(
        "v1/projects/<int:project_id>/assignments/",
        task_apis.AssignmentClaimApi.as_view(),
        name="api-assignment-claim",
    ),
    path(
        "v1/assignments/<int:assignment_id>/submit/",
        task_apis.AssignmentSubmitApi.as_view(),
        name="api-assignment-submit",
    ),
    path(
        "v1/assignments/<int:assignment_id>/skip/",
        task_apis.AssignmentSkipApi.as_view(),
        name="api-assignment-skip",
    ),
    path("v1/me/", worker_apis.MeApi.as_view(), name="api-me"),
    path(
        "v1/projects/<int:project_id>/report/",
        report_views.ProjectReportApi.as_view(),
        name="api-project-report",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
