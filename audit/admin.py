from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only for everyone: the log is evidence. Requesters see events of their own projects."""

    list_display = ["created_at", "action", "project", "worker", "actor", "reason"]
    list_filter = ["action"]
    search_fields = ["reason", "worker__user__username"]
    list_select_related = ["project", "worker__user", "actor"]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(project__owner=request.user)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
