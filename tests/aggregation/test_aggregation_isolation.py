"""The numeric core stays free of Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_aggregation_loads_no_django_module():
    code = (
        "import sys, aggregation, aggregation.__main__\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == ""


def test_no_source_file_of_the_core_imports_django():
    core = sorted((ROOT / "aggregation").glob("*.py"))
    glue = {"services.py", "apps.py", "jobs.py", "training.py"}  # the Django glue modules
    for path in core:
        if path.name in glue:
            continue
        text = path.read_text()
        assert "import django" not in text and "from django" not in text, path.name
