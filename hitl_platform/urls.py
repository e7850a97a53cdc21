from django.contrib import admin
from django.urls import include, path

from .health import healthz, readyz
from .logins import ThrottledAdminLoginForm

admin.site.site_header = "hitl-platform"
admin.site.site_title = "hitl-platform"
admin.site.index_title = "Labeling projects"
admin.site.login_form = ThrottledAdminLoginForm

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", include("hitl_platform.api")),
    path("crowd/", include("workers.urls")),
    path("reports/", include("reports.urls")),
]
