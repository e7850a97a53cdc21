from django.apps import AppConfig


class AggregationConfig(AppConfig):
    """Registered so that Celery finds ``aggregation.jobs``; the numeric core needs no Django."""

    name = "aggregation"
    verbose_name = "Consensus"
