from django.contrib import admin

from .models import Worker


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["user", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["user__username"]
    list_select_related = ["user"]
