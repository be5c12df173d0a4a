"""The workbook as an nbgrader assignment: for a graded run of the exercises after a workshop.

nbgrader (https://nbgrader.readthedocs.io) is the ecosystem's standard for graded notebooks on
JupyterHub: the instructor keeps *source* notebooks whose cells carry nbgrader metadata, nbgrader
makes the students' version (solutions cleared), collects submissions, autogrades them and keeps the
gradebook. The workbook's own checks stay live feedback; this module only writes the source
notebooks nbgrader wants, so nbgrader does the rest:

    python -m apisec_lab nbgrader COURSE_DIR     # writes COURSE_DIR/source/apisec-lab/*.ipynb
    cd COURSE_DIR && nbgrader generate_assignment apisec-lab && nbgrader autograde apisec-lab

Each exercise cell (``answer = ____`` ... ``nbNN.qN.check(answer)``) becomes two nbgrader cells:

- an *autograded answer* cell: the cell's code with the exercise's solution between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader replaces it with a stub for students);
- a locked *autograder tests* cell worth one point: the exercise's own check,
  ``assert verdict.passed`` on :meth:`Exercise.evaluate`, so the grade and the live feedback agree.

Calls that open a solution (``nbNN.qN.solution()``, commented or not) are left out of the assignment.
"""
from __future__ import annotations

import copy
import importlib
import re
from pathlib import Path

import nbformat

from .exercises import Exercise

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
_CHECK = re.compile(r"^(nb\d\d)\.(\w+)\.check\(answer\)\s*$")
_BLANK = re.compile(r"^\s*answer\s*=\s*____\b")
_SOLUTION_CALL = re.compile(r"^\s*#?\s*nb\d\d\.\w+\.solution\(\)\s*$")


def exercise(key: str) -> Exercise:
    """The exercise ``"nb02.q1"``."""
    module, name = key.split(".")
    found = getattr(importlib.import_module(f"{__package__}.{module}"), name, None)
    if not isinstance(found, Exercise):
        raise LookupError(f"{key} is not an exercise of the workbook")
    return found


def _meta(grade_id: str, *, solution: bool, grade: bool, locked: bool, points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def split_exercise_cell(source: str) -> tuple[str, str, str] | None:
    """``(key, answer cell source, test cell source)`` for an exercise cell, or None for any other cell."""
    lines = source.splitlines()
    checks = [i for i, line in enumerate(lines) if _CHECK.match(line)]
    blanks = [i for i, line in enumerate(lines) if _BLANK.match(line)]
    if len(checks) != 1 or len(blanks) != 1 or blanks[0] > checks[0]:
        return None
    m = _CHECK.match(lines[checks[0]])
    key = f"{m.group(1)}.{m.group(2)}"
    solution = exercise(key).solution_text.strip("\n").splitlines()
    # The solution replaces the blank line, and the lines above it that it repeats (a ``with`` block).
    start = next((i for i in range(blanks[0]) if lines[i].strip() == solution[0].strip()), blanks[0])
    before = lines[:start]
    prompt = lines[blanks[0]].partition("#")[2].strip()      # "answer = ____   # a number of seconds"
    if prompt:
        before.append(f"# answer: {prompt}")
    after = [line for line in lines[blanks[0] + 1:checks[0]] + lines[checks[0] + 1:] if not _SOLUTION_CALL.match(line)]
    answer = "\n".join(before + ["### BEGIN SOLUTION", *solution, "### END SOLUTION"] + after)
    test = (f"verdict = {key}.evaluate(answer)\n"
            f"print(verdict)\n"
            f"assert verdict.passed, verdict.message")
    return key, answer, test


def assignment_notebook(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """nbgrader's source version of one workbook notebook, and the exercises it grades."""
    nb = nbformat.read(str(path), as_version=4)
    out = copy.deepcopy(nb)
    out.cells = []
    graded = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell = copy.deepcopy(cell)
            cell.outputs, cell.execution_count = [], None
            kept = [line for line in cell.source.splitlines() if not _SOLUTION_CALL.match(line)]
            if cell.source.strip() and not "".join(kept).strip():
                continue                     # a cell that only opened a solution
            cell.source = "\n".join(kept)
            split = split_exercise_cell(cell.source)
            if split:
                key, answer, test = split
                graded.append(key)
                out.cells.append(nbformat.v4.new_code_cell(
                    answer, metadata=_meta(f"{key.replace('.', '-')}-answer", solution=True, grade=False,
                                           locked=False)))
                out.cells.append(nbformat.v4.new_code_cell(
                    test, metadata=_meta(f"{key.replace('.', '-')}-check", solution=False, grade=True,
                                         locked=True, points=1)))
                continue
        out.cells.append(cell)
    return out, graded


def export(course_dir: Path, assignment: str = "apisec-lab", notebooks: Path = NOTEBOOKS) -> dict[str, list[str]]:
    """Write ``course_dir/source/<assignment>/NN-*.ipynb``; return the exercises graded in each notebook."""
    target = Path(course_dir) / "source" / assignment
    target.mkdir(parents=True, exist_ok=True)
    graded = {}
    for path in sorted(Path(notebooks).glob("[0-9][0-9]-*.ipynb")):
        nb, keys = assignment_notebook(path)
        if keys:
            nbformat.write(nb, str(target / path.name))
            graded[path.name] = keys
    return graded
