"""Manager reports: an HTML page with charts, a CSV download, and the API view."""

import csv

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from hitl_platform.request_body import BodyLimit

from .charts import line_chart
from .selectors import project_report, reports_visible


def _project_or_404(request, project_id):
    return get_object_or_404(reports_visible(user=request.user), pk=project_id)


@staff_member_required
def report_index(request):
    projects = reports_visible(user=request.user).order_by("-created_at")
    return render(
        request,
        "reports/index.html",
        {
            **admin.site.each_context(request),
            "is_nav_sidebar_enabled": False,
            "projects": projects,
            "title": "Project reports",
        },
    )


@staff_member_required
def report_page(request, project_id: int):
    report = project_report(project=_project_or_404(request, project_id))
    days = [d["day"].isoformat() for d in report.daily]
    charts = {
        "burn_down": line_chart(
            title="Budget burn-down",
            x_labels=days,
            series={
                "remaining budget": [float(d["remaining"]) for d in report.daily],
                "spent": [float(d["spent_total"]) for d in report.daily],
            },
        ),
        "accuracy_vs_spend": line_chart(
            title="Estimated accuracy against money spent",
            x_labels=[f"{d['spent_total']:.2f}" for d in report.daily],
            series={"estimated accuracy": [d["estimated_accuracy"] for d in report.daily]},
            y_format="{:.0%}",
            x_title="money spent",
        ),
        "cost_per_accurate": line_chart(
            title="Cost per accurate label over time",
            x_labels=days,
            series={
                "cost per accurate label": [
                    float(d["cost_per_accurate_label"])
                    if d["cost_per_accurate_label"] is not None
                    else None
                    for d in report.daily
                ]
            },
            y_format="{:.3f}",
        ),
    }
    return render(
        request,
        "reports/project.html",
        {
            **admin.site.each_context(request),
            "is_nav_sidebar_enabled": False,
            "report": report,
            "charts": charts,
            "title": report.project.name,
        },
    )


@staff_member_required
def report_csv(request, project_id: int):
    report = project_report(project=_project_or_404(request, project_id))
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="report-project-{report.project.pk}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(["metric", "value", "count"])
    for name, value, count in summary_rows(report):
        writer.writerow([name, "" if value is None else value, "" if count is None else count])
    writer.writerow([])
    columns = [
        "worker",
        "state",
        "answers",
        "estimated_accuracy",
        "gold_accuracy",
        "gold_answers",
        "earnings",
        "cost_per_accurate_answer",
    ]
    writer.writerow(columns)
    for row in report.workers:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    writer.writerow([])
    writer.writerow(
        [
            "day",
            "spent",
            "labeled",
            "spent_total",
            "remaining",
            "estimated_accuracy",
            "cost_per_accurate_label",
        ]
    )
    for d in report.daily:
        writer.writerow(
            [
                d["day"],
                d["spent"],
                d["labeled"],
                d["spent_total"],
                d["remaining"],
                d["estimated_accuracy"],
                d["cost_per_accurate_label"],
            ]
        )
    return response


def summary_rows(report):
    return [
        ("budget", report.budget, None),
        ("spent", report.spent, None),
        ("reserved", report.reserved, None),
        ("remaining", report.remaining, None),
        ("items", report.items, None),
        ("labeled items", report.labeled, None),
        *[
            (f"final labels from {source}", n, None)
            for source, n in sorted(report.labels_by_source.items())
        ],
        ("answers bought", report.answers, None),
        ("answers per label", report.answers_per_label, None),
        ("measured accuracy", report.measured_accuracy, report.measured_count),
        ("estimated accuracy", report.estimated_accuracy, report.labeled),
        ("cost per label", report.cost_per_label, report.labeled),
        (
            "cost per accurate label (measured)",
            report.cost_per_accurate_label_measured,
            report.measured_count,
        ),
        (
            "cost per accurate label (estimated)",
            report.cost_per_accurate_label_estimated,
            report.labeled,
        ),
        ("spend per day (last 7 days)", report.spend_per_day, None),
        ("budget runs out on", report.budget_runs_out_on, None),
        ("work done on", report.work_done_on, None),
    ]


