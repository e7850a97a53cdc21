from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.report_index, name="index"),
    path("projects/<int:project_id>/", views.report_page, name="project"),
    path("projects/<int:project_id>/csv/", views.report_csv, name="project-csv"),
]
