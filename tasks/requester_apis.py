"""The requester's API: projects, items, answers, results, worker standings. One view per operation.

Who may do what (docs/api.md has the full table):
- a requester (staff user in the Requesters group) reads and changes their own projects; another
  requester's project answers 404, exactly as one that does not exist;
- a manager (staff user in the Managers group) reads every project and changes nothing (403);
- a superuser reads and changes everything;
- anyone else signed in (a worker) gets 403, and an anonymous client 401.

Views validate input with small serializers and call one service; domain errors
(``ApplicationError``) become 400/403/409 in ``hitl_platform.api.exception_handler``.
"""

from __future__ import annotations

import json
from decimal import Decimal

import django_filters
from django.conf import settings
from django.db import DataError
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.text import slugify
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.services import bonus_pay, budget_fund
from hitl_platform import money
from hitl_platform.errors import ApplicationError, Conflict
from hitl_platform.request_body import BodyLimit, JSONParser, PayloadTooLarge, content_length
from workers.models import WorkerStanding
from workers.services import standing_expert_set, standing_unblock

from .apis import ErrorOutput
from .approval import answer_decide
from .exporting import FORMATS, export_lines
from .importing import MAX_PAYLOAD_DEPTH, RowError, detect_format, nesting_depth
from .models import AggregationMethod, Assignment, Item, Project
from .roles import is_manager, is_requester
from .services import (
    ImportRejected,
    items_import,
    project_create,
    project_finish,
    project_pause,
    project_publish,
    project_update,
)

# The largest amount a money column holds (14 digits, 4 of them decimals).
MONEY_MAX = Decimal(10) ** (money.MAX_DIGITS - money.PLACES) - money.QUANTUM
TEXT_MAX = 20_000


# --- Who may do what ------------------------------------------------------------------------------


class RequesterAccess(BasePermission):
    """Reads: requesters, managers, superusers. Writes: requesters and superusers."""

    message = "Only requesters can do this (managers read and change nothing)."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if user.is_superuser or is_requester(user):
            return True
        return request.method in SAFE_METHODS and is_manager(user)


def projects_readable(*, user):
    if user.is_superuser or is_manager(user):
        return Project.objects.all()
    return Project.objects.filter(owner=user)


def projects_writable(*, user):
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(owner=user)


def project_for(request, project_id: int, *, write: bool = False) -> Project:
    """The project if the caller may see it (and change it, with ``write``); 404 otherwise."""
    qs = projects_writable if write or request.method not in SAFE_METHODS else projects_readable
    return get_object_or_404(qs(user=request.user), pk=project_id)


class FormatIsData(DefaultContentNegotiation):
    """Here ``?format=`` names a file format (csv, jsonl), not a DRF renderer: responses stay JSON."""

    class settings:  # noqa: N801 - stands in for DRF's api_settings
        URL_FORMAT_OVERRIDE = None


class Page(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def errors(*codes: int, **descriptions: str) -> dict:
    """The error responses of an operation, for ``extend_schema(responses=…)``."""
    default = {
        400: "Invalid input: `{detail, code}` for a rule of the platform, or `{field: [messages]}`.",
        404: "No such object, or not one of yours.",
        409: "The object is not in a state that allows this.",
        413: "The body is larger than the limit.",
        415: "Unsupported content type.",
    }
    out = {}
    for code in codes:
        text = descriptions.get(f"e{code}", default[code])
        body = OpenApiTypes.OBJECT if code == 400 else ErrorOutput
        out[code] = OpenApiResponse(body, description=text)
    return out


class RequesterApi(BodyLimit, APIView):
    permission_classes = [RequesterAccess]
    parser_classes = [JSONParser]


class StrictInput(serializers.Serializer):
    """Unknown fields are refused, not silently dropped (a typo, or a budget in a PATCH)."""

    hints: dict[str, str] = {}

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [self.hints.get(name, "Unknown field.")] for name in unknown}
                )
        return super().to_internal_value(data)


