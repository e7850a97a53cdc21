import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tasks.importing import detect_format
from tasks.models import Project
from tasks.services import ImportRejected, items_import


class Command(BaseCommand):
    help = (
        "Import items from a CSV or JSONL file into a project. The file is imported whole or not at "
        "all: any bad row is reported with its line number and nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", type=int, help="the project's id")
        parser.add_argument("file", type=Path, help="a .csv or .jsonl file, UTF-8")
        parser.add_argument(
            "--format", choices=["csv", "jsonl"], help="file format (default: from the file name)"
        )

    def handle(self, *args, project: int, file: Path, format: str | None, **options):
        try:
            target = Project.objects.get(pk=project)
        except Project.DoesNotExist:
            raise CommandError(f"no project with id {project}") from None
        fmt = format or detect_format(file.name)
        if fmt is None:
            raise CommandError(f"cannot tell the format of {file.name}: pass --format csv|jsonl")
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        self.stderr.write(f"Validating {file.name} ({len(data) / 1e6:.1f} MB) for “{target}”…")
        started = time.perf_counter()
        try:
            count = items_import(project=target, data=data, fmt=fmt)
        except ImportRejected as exc:
            for error in exc.errors:
                self.stderr.write(f"{file.name}: {error}")
            raise CommandError(
                f"{file.name} rejected: {exc.errors_total} error(s); nothing was imported"
            ) from None
        self.stdout.write(
            f"Imported {count} items into “{target}” in {time.perf_counter() - started:.1f} s"
        )
