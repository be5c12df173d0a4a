"""Every exercise in every notebook: fails on the untouched placeholder, passes with its solution.

The per-notebook test files check each exercise's wrong answers in detail;
this file makes sure none is forgotten: it discovers every Exercise in the
notebook modules and every ``check(`` call in the notebooks.
"""
import importlib
import json
import re
from pathlib import Path

import pytest

from apisec_lab.book.exercises import Exercise, ____

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p.stem for p in (ROOT / "apisec_lab" / "book").glob("nb[0-9][0-9]*")
                 if p.suffix == ".py" or (p / "__init__.py").exists())
EXERCISES = [(m, name, ex) for m in MODULES
             for name, ex in vars(importlib.import_module(f"apisec_lab.book.{m}")).items() if isinstance(ex, Exercise)]


def test_every_notebook_after_00_has_at_least_two_exercises():
    per_module = {m: [n for mm, n, _ in EXERCISES if mm == m] for m in MODULES}
    for m in [f"nb{p.name[:2]}" for p in sorted((ROOT / "notebooks").glob("*.ipynb"))][1:]:
        assert len(per_module.get(m, [])) >= 2, (m, per_module.get(m))


@pytest.mark.parametrize("module, name, exercise", EXERCISES, ids=[f"{m}.{n}" for m, n, _ in EXERCISES])
def test_placeholder_fails_helpfully_and_solution_passes(lab, module, name, exercise):
    verdict = exercise.evaluate(____)
    assert not verdict.passed and "____" in verdict.message
    answer = exercise.reference_answer()
    verdict = exercise.evaluate(answer)
    assert verdict.passed, verdict.message
    assert exercise.hint_text and exercise.solution_text


@pytest.mark.parametrize("module, name, exercise", EXERCISES, ids=[f"{m}.{n}" for m, n, _ in EXERCISES])
def test_each_exercise_is_posed_in_its_notebook(module, name, exercise):
    notebook = next((ROOT / "notebooks").glob(f"{module[2:]}-*.ipynb"))
    source = "\n".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"])
    assert re.search(rf"\b{module}\.{name}\.check\(", source), f"{notebook.name} never checks {module}.{name}"
    assert f"{module}.{name}.hint()" in source and f"{module}.{name}.solution()" in source
