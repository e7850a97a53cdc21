from django.contrib import admin, messages

from tasks.admin import OwnedAdminMixin

from .models import Worker, WorkerStanding
from .services import standing_unblock


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
        "answers",
        "estimated_accuracy",
        "gold_accuracy",
        "gold_answers",
        "median_seconds",
        "blocked_reason",
    ]
    list_filter = ["state"]
    search_fields = ["worker__user__username"]
    list_select_related = ["worker__user", "project"]
    actions = ["unblock"]
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