# --- Serializers ----------------------------------------------------------------------------------


def _money_field(**kwargs):
    return serializers.DecimalField(
        max_digits=money.MAX_DIGITS, decimal_places=money.PLACES, **kwargs
    )


def _ratio(**kwargs):
    return serializers.FloatField(min_value=0.0, max_value=1.0, **kwargs)


def _count(high=32_767, low=0, **kwargs):
    return serializers.IntegerField(min_value=low, max_value=high, **kwargs)


class ModelFeaturesInput(StrictInput):
    text = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=100, required=False
    )
    numeric = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=100, required=False
    )


CLASSIFIERS = Project._meta.get_field("model_classifier").choices


class ProjectSettingsInput(StrictInput):
    """Everything a requester sets on a project, except the budget (see ``/topup/``)."""

    hints = {"budget": "The budget changes only through POST /api/v1/projects/{id}/topup/."}

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=TEXT_MAX, allow_blank=True, required=False)
    instructions = serializers.CharField(max_length=TEXT_MAX, allow_blank=True, required=False)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=200), min_length=2, max_length=100
    )
    reward = _money_field(min_value=Decimal(0), max_value=MONEY_MAX)
    min_overlap = _count(high=1000, low=1, required=False)
    max_overlap = _count(high=1000, low=1, required=False)
    target_confidence = serializers.FloatField(min_value=0.5, max_value=0.999, required=False)
    gold_rate = _ratio(required=False)
    assignment_seconds = _count(high=7 * 24 * 3600, low=10, required=False)
    aggregation_method = serializers.ChoiceField(AggregationMethod.choices, required=False)
    exam_size = _count(high=1000, required=False)
    exam_pass_accuracy = _ratio(required=False)
    block_gold_accuracy = _ratio(required=False, allow_null=True)
    block_gold_min_answers = _count(required=False)
    block_estimated_accuracy = _ratio(required=False, allow_null=True)
    block_estimated_min_answers = _count(required=False)
    block_min_median_seconds = serializers.FloatField(
        min_value=0.0, max_value=3600.0, required=False
    )
    block_speed_min_answers = _count(required=False)
    refit_every = _count(high=1_000_000, low=1, required=False)
    approval_delay_days = _count(high=365, required=False)
    auto_approve_days = _count(high=365, required=False)
    reject_gold_mismatch = serializers.BooleanField(required=False)
    model_enabled = serializers.BooleanField(required=False)
    model_features = ModelFeaturesInput(required=False)
    model_classifier = serializers.ChoiceField(CLASSIFIERS, required=False)
    model_min_labels = _count(high=1_000_000, required=False)
    model_retrain_every = _count(high=1_000_000, low=1, required=False)
    auto_label_threshold = _ratio(required=False)
    spot_check_rate = _ratio(required=False)
    max_model_share = _ratio(required=False)


class ProjectCreateInput(ProjectSettingsInput):
    hints = {}
    budget = _money_field(min_value=Decimal(0), max_value=MONEY_MAX, required=False)


class ProjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    owner = serializers.CharField(source="owner.get_username")
    status = serializers.ChoiceField(Project.Status.choices)
    name = serializers.CharField()
    description = serializers.CharField()
    instructions = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    reward = _money_field()
    budget = _money_field()
    spent = _money_field()
    reserved = _money_field()
    remaining = _money_field()
    min_overlap = serializers.IntegerField()
    max_overlap = serializers.IntegerField()
    target_confidence = serializers.FloatField()
    gold_rate = serializers.FloatField()
    assignment_seconds = serializers.IntegerField()
    aggregation_method = serializers.ChoiceField(AggregationMethod.choices)
    exam_size = serializers.IntegerField()
    exam_pass_accuracy = serializers.FloatField()
    block_gold_accuracy = serializers.FloatField(allow_null=True)
    gold_accuracy_floor = serializers.FloatField(
        help_text="The gold accuracy below which workers are blocked: block_gold_accuracy, or "
        "with it null a fifth of the way from guessing to always right."
    )
    block_gold_min_answers = serializers.IntegerField()
    block_estimated_accuracy = serializers.FloatField(allow_null=True)
    estimated_accuracy_floor = serializers.FloatField(
        help_text="The estimated accuracy below which workers are blocked: "
        "block_estimated_accuracy, or with it null a tenth of the way from guessing to always "
        "right."
    )
    block_estimated_min_answers = serializers.IntegerField()
    block_min_median_seconds = serializers.FloatField()
    block_speed_min_answers = serializers.IntegerField()
    refit_every = serializers.IntegerField()
    approval_delay_days = serializers.IntegerField()
    auto_approve_days = serializers.IntegerField()
    reject_gold_mismatch = serializers.BooleanField()
    model_enabled = serializers.BooleanField()
    model_features = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField())
    )
    model_classifier = serializers.ChoiceField(CLASSIFIERS)
    model_min_labels = serializers.IntegerField()
    model_retrain_every = serializers.IntegerField()
    auto_label_threshold = serializers.FloatField()
    spot_check_rate = serializers.FloatField()
    max_model_share = serializers.FloatField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def project_output(project: Project) -> dict:
    project = Project.objects.select_related("owner").get(pk=project.pk)
    return ProjectOutput(project).data


# --- Projects -------------------------------------------------------------------------------------


