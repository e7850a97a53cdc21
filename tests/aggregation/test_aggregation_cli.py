"""``python -m aggregation`` on CSV files, without Django."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aggregation.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
RTE = ROOT / "benchmarks" / "data" / "rte"


@pytest.fixture
def small(tmp_path):
    answers = tmp_path / "answers.csv"
    answers.write_text("task,worker,label\nt1,a,cat\nt1,b,cat\nt1,c,dog\nt2,a,dog\nt2,b,dog\n")
    gold = tmp_path / "gold.csv"
    gold.write_text("task,label\nt1,cat\nt2,cat\n")
    return answers, gold


def test_prints_task_label_confidence_csv(small, capsys):
    assert main([str(small[0]), "--method", "mv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["task,label,confidence", "t1,cat,0.666667", "t2,dog,1.000000"]


def test_gold_prints_accuracy_and_json_prints_one_line(small, capsys):
    assert main([str(small[0]), "--gold", str(small[1]), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record) == {"method", "accuracy", "n_tasks", "n_answers", "n_iter", "seconds"}
    assert record["method"] == "ds" and record["accuracy"] == 0.5
    assert (record["n_tasks"], record["n_answers"]) == (2, 5)
    assert main([str(small[0]), "--gold", str(small[1])]) == 0
    assert capsys.readouterr().out.startswith("accuracy 0.5000 on 2 gold tasks")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("task,label\nt1,cat\n", "missing column(s) worker"),
        ("", "empty file"),
        ("task,worker,label\n", "no rows"),
    ],
)
def test_bad_answers_end_with_one_line_and_status_2(tmp_path, capsys, content, message):
    path = tmp_path / "answers.csv"
    path.write_text(content)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_gold_task_with_no_answers_is_an_error(small, tmp_path, capsys):
    gold = tmp_path / "g.csv"
    gold.write_text("task,label\nt9,cat\n")
    assert main([str(small[0]), "--gold", str(gold)]) == 2
    assert "t9" in capsys.readouterr().err


def test_runs_as_a_module_on_a_real_dataset():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "aggregation",
            str(RTE / "answers.csv"),
            "--gold",
            str(RTE / "gold.csv"),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    record = json.loads(result.stdout)
    assert record["n_answers"] == 8000 and record["accuracy"] > 0.9
