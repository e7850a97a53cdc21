from django.core.management.base import BaseCommand, CommandError

from tasks.exporting import FORMATS, export_lines
from tasks.models import Project


class Command(BaseCommand):
    help = (
        "Export a project's results: external id, status, final label, confidence, source and number "
        "of answers (JSONL adds every answer with its worker id)."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", type=int, help="the project's id")
        parser.add_argument("--format", choices=FORMATS, default="csv")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, project: int, format: str, output: str | None, **options):
        try:
            target = Project.objects.get(pk=project)
        except Project.DoesNotExist:
            raise CommandError(f"no project with id {project}") from None
        if not output:
            for chunk in export_lines(target, format):
                self.stdout.write(chunk, ending="")
            return
        with open(output, "w", encoding="utf-8", newline="") as out:
            out.writelines(export_lines(target, format))
        self.stderr.write(f"Wrote {format.upper()} results of “{target}” to {output}")