class WorkerRowOutput(serializers.Serializer):
    worker_id = serializers.IntegerField()
    worker = serializers.CharField()
    state = serializers.CharField()
    answers = serializers.IntegerField()
    estimated_accuracy = serializers.FloatField(allow_null=True)
    gold_accuracy = serializers.FloatField(allow_null=True)
    gold_answers = serializers.IntegerField()
    earnings = serializers.DecimalField(max_digits=14, decimal_places=4)
    cost_per_accurate_answer = serializers.DecimalField(
        max_digits=14, decimal_places=4, allow_null=True
    )


class DayOutput(serializers.Serializer):
    day = serializers.DateField()
    spent = serializers.DecimalField(max_digits=14, decimal_places=4)
    labeled = serializers.IntegerField()
    spent_total = serializers.DecimalField(max_digits=14, decimal_places=4)
    remaining = serializers.DecimalField(max_digits=14, decimal_places=4)
    estimated_accuracy = serializers.FloatField(allow_null=True)
    cost_per_accurate_label = serializers.DecimalField(
        max_digits=14, decimal_places=4, allow_null=True
    )


class ModelPassOutput(serializers.Serializer):
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    n_train = serializers.IntegerField()
    cv_accuracy = serializers.FloatField()
    is_useful = serializers.BooleanField()
    labeled_by_model = serializers.IntegerField()
    labeled_by_people = serializers.IntegerField()
    answers_bought = serializers.IntegerField()
    agreement_with_people = serializers.FloatField(
        allow_null=True,
        help_text="Share of the people's labels on items it voted on that it got right, counting "
        "only labels no useful model vote helped decide (spot checks, experts).",
    )
    agreement_count = serializers.IntegerField(help_text="The labels agreement_with_people counts.")
    measured_accuracy = serializers.FloatField(allow_null=True)
    measured_count = serializers.IntegerField()


class ReportOutput(serializers.Serializer):
    project = serializers.IntegerField(source="project.pk")
    budget = serializers.DecimalField(max_digits=14, decimal_places=4)
    spent = serializers.DecimalField(max_digits=14, decimal_places=4)
    reserved = serializers.DecimalField(max_digits=14, decimal_places=4)
    remaining = serializers.DecimalField(max_digits=14, decimal_places=4)
    items = serializers.IntegerField()
    items_by_status = serializers.DictField(child=serializers.IntegerField())
    labels_by_source = serializers.DictField(child=serializers.IntegerField())
    labeled = serializers.IntegerField()
    answers = serializers.IntegerField()
    answers_per_label = serializers.FloatField(allow_null=True)
    measured_accuracy = serializers.FloatField(allow_null=True)
    measured_count = serializers.IntegerField()
    estimated_accuracy = serializers.FloatField(allow_null=True)
    cost_per_label = serializers.DecimalField(max_digits=14, decimal_places=4, allow_null=True)
    cost_per_accurate_label_measured = serializers.DecimalField(
        max_digits=14, decimal_places=4, allow_null=True
    )
    cost_per_accurate_label_estimated = serializers.DecimalField(
        max_digits=14, decimal_places=4, allow_null=True
    )
    spend_per_day = serializers.DecimalField(max_digits=14, decimal_places=4, allow_null=True)
    budget_runs_out_on = serializers.DateField(allow_null=True)
    work_done_on = serializers.DateField(allow_null=True)
    daily = DayOutput(many=True)
    workers = WorkerRowOutput(many=True)
    model_passes = ModelPassOutput(many=True)


class ProjectReportApi(BodyLimit, APIView):
    """A project's budget and quality report: owner, managers and superusers; 404 for others."""

    @extend_schema(responses={200: ReportOutput})
    def get(self, request, project_id: int):
        if not request.user.is_authenticated:
            raise Http404
        report = project_report(project=_project_or_404(request, project_id))
        return Response(ReportOutput(report).data)
