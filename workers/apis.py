"""The worker's own view: projects open to them with their standing, and their record."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from hitl_platform.request_body import BodyLimit
from tasks.models import Project

from .models import WorkerStanding
from .permissions import IsWorker, worker_of
from .selectors import worker_accuracy, worker_earnings


class StandingOutput(serializers.Serializer):
    state = serializers.ChoiceField(choices=["new", "exam", "qualified", "blocked"])
    reason = serializers.CharField(allow_blank=True)
    exam_answered = serializers.IntegerField()
    exam_size = serializers.IntegerField()


class AvailableProjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    instructions = serializers.CharField()
    reward = serializers.DecimalField(max_digits=14, decimal_places=4)
    labels = serializers.ListField(child=serializers.CharField())
    standing = StandingOutput()


def standing_view(project: Project, standing: WorkerStanding | None) -> dict:
    if standing is None:
        return {"state": "new", "reason": "", "exam_answered": 0, "exam_size": project.exam_size}
    return {
        "state": standing.state,
        "reason": standing.blocked_reason,
        "exam_answered": standing.exam_answers,
        "exam_size": project.exam_size,
    }


class ProjectsAvailableApi(BodyLimit, APIView):
    permission_classes = [IsWorker]

    @extend_schema(responses=AvailableProjectOutput(many=True))
    def get(self, request):
        worker = worker_of(request)
        projects = list(Project.objects.filter(status=Project.Status.ACTIVE).order_by("pk"))
        standings = {
            s.project_id: s
            for s in WorkerStanding.objects.filter(worker=worker, project__in=projects)
        }
        data = [
            {
                "id": p.pk,
                "name": p.name,
                "instructions": p.instructions,
                "reward": p.reward,
                "labels": p.labels,
                "standing": standing_view(p, standings.get(p.pk)),
            }
            for p in projects
        ]
        return Response(AvailableProjectOutput(data, many=True).data)


class EarningsOutput(serializers.Serializer):
    pending = serializers.DecimalField(max_digits=14, decimal_places=4)
    approved = serializers.DecimalField(max_digits=14, decimal_places=4)
    paid = serializers.DecimalField(max_digits=14, decimal_places=4)


class BlockOutput(serializers.Serializer):
    project = serializers.IntegerField(source="project_id")
    project_name = serializers.CharField(source="project.name")
    reason = serializers.CharField(source="blocked_reason")
    since = serializers.DateTimeField(source="blocked_at")


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    answers = serializers.IntegerField()
    estimated_accuracy = serializers.FloatField(allow_null=True)
    earnings = EarningsOutput()
    blocks = BlockOutput(many=True)


class MeApi(BodyLimit, APIView):
    permission_classes = [IsWorker]

    @extend_schema(responses=MeOutput)
    def get(self, request):
        worker = worker_of(request)
        blocks = WorkerStanding.objects.filter(worker=worker, state="blocked").select_related(
            "project"
        )
        data = {
            "username": request.user.get_username(),
            "answers": worker.assignments.filter(
                status__in=["submitted", "approved", "rejected"]
            ).count(),
            "estimated_accuracy": worker_accuracy(worker=worker),
            "earnings": worker_earnings(worker=worker),
            "blocks": blocks,
        }
        return Response(MeOutput(data).data)
