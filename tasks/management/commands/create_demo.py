import csv
import io
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from tasks.models import Project
from tasks.roles import REQUESTERS
from tasks.services import items_import, project_create, project_publish
from workers.models import Worker
from workers.services import worker_create

DATASET = Path(settings.BASE_DIR) / "benchmarks" / "data" / "rte"
PROJECT_NAME = "Does the sentence follow? (RTE demo)"
LABELS = {"1": "follows", "0": "does not follow"}
GOLD_SHARE = 10  # every 10th item is gold
INSTRUCTIONS = """\
Read the **text**, then the **hypothesis**.

* Choose **follows** if a person reading the text would infer that the hypothesis is true.
* Choose **does not follow** otherwise (it contradicts the text, or the text does not say).

Data: PASCAL RTE-1 items with crowd answers from Snow et al. (2008).
"""


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo: a superuser, a requester, five crowd workers and a published "
        "project of 800 textual-entailment items from the RTE dataset (10% gold). Prints the logins; "
        "passwords are new on every run."
    )

    def handle(self, *args, **options):
        logins = []
        with transaction.atomic():
            self._user("demo-admin", logins, is_staff=True, is_superuser=True)
            requester = self._user("demo-requester", logins, is_staff=True)
            requester.groups.add(Group.objects.get(name=REQUESTERS))
            for n in range(1, 6):
                username = f"demo-worker{n}"
                password = secrets.token_urlsafe(9)
                worker = Worker.objects.filter(user__username=username).first()
                if worker is None:
                    worker = worker_create(username=username, password=password)
                else:
                    worker.user.set_password(password)
                    worker.user.save()
                logins.append((username, password, "crowd worker"))
            project = Project.objects.filter(owner=requester, name=PROJECT_NAME).first()
            if project is None:
                project = self._project(requester)
        self.stdout.write(
            f"Demo project: “{project.name}” ({project.items.count()} items, {project.status})"
        )
        self.stdout.write("Logins (http://127.0.0.1:8000/admin/):")
        for username, password, role in logins:
            self.stdout.write(f"  {username:16} {password:14} {role}")

    def _user(self, username, logins, **flags):
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.update_or_create(username=username, defaults=flags)
        user.set_password(password)
        user.save()
        logins.append(
            (username, password, "superuser" if flags.get("is_superuser") else "requester")
        )
        return user

    def _project(self, requester) -> Project:
        project = project_create(
            owner=requester,
            name=PROJECT_NAME,
            description="Recognizing textual entailment, 800 sentence pairs.",
            instructions=INSTRUCTIONS,
            labels=list(LABELS.values()),
            reward="0.0500",
            budget="200.0000",
            min_overlap=2,
            max_overlap=5,
            target_confidence=0.95,
            gold_rate=0.1,
        )
        gold = {row["task"]: row["label"] for row in csv.DictReader((DATASET / "gold.csv").open())}
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["external_id", "gold_label", "text", "hypothesis"])
        with (DATASET / "items.csv").open(encoding="utf-8") as fh:
            for n, row in enumerate(csv.DictReader(fh)):
                label = LABELS[gold[row["task"]]] if n % GOLD_SHARE == 0 else ""
                writer.writerow([row["task"], label, row["text"], row["hypothesis"]])
        items_import(project=project, data=buffer.getvalue().encode(), fmt="csv")
        return project_publish(project=project)
