from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Labeling projects"

    def ready(self) -> None:
        from .roles import groups_ensure  # apps must be loaded before models are imported

        post_migrate.connect(groups_ensure, sender=self)
