from .models import AuditEvent


def audit_record(
    *, action: str, reason: str, actor=None, project=None, worker=None, data: dict | None = None
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action, reason=reason, actor=actor, project=project, worker=worker, data=data or {}
    )
