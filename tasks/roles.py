"""The roles people have, as Django groups with their permissions (kept in step after each migrate)."""

from django.contrib.auth.models import Group, Permission

REQUESTERS = "Requesters"
MANAGERS = "Managers"  # read every project's report (staff users); change nothing

GROUP_PERMISSIONS = {
    MANAGERS: [],
    REQUESTERS: [
        "tasks.add_project",
        "tasks.change_project",
        "tasks.view_project",
        "tasks.view_item",
        "tasks.view_assignment",
        "tasks.change_assignment",
        "tasks.add_itemimport",
        "tasks.view_itemimport",
        "tasks.view_modelversion",
        "workers.view_workerstanding",
        "workers.change_workerstanding",
        "audit.view_auditevent",
    ],
}


def groups_ensure(**_kwargs) -> None:
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            perms.extend(
                Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(perms)


def is_requester(user) -> bool:
    return user.is_active and user.is_staff and user.groups.filter(name=REQUESTERS).exists()


def is_manager(user) -> bool:
    """Reads every project's report and project (API, admin reports); active staff only, so that
    clearing ``is_staff`` takes the access away even while the group membership stays."""
    return user.is_active and user.is_staff and user.groups.filter(name=MANAGERS).exists()
