from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Labeling projects"

    def ready(self) -> None:
        from .roles import groups_ensure  # apps must be loaded before models are imported

        # After every app (permissions of later apps exist only once their own migrate ran).
        post_migrate.connect(groups_ensure, dispatch_uid="tasks.groups_ensure")
