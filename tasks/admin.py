"""The requester's admin: projects, their items and answers, item import and results export.

A requester (staff user in the Requesters group) sees only their own projects and what belongs to
them; anything else answers 404, exactly as if it did not exist. A superuser sees everything.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import slugify

from billing.services import budget_fund
from hitl_platform import money
from hitl_platform.errors import ApplicationError

from . import services
from .approval import answer_decide
from .exporting import FORMATS, export_lines
from .importing import parse_items
from .models import Assignment, Item, ItemImport, ModelVersion, Project

PREVIEW_ROWS = 20


def action_form_page(model_admin, request, queryset, form, *, action: str, title: str, submit: str):
    """An intermediate page for an admin action that needs input (a reason, an amount)."""
    return TemplateResponse(
        request,
        "admin/action_form.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": title,
            "form": form,
            "objects": queryset,
            "action": action,
            "submit": submit,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )


class OwnedAdminMixin:
    """Scope the admin to what the requester owns. ``owner_field`` is the path to the owner."""

    owner_field = "project__owner"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{self.owner_field: request.user})

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django redirects to the index with "doesn't exist" by default; someone else's object
        # must be indistinguishable from a missing one: 404.
        raise Http404

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "project" and not request.user.is_superuser:
            kwargs["queryset"] = Project.objects.filter(owner=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


def _label_lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class LabelsField(forms.CharField):
    """One label per line; changed only if the labels are (not the browser's line endings)."""

    def has_changed(self, initial, data):
        return _label_lines(initial) != _label_lines(data)


class ProjectAdminForm(forms.ModelForm):
    labels = LabelsField(
        help_text="One label per line, in the order workers see them (keys 1–9 follow this order).",
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    class Meta:
        model = Project
        fields = [
            "name",
            "description",
            "instructions",
            "labels",
            "reward",
            "budget",
            "min_overlap",
            "max_overlap",
            "target_confidence",
            "gold_rate",
            "assignment_seconds",
            "aggregation_method",
            "exam_size",
            "exam_pass_accuracy",
            "block_gold_accuracy",
            "block_gold_min_answers",
            "block_estimated_accuracy",
            "block_estimated_min_answers",
            "block_min_median_seconds",
            "block_speed_min_answers",
            "refit_every",
            "approval_delay_days",
            "auto_approve_days",
            "reject_gold_mismatch",
            "model_enabled",
            "model_features",
            "model_classifier",
            "model_min_labels",
            "model_retrain_every",
            "auto_label_threshold",
            "spot_check_rate",
            "max_model_share",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and isinstance(self.instance.labels, list):
            self.initial["labels"] = "\n".join(self.instance.labels)

    def clean_labels(self):
        labels = _label_lines(self.cleaned_data["labels"])
        if self.instance.pk and services.labels_change_refused(
            project=self.instance, labels=labels
        ):
            raise forms.ValidationError(services.LABELS_FIXED)
        return labels


class TopUpForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=money.MAX_DIGITS, decimal_places=money.PLACES, min_value=money.QUANTUM
    )
    reason = forms.CharField(required=False, max_length=500)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=2000, help_text="The worker sees this."
    )


class ImportUploadForm(forms.Form):
    file = forms.FileField(help_text="A .csv or .jsonl file of items, UTF-8.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size // (1024 * 1024)} MB; the limit is "
                f"{settings.IMPORT_MAX_BYTES // (1024 * 1024)} MB. Split it into smaller files."
            )
        return upload


@admin.register(Project)
class ProjectAdmin(OwnedAdminMixin, admin.ModelAdmin):
    owner_field = "owner"
    form = ProjectAdminForm
    list_display = ["name", "status", "reward", "budget", "item_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    actions = ["publish", "pause", "finish"]
    fieldsets = [
        (None, {"fields": ["name", "description", "instructions", "labels"]}),
        ("Money", {"fields": ["reward", "budget", "spent", "reserved", "remaining"]}),
        (
            "Approval and payment",
            {"fields": ["approval_delay_days", "auto_approve_days", "reject_gold_mismatch"]},
        ),
        (
            "Quality",
            {
                "fields": [
                    "min_overlap",
                    "max_overlap",
                    "target_confidence",
                    "gold_rate",
                    "assignment_seconds",
                    "aggregation_method",
                    "refit_every",
                ]
            },
        ),
        (
            "Pre-labeler (a model trained on the labels so far)",
            {
                "classes": ["collapse"],
                "fields": [
                    "model_enabled",
                    "model_features",
                    "model_classifier",
                    "model_min_labels",
                    "model_retrain_every",
                    "auto_label_threshold",
                    "spot_check_rate",
                    "max_model_share",
                ],
            },
        ),
        (
            "Exam and blocking rules",
            {
                "classes": ["collapse"],
                "fields": [
                    "exam_size",
                    "exam_pass_accuracy",
                    "block_gold_accuracy",
                    "block_gold_min_answers",
                    "block_estimated_accuracy",
                    "block_estimated_min_answers",
                    "block_min_median_seconds",
                    "block_speed_min_answers",
                ],
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # The budget changes only through the ledger: its first funding, then top-ups.
        return (
            ["budget", "spent", "reserved", "remaining"]
            if obj
            else ["spent", "reserved", "remaining"]
        )

    @admin.display(description="remaining")
    def remaining(self, obj):
        return obj.remaining if obj and obj.pk else "—"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_item_count=Count("items"))

    @admin.display(description="items", ordering="_item_count")
    def item_count(self, obj):
        return obj._item_count

    def get_list_display(self, request):
        if request.user.is_superuser:
            return ["name", "owner", *self.list_display[1:]]
        return self.list_display

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A refusal of the settings service (a race past the form's checks) reaches here after
        # the admin's transaction rolled back: a message, not a server error.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        if change:  # the same service as the API's PATCH (re-keys routing when the model toggles)
            fields = {name: getattr(obj, name) for name in form.changed_data}
            services.project_update(project=obj, **fields)  # reads the row afresh, locked
            obj.refresh_from_db()
            return
        obj.owner = request.user
        budget, obj.budget = obj.budget, money.ZERO
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if budget > 0:
                budget_fund(project=obj, amount=budget, actor=request.user, reason="Initial budget")

    def _run_action(self, request, queryset, service, done: str):
        for project in queryset:
            try:
                service(project=project)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"“{project.name}” {done}.", messages.SUCCESS)

    @admin.action(description="Publish selected projects to workers", permissions=["change"])
    def publish(self, request, queryset):
        self._run_action(request, queryset, services.project_publish, "is published")

    @admin.action(description="Pause selected projects", permissions=["change"])
    def pause(self, request, queryset):
        self._run_action(request, queryset, services.project_pause, "is paused")

    @admin.action(description="Finish selected projects", permissions=["change"])
    def finish(self, request, queryset):
        self._run_action(request, queryset, services.project_finish, "is finished")

    # --- import and export pages ---

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/import/", wrap(self.import_view), name="tasks_project_import"),
            path(
                "<int:object_id>/import/<int:import_id>/",
                wrap(self.import_review_view),
                name="tasks_project_import_review",
            ),
            path(
                "<int:object_id>/export/<str:fmt>/",
                wrap(self.export_view),
                name="tasks_project_export",
            ),
            path("<int:object_id>/topup/", wrap(self.topup_view), name="tasks_project_topup"),
            *super().get_urls(),
        ]

    def _own_project(self, request, object_id) -> Project:
        project = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, project):
            raise Http404
        return project

    def _context(self, request, project, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": project,
            "project": project,
            **extra,
        }

    def import_view(self, request, object_id):
        project = self._own_project(request, object_id)
        if not self.has_change_permission(request, project):
            raise Http404
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            staged = services.item_import_stage(
                project=project, filename=upload.name, data=upload.read(), user=request.user
            )
            return HttpResponseRedirect(
                reverse("admin:tasks_project_import_review", args=[project.pk, staged.pk])
            )
        return TemplateResponse(
            request,
            "admin/tasks/project/import.html",
            self._context(request, project, form=form, title=f"Import items into {project}"),
        )

    def import_review_view(self, request, object_id, import_id):
        project = self._own_project(request, object_id)
        if not self.has_change_permission(request, project):
            raise Http404
        staged = get_object_or_404(ItemImport, pk=import_id, project=project)
        if request.method == "POST" and staged.status == ItemImport.Status.PENDING:
            try:
                count = services.item_import_confirm(item_import=staged)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(request.path)
            self.message_user(
                request, f"Imported {count} items into “{project}”.", messages.SUCCESS
            )
            return HttpResponseRedirect(reverse("admin:tasks_project_change", args=[project.pk]))
        preview, columns = [], []
        if staged.status == ItemImport.Status.PENDING:
            with staged.file.open("rb") as fh:
                head = parse_items(fh.read(), fmt=staged.format, labels=project.labels)
            columns = sorted({key for row in head.items[:PREVIEW_ROWS] for key in row.payload})
            preview = [
                (row, [row.payload.get(c, "") for c in columns])
                for row in head.items[:PREVIEW_ROWS]
            ]
        return TemplateResponse(
            request,
            "admin/tasks/project/import_review.html",
            self._context(
                request,
                project,
                staged=staged,
                preview=preview,
                columns=columns,
                title=f"Review import into {project}",
            ),
        )

    def topup_view(self, request, object_id):
        project = self._own_project(request, object_id)
        if not self.has_change_permission(request, project):
            raise Http404
        form = TopUpForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                budget_fund(
                    project=project,
                    amount=form.cleaned_data["amount"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except ApplicationError as exc:
                form.add_error("amount", exc.message)
            else:
                self.message_user(
                    request,
                    f"Added {form.cleaned_data['amount']} to “{project}”. "
                    "Publish it again if it paused itself when the budget ran out.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:tasks_project_change", args=[project.pk])
                )
        return TemplateResponse(
            request,
            "admin/tasks/project/form_page.html",
            self._context(
                request,
                project,
                form=form,
                title=f"Top up the budget of {project}",
                submit="Add to the budget",
            ),
        )

    def export_view(self, request, object_id, fmt):
        project = self._own_project(request, object_id)
        if fmt not in FORMATS:
            raise Http404
        content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
        response = StreamingHttpResponse(
            export_lines(project, fmt, actor=request.user), content_type=content_type
        )
        filename = f"{slugify(project.name) or 'project'}-{project.pk}-results.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class AnswerInline(admin.TabularInline):
    """Every answer and lease on an item, with who gave it: the requester's view of consensus."""

    model = Assignment
    fields = ["worker", "kind", "status", "label", "seconds_spent", "leased_at", "submitted_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("worker__user")


@admin.register(Item)
class ItemAdmin(OwnedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    inlines = [AnswerInline]
    list_display = [
        "external_id",
        "project",
        "status",
        "final_label",
        "confidence",
        "label_source",
        "answers_count",
    ]
    list_filter = ["status", "label_source"]
    search_fields = ["external_id"]
    list_select_related = ["project"]
    show_full_result_count = False


@admin.register(Assignment)
class AssignmentAdmin(OwnedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "item",
        "project",
        "worker",
        "status",
        "label",
        "reward",
        "leased_at",
        "submitted_at",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["item", "project", "worker__user"]
    search_fields = ["item__external_id"]
    show_full_result_count = False
    actions = ["approve", "reject"]

    def has_change_permission(self, request, obj=None):
        # Nothing is edited on the form; "change" is what approving or rejecting needs.
        return request.user.has_perm("tasks.change_assignment") and obj is None

    @admin.action(description="Approve selected answers", permissions=["change"])
    def approve(self, request, queryset):
        done = 0
        for assignment in queryset.filter(status=Assignment.Status.SUBMITTED):
            answer_decide(assignment=assignment, approve=True, actor=request.user)
            done += 1
        self.message_user(request, f"Approved {done} answer(s).", messages.SUCCESS)

    @admin.action(description="Reject selected answers…", permissions=["change"])
    def reject(self, request, queryset):
        form = ReasonForm(request.POST if "reason" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = 0
            for assignment in queryset.filter(status=Assignment.Status.SUBMITTED):
                answer_decide(
                    assignment=assignment,
                    approve=False,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
                done += 1
            self.message_user(
                request,
                f"Rejected {done} answer(s); their money went back to the budget.",
                messages.SUCCESS,
            )
            return None
        return action_form_page(
            self, request, queryset, form, action="reject", title="Reject answers", submit="Reject"
        )


@admin.register(ItemImport)
class ItemImportAdmin(OwnedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["original_name", "project", "status", "rows", "created_at", "imported_at"]
    list_filter = ["status"]
    list_select_related = ["project"]


@admin.register(ModelVersion)
class ModelVersionAdmin(OwnedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "project",
        "version",
        "created_at",
        "n_train",
        "cv_accuracy",
        "chance_rate",
        "is_useful",
        "items_auto_labeled",
        "training_seconds",
    ]
    list_filter = ["is_useful"]
    list_select_related = ["project"]
