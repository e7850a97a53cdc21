from django.contrib import admin
from django.urls import path

admin.site.site_header = "hitl-platform"
admin.site.site_title = "hitl-platform"
admin.site.index_title = "Labeling projects"

urlpatterns = [
    path("admin/", admin.site.urls),
]
