"""The worker's API for work: claim an item, submit an answer, skip. One view per operation.

Nothing here shows whether an item is gold, another worker's answer or a budget figure.
"""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from hitl_platform.errors import NotAllowed
from hitl_platform.request_body import BodyLimit
from workers.permissions import IsWorker, worker_of

from .models import Assignment, Project
from .routing import NotYourAssignment, answer_submit, assignment_claim, assignment_skip

# The claim and the submit answer with plain dicts (the serializers below describe them for the
# schema); these two fields format as the serializers' would.
_EXPIRES_AT = serializers.DateTimeField()
_REWARD = serializers.DecimalField(max_digits=14, decimal_places=4)


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


class AssignmentClaimApi(BodyLimit, APIView):
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
        # The claim reads the project itself; a draft or unknown project is told apart (404)
        # only when the claim is refused.
        try:
            assignment = assignment_claim(worker=worker_of(request), project=Project(pk=project_id))
        except (Project.DoesNotExist, NotAllowed):
            if (
                not Project.objects.exclude(status=Project.Status.DRAFT)
                .filter(pk=project_id)
                .exists()
            ):
                raise Http404("No Project matches the given query.") from None
            raise
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        body = {
            "id": assignment.pk,
            "item": {"id": assignment.item.pk, "payload": assignment.item.payload},
            "labels": list(assignment.project.labels),
            "expires_at": _EXPIRES_AT.to_representation(assignment.expires_at),
            "is_exam": assignment.kind == Assignment.Kind.EXAM,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class SubmitInput(serializers.Serializer):
    label = serializers.CharField(max_length=200)


class SubmitOutput(serializers.Serializer):
    status = serializers.CharField()
    reward = serializers.DecimalField(max_digits=14, decimal_places=4)


class AssignmentSubmitApi(BodyLimit, APIView):
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
        data = SubmitInput(data=request.data)
        if not data.is_valid():  # someone else's or no assignment is still a 404 first
            get_object_or_404(Assignment, pk=assignment_id, worker=worker)
            raise serializers.ValidationError(data.errors)
        try:
            result = answer_submit(
                assignment=Assignment(pk=assignment_id, worker_id=worker.pk),
                worker=worker,
                label=data.validated_data["label"],
            )
        except (Assignment.DoesNotExist, NotYourAssignment):
            raise Http404("No Assignment matches the given query.") from None
        return Response(
            {"status": result.status, "reward": _REWARD.to_representation(result.reward)}
        )


class AssignmentSkipApi(BodyLimit, APIView):
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