class ProjectsApi(RequesterApi, generics.ListAPIView):
    """``GET``: the projects you may read (yours; every project for managers), newest first.
    ``POST``: a new draft project owned by you; its budget is funded through the ledger."""

    serializer_class = ProjectOutput
    pagination_class = Page
    filter_backends = [DjangoFilterBackend]
    filterset_fields = ["status"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Project.objects.none()
        return projects_readable(user=self.request.user).select_related("owner").order_by("-id")

    @extend_schema(responses={200: ProjectOutput(many=True), **errors(400, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=ProjectCreateInput, responses={201: ProjectOutput, **errors(400)})
    def post(self, request):
        data = ProjectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(owner=request.user, **data.validated_data)
        return Response(project_output(project), status=status.HTTP_201_CREATED)


class ProjectDetailApi(RequesterApi):
    """``GET`` a project; ``PATCH`` its settings (the budget changes with ``/topup/``)."""

    @extend_schema(responses={200: ProjectOutput, **errors(404)})
    def get(self, request, project_id: int):
        return Response(project_output(project_for(request, project_id)))

    @extend_schema(
        request=ProjectSettingsInput(partial=True),
        responses={200: ProjectOutput, **errors(400, 404, 409)},
    )
    def patch(self, request, project_id: int):
        project = project_for(request, project_id, write=True)
        data = ProjectSettingsInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = project_update(project=project, **data.validated_data)
        return Response(project_output(project))


class TopUpInput(StrictInput):
    amount = _money_field(min_value=money.QUANTUM, max_value=MONEY_MAX)
    reason = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")


class ProjectTopUpApi(RequesterApi):
    """Add money to the budget: a ledger row and an audit event with you as the actor."""

    @extend_schema(request=TopUpInput, responses={200: ProjectOutput, **errors(400, 404)})
    def post(self, request, project_id: int):
        project = project_for(request, project_id, write=True)
        data = TopUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        if project.budget + data.validated_data["amount"] > MONEY_MAX:
            raise ApplicationError(f"A budget cannot pass {MONEY_MAX}.")
        project = budget_fund(project=project, actor=request.user, **data.validated_data)
        return Response(project_output(project))


class _ProjectTransitionApi(RequesterApi):
    service = None

    @extend_schema(request=None, responses={200: ProjectOutput, **errors(400, 404)})
    def post(self, request, project_id: int):
        project = project_for(request, project_id, write=True)
        return Response(project_output(type(self).service(project=project)))


class ProjectPublishApi(_ProjectTransitionApi):
    """Open a draft or paused project to workers (it needs items)."""

    service = staticmethod(project_publish)


class ProjectPauseApi(_ProjectTransitionApi):
    """Stop giving out work; leases already taken can still be answered."""

    service = staticmethod(project_pause)


class ProjectFinishApi(_ProjectTransitionApi):
    """Close the project for good."""

    service = staticmethod(project_finish)


# --- Items: import and list -----------------------------------------------------------------------

CSV_TYPES = ("text/csv", "application/csv")
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
RAW_TYPES = (*CSV_TYPES, *JSONL_TYPES, "text/plain", "application/octet-stream")
MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file


def _limit_text(size: int) -> str:
    limit = settings.IMPORT_MAX_BYTES
    return (
        f"The upload is {size:,} bytes; the limit is {limit:,} bytes (IMPORT_MAX_BYTES). "
        "Split the file and import the parts one after the other."
    )


def _refuse_oversize(request) -> None:
    """Refuse a body over the limit from its Content-Length, before reading any of it."""
    size = content_length(request)
    slack = MULTIPART_SLACK if request.content_type.startswith("multipart/") else 0
    if size > settings.IMPORT_MAX_BYTES + slack:
        raise PayloadTooLarge(_limit_text(size))


def _format_of(request, *, filename: str = "", content_type: str = "") -> str:
    fmt = request.query_params.get("format", "").strip().lower()
    if fmt:
        if fmt not in FORMATS:
            raise ApplicationError(f"Unknown format {fmt!r}: use csv or jsonl.")
        return fmt
    fmt = detect_format(filename) if filename else None
    if fmt is None and content_type in CSV_TYPES:
        fmt = "csv"
    if fmt is None and content_type in JSONL_TYPES:
        fmt = "jsonl"
    if fmt is None:
        raise ApplicationError(
            "Say which format the items are in: ?format=csv or ?format=jsonl "
            "(or name the file .csv / .jsonl, or send text/csv or application/x-ndjson)."
        )
    return fmt


def _import_body(request) -> tuple[bytes, str]:
    """The item file of the request and its format, from whichever way it was sent."""
    content_type = request.content_type.split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise ApplicationError("Send the items as a file in the form field 'file'.")
        if upload.size > settings.IMPORT_MAX_BYTES:
            raise PayloadTooLarge(_limit_text(upload.size))
        return upload.read(), _format_of(request, filename=upload.name or "")
    if content_type == "application/json":
        rows = request.data
        if not isinstance(rows, list):
            raise ApplicationError(
                "A JSON body is a list of items: "
                '[{"external_id": "a1", "gold_label": "", "payload": {…}}, …].'
            )
        # One item per line: "line N" in an error is the N-th element of the list.
        for number, row in enumerate(rows, start=1):
            if nesting_depth(row) > MAX_PAYLOAD_DEPTH + 1:  # the item's object holds its payload
                raise ApplicationError(
                    f"line {number}: item nested deeper than {MAX_PAYLOAD_DEPTH} levels"
                )
        lines = [json.dumps(row, ensure_ascii=False) for row in rows]
        return "\n".join(lines).encode(), "jsonl"
    if content_type in RAW_TYPES:
        return request.body, _format_of(request, content_type=content_type)
    raise exceptions.UnsupportedMediaType(content_type or "none")


def _nul_line(data: bytes) -> int | None:
    """The first line holding a NUL character, raw or JSON-escaped (no database stores it)."""
    for number, line in enumerate(data.split(b"\n"), start=1):
        if b"\x00" in line or b"\\u0000" in line:
            return number
    return None


class ImportOutput(serializers.Serializer):
    imported = serializers.IntegerField()
    items = serializers.IntegerField(help_text="Items in the project after the import.")


class ImportRejectedOutput(serializers.Serializer):
    """A rejected file has ``errors`` (every bad line) and ``errors_total``; another bad
    request (no file, unknown format, malformed JSON) only ``detail`` and ``code``."""

    detail = serializers.CharField()
    code = serializers.CharField(required=False)
    errors = serializers.ListField(
        child=serializers.CharField(), required=False, help_text='"line N: …"'
    )
    errors_total = serializers.IntegerField(required=False)


class ItemImportApi(RequesterApi):
    """Import items all or nothing, with the admin's validation.

    Send a file (``multipart/form-data``, field ``file``), a raw body (``text/csv`` or
    ``application/x-ndjson``, or any body with ``?format=csv|jsonl``), or a JSON list of items.
    Any bad row rejects the whole import: 400 with every error by line number, nothing imported.
    A body over ``IMPORT_MAX_BYTES`` is refused with 413 before it is read.
    """

    parser_classes = [JSONParser, MultiPartParser]
    content_negotiation_class = FormatIsData
    max_body = None  # IMPORT_MAX_BYTES, checked in post() with a message about files

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(FORMATS), description="The file's format.")
        ],
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            },
            "application/json": {"type": "array", "items": {"type": "object"}},
            "text/csv": {"type": "string"},
            "application/x-ndjson": {"type": "string"},
        },
        responses={
            201: ImportOutput,
            400: OpenApiResponse(
                ImportRejectedOutput,
                description="Rejected whole: every bad line listed (or another input error).",
            ),
            **errors(404, 413, 415),
        },
    )
    def post(self, request, project_id: int):
        project = project_for(request, project_id, write=True)
        _refuse_oversize(request)
        data, fmt = _import_body(request)
        try:
            line = _nul_line(data)
            if line is not None:
                raise ImportRejected([RowError(line, "contains a NUL character")])
            count = items_import(project=project, data=data, fmt=fmt, actor=request.user)
        except ImportRejected as exc:
            return Response(
                {
                    "detail": exc.message,
                    "code": "rejected",
                    "errors": [str(e) for e in exc.errors],
                    "errors_total": exc.errors_total,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        except DataError as exc:  # a value the database refuses (PostgreSQL: NaN in JSON, …)
            raise ApplicationError(f"The database refused a value in the file: {exc}") from exc
        return Response(
            ImportOutput({"imported": count, "items": project.items.count()}).data,
            status=status.HTTP_201_CREATED,
        )


class ItemFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Item.Status.choices)
    source = django_filters.ChoiceFilter(field_name="label_source", choices=Item.Source.choices)
    gold = django_filters.BooleanFilter(method="filter_gold", label="Gold (control) items only")
    confidence_min = django_filters.NumberFilter(field_name="confidence", lookup_expr="gte")
    confidence_max = django_filters.NumberFilter(field_name="confidence", lookup_expr="lte")
    external_id = django_filters.CharFilter(max_length=255)

    class Meta:
        model = Item
        fields = []

    def filter_gold(self, queryset, name, value):
        return queryset.exclude(gold_label="") if value else queryset.filter(gold_label="")


class ItemRecordOutput(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    payload = serializers.JSONField()
    status = serializers.ChoiceField(Item.Status.choices)
    final_label = serializers.CharField(allow_blank=True)
    confidence = serializers.FloatField(allow_null=True)
    source = serializers.CharField(source="label_source", allow_blank=True)
    gold_label = serializers.CharField(allow_blank=True)
    audit_label = serializers.CharField(allow_blank=True)
    answers = serializers.IntegerField(source="answers_count")
    created_at = serializers.DateTimeField()


class _ProjectListApi(RequesterApi, generics.ListAPIView):
    pagination_class = Page

    model = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return self.model.objects.none()
        return self.scoped_queryset()

    def project(self) -> Project:
        if not hasattr(self, "_project"):
            self._project = project_for(self.request, self.kwargs["project_id"])
        return self._project


class ItemListApi(_ProjectListApi):
    """The project's items, filtered by status, label source, confidence range, gold or not."""

    serializer_class = ItemRecordOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = ItemFilter

    model = Item

    def scoped_queryset(self):
        return Item.objects.filter(project=self.project()).order_by("id")

    @extend_schema(responses={200: ItemRecordOutput(many=True), **errors(400, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AnswerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField(source="item_id")
    worker = serializers.IntegerField(source="worker_id")
    worker_name = serializers.CharField(source="worker.user.get_username")
    kind = serializers.ChoiceField(Assignment.Kind.choices)
    status = serializers.ChoiceField(Assignment.Status.choices)
    label = serializers.CharField()
    reward = _money_field()
    submitted_at = serializers.DateTimeField()
    seconds_spent = serializers.FloatField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    rejection_reason = serializers.CharField(allow_blank=True)


class ItemAnswersApi(_ProjectListApi):
    """Every answer given on one item, with who gave it and how it was decided."""

    serializer_class = AnswerOutput

    model = Assignment

    def scoped_queryset(self):
        item = get_object_or_404(Item, pk=self.kwargs["item_id"], project=self.project())
        return (
            Assignment.objects.filter(item=item, status__in=Assignment.ANSWERED)
            .select_related("worker__user")
            .order_by("id")
        )

    @extend_schema(responses={200: AnswerOutput(many=True), **errors(404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- Results --------------------------------------------------------------------------------------


class ResultsExportApi(RequesterApi):
    """The results, streamed: CSV (``external_id, status, final_label, confidence, source,
    answers``) or JSON Lines (the same plus every answer). Memory stays flat for any size."""

    content_negotiation_class = FormatIsData

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(FORMATS), description="Default: csv.")
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            **errors(400, 404),
        },
    )
    def get(self, request, project_id: int):
        project = project_for(request, project_id)
        fmt = request.query_params.get("format", "csv").strip().lower() or "csv"
        if fmt not in FORMATS:
            raise ApplicationError(f"Unknown format {fmt!r}: use csv or jsonl.")
        content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
        response = StreamingHttpResponse(
            export_lines(project, fmt, actor=request.user), content_type=content_type
        )
        filename = f"{slugify(project.name) or 'project'}-{project.pk}-results.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


# --- Workers in a project -------------------------------------------------------------------------


class WorkerStandingOutput(serializers.Serializer):
    worker = serializers.IntegerField(source="worker_id")
    worker_name = serializers.CharField(source="worker.user.get_username")
    state = serializers.ChoiceField(WorkerStanding.State.choices)
    expert = serializers.BooleanField()
    blocked_reason = serializers.CharField(allow_blank=True)
    blocked_at = serializers.DateTimeField(allow_null=True)
    answers = serializers.IntegerField()
    exam_answers = serializers.IntegerField()
    exam_correct = serializers.IntegerField()
    gold_answers = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    estimated_accuracy = serializers.FloatField(allow_null=True)
    gold_accuracy = serializers.FloatField(allow_null=True)
    median_seconds = serializers.FloatField(allow_null=True)


class StandingFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=WorkerStanding.State.choices)

    class Meta:
        model = WorkerStanding
        fields = []


class ProjectWorkersApi(_ProjectListApi):
    """Each worker's standing in the project: exam, qualified or blocked (with the reason),
    and their measured skill (estimated and gold accuracy, speed)."""

    serializer_class = WorkerStandingOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = StandingFilter

    model = WorkerStanding

    def scoped_queryset(self):
        return (
            WorkerStanding.objects.filter(project=self.project())
            .select_related("worker__user")
            .order_by("-answers", "pk")
        )

    @extend_schema(responses={200: WorkerStandingOutput(many=True), **errors(400, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def standing_for(request, project_id: int, worker_id: int) -> WorkerStanding:
    project = project_for(request, project_id, write=True)
    return get_object_or_404(
        WorkerStanding.objects.select_related("worker__user", "project"),
        project=project,
        worker_id=worker_id,
    )


class ReasonInput(StrictInput):
    reason = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


class WorkerUnblockApi(RequesterApi):
    """Lift a worker's block in the project (logged in the audit with you as the actor)."""

    @extend_schema(
        request=ReasonInput, responses={200: WorkerStandingOutput, **errors(400, 404, 409)}
    )
    def post(self, request, project_id: int, worker_id: int):
        standing = standing_for(request, project_id, worker_id)
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        if standing.state != WorkerStanding.State.BLOCKED:
            raise Conflict(f"{standing.worker} is not blocked in this project.")
        standing_unblock(standing=standing, actor=request.user, **data.validated_data)
        return Response(WorkerStandingOutput(standing).data)


class ExpertInput(StrictInput):
    expert = serializers.BooleanField()


class WorkerExpertApi(RequesterApi):
    """Mark a worker as an expert in the project, or take it back (logged in the audit): an
    expert's answer settles an item like a gold label, and items in review go to experts first."""

    @extend_schema(request=ExpertInput, responses={200: WorkerStandingOutput, **errors(400, 404)})
    def post(self, request, project_id: int, worker_id: int):
        # A worker of the project only, like unblock and bonus: any other worker id is 404, so
        # the answer names nobody who never worked here (a trusted annotator opens the project
        # once, then is marked)
        standing = standing_for(request, project_id, worker_id)
        data = ExpertInput(data=request.data)
        data.is_valid(raise_exception=True)
        standing_expert_set(
            standing=standing, expert=data.validated_data["expert"], actor=request.user
        )
        standing = WorkerStanding.objects.select_related("worker__user", "project").get(
            pk=standing.pk
        )
        return Response(WorkerStandingOutput(standing).data)


class BonusInput(StrictInput):
    amount = _money_field(min_value=money.QUANTUM, max_value=MONEY_MAX)
    reason = serializers.CharField(max_length=2000)


class BonusOutput(serializers.Serializer):
    worker = serializers.IntegerField(source="worker_id")
    amount = _money_field()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class WorkerBonusApi(RequesterApi):
    """Pay a worker of the project a bonus from its budget (the worker sees the reason)."""

    @extend_schema(request=BonusInput, responses={201: BonusOutput, **errors(400, 404, 409)})
    def post(self, request, project_id: int, worker_id: int):
        standing = standing_for(request, project_id, worker_id)
        data = BonusInput(data=request.data)
        data.is_valid(raise_exception=True)
        entry = bonus_pay(
            project=standing.project,
            worker=standing.worker,
            actor=request.user,
            **data.validated_data,
        )
        return Response(BonusOutput(entry).data, status=status.HTTP_201_CREATED)


# --- Answers: approve or reject -------------------------------------------------------------------


def answer_for(request, assignment_id: int) -> Assignment:
    projects = projects_writable(user=request.user)
    return get_object_or_404(
        Assignment.objects.select_related("worker__user"),
        pk=assignment_id,
        project__in=projects,
    )


class AnswerApproveApi(RequesterApi):
    """Approve a submitted answer by hand: its reward goes to the worker (pending)."""

    @extend_schema(request=None, responses={200: AnswerOutput, **errors(400, 404)})
    def post(self, request, assignment_id: int):
        assignment = answer_decide(
            assignment=answer_for(request, assignment_id), approve=True, actor=request.user
        )
        return Response(AnswerOutput(assignment).data)


class RejectInput(StrictInput):
    reason = serializers.CharField(max_length=2000, help_text="The worker sees this.")


class AnswerRejectApi(RequesterApi):
    """Reject a submitted answer with a reason the worker sees; its reward returns to the budget."""

    @extend_schema(request=RejectInput, responses={200: AnswerOutput, **errors(400, 404)})
    def post(self, request, assignment_id: int):
        assignment = answer_for(request, assignment_id)
        data = RejectInput(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = answer_decide(
            assignment=assignment, approve=False, actor=request.user, **data.validated_data
        )
        return Response(AnswerOutput(assignment).data)
