from django import forms
from django.contrib import admin, messages

from billing.services import bonus_pay
from hitl_platform import money
from hitl_platform.errors import ApplicationError
from tasks.admin import OwnedAdminMixin, action_form_page

from .models import Worker, WorkerStanding
from .services import standing_expert_set, standing_unblock


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["user", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["user__username"]
    list_select_related = ["user"]


@admin.register(WorkerStanding)
class WorkerStandingAdmin(OwnedAdminMixin, admin.ModelAdmin):
    """Worker skills per project: what the consensus model and the gold questions say of each."""

    list_display = [
        "worker",
        "project",
        "state",
        "expert",
        "answers",
        "estimated_accuracy",
        "gold_accuracy",
        "gold_answers",
        "median_seconds",
        "blocked_reason",
    ]
    list_filter = ["state", "expert"]
    search_fields = ["worker__user__username"]
    list_select_related = ["worker__user", "project"]
    actions = ["unblock", "mark_expert", "unmark_expert", "bonus"]
    readonly_fields = [f.name for f in WorkerStanding._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Unblock selected workers", permissions=["change"])
    def unblock(self, request, queryset):
        for standing in queryset.filter(state=WorkerStanding.State.BLOCKED):
            standing_unblock(standing=standing, actor=request.user)
            self.message_user(request, f"{standing.worker} is unblocked.", messages.SUCCESS)

    @admin.action(description="Mark selected workers as experts", permissions=["change"])
    def mark_expert(self, request, queryset):
        changed = self._expert_set(request, queryset, expert=True)
        self.message_user(
            request,
            f"{changed} new expert(s): their answers settle items, and items in review go to "
            "them first.",
            messages.SUCCESS,
        )

    @admin.action(description="Remove expert status of selected workers", permissions=["change"])
    def unmark_expert(self, request, queryset):
        changed = self._expert_set(request, queryset, expert=False)
        self.message_user(request, f"{changed} worker(s) are no longer experts.")

    def _expert_set(self, request, queryset, *, expert: bool) -> int:
        standings = list(queryset.exclude(expert=expert).select_related("project", "worker__user"))
        for standing in standings:
            standing_expert_set(standing=standing, expert=expert, actor=request.user)
        return len(standings)

    @admin.action(description="Pay a bonus to selected workers…", permissions=["change"])
    def bonus(self, request, queryset):
        form = BonusForm(request.POST if "amount" in request.POST else None)
        if form.is_bound and form.is_valid():
            for standing in queryset.select_related("project", "worker"):
                try:
                    bonus_pay(
                        project=standing.project,
                        worker=standing.worker,
                        amount=form.cleaned_data["amount"],
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                    )
                except ApplicationError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    self.message_user(
                        request,
                        f"Paid {form.cleaned_data['amount']} to {standing.worker}.",
                        messages.SUCCESS,
                    )
            return None
        return action_form_page(
            self, request, queryset, form, action="bonus", title="Pay a bonus", submit="Pay"
        )


class BonusForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=money.MAX_DIGITS, decimal_places=money.PLACES, min_value=money.QUANTUM
    )
    reason = forms.CharField(max_length=500, help_text="The worker sees this.")
