"""The worker's API for work: claim an item, submit an answer, skip. One view per operation.

Nothing here shows whether an item is gold, another worker's answer or a budget figure.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from workers.permissions import IsWorker, worker_of

from .models import Assignment, Project
from .routing import answer_submit, assignment_claim, assignment_skip


class ItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    payload = serializers.JSONField()


class AssignmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    item = ItemOutput()
    labels = serializers.ListField(child=serializers.CharField(), source="project.labels")
    expires_at = serializers.DateTimeField()
    is_exam = serializers.SerializerMethodField()

    def get_is_exam(self, obj: Assignment) -> bool:
        return obj.kind == Assignment.Kind.EXAM


class ErrorOutput(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(required=False)


class AssignmentClaimApi(APIView):
    permission_classes = [IsWorker]

    @extend_schema(
        request=None,
        responses={
            201: AssignmentOutput,
            204: OpenApiResponse(description="No work for you in this project right now."),
            403: OpenApiResponse(ErrorOutput, description="Blocked, or the project is not open."),
            404: OpenApiResponse(ErrorOutput, description="No such project."),
            409: OpenApiResponse(ErrorOutput, description="The project's budget is used up."),
        },
    )
    def post(self, request, project_id: int):
        project = get_object_or_404(
            Project.objects.exclude(status=Project.Status.DRAFT), pk=project_id
        )
        assignment = assignment_claim(worker=worker_of(request), project=project)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(AssignmentOutput(assignment).data, status=status.HTTP_201_CREATED)


class SubmitInput(serializers.Serializer):
    label = serializers.CharField(max_length=200)


class SubmitOutput(serializers.Serializer):
    status = serializers.CharField()
    reward = serializers.DecimalField(max_digits=14, decimal_places=4)


class AssignmentSubmitApi(APIView):
    permission_classes = [IsWorker]

    @extend_schema(
        request=SubmitInput,
        responses={
            200: SubmitOutput,
            400: OpenApiResponse(ErrorOutput, description="Not a label of the project."),
            404: OpenApiResponse(ErrorOutput, description="No such assignment of yours."),
            409: OpenApiResponse(ErrorOutput, description="The lease expired or was skipped."),
        },
    )
    def post(self, request, assignment_id: int):
        worker = worker_of(request)
        assignment = get_object_or_404(Assignment, pk=assignment_id, worker=worker)
        data = SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = answer_submit(
            assignment=assignment, worker=worker, label=data.validated_data["label"]
        )
        return Response(SubmitOutput(result).data)


class AssignmentSkipApi(APIView):
    permission_classes = [IsWorker]

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(description="The item went back to others."),
            404: OpenApiResponse(ErrorOutput),
            409: OpenApiResponse(ErrorOutput, description="Not a live lease."),
        },
    )
    def post(self, request, assignment_id: int):
        worker = worker_of(request)
        assignment = get_object_or_404(Assignment, pk=assignment_id, worker=worker)
        assignment_skip(assignment=assignment, worker=worker)
        return Response({"status": "skipped"})
