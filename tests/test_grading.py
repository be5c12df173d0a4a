"""The workbook exported as an nbgrader assignment (apisec_lab/book/grading.py).

nbgrader itself is not a dependency: these tests check the cell metadata nbgrader reads (schema 3)
and run each exported source notebook with nbclient, as ``nbgrader validate`` does, so every
exercise's solution, in its own cell of its own notebook, passes its own check.
"""
from __future__ import annotations

import nbformat
import pytest

from apisec_lab.book import execute, grading, progress

NOTEBOOKS = sorted(p.name for p in grading.NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    folder = tmp_path_factory.mktemp("course")
    return folder, grading.export(folder)


def test_every_exercise_of_the_workbook_is_graded_once(course):
    _, graded = course
    keys = [k for keys in graded.values() for k in keys]
    assert sorted(keys) == sorted(k for k, _ in progress.workbook_exercises())
    assert len(keys) == len(set(keys))


def test_cells_carry_nbgrader_metadata(course):
    folder, graded = course
    ids = []
    for name, keys in graded.items():
        nb = nbformat.read(str(folder / "source" / "apisec-lab" / name), as_version=4)
        marked = [c for c in nb.cells if "nbgrader" in c.metadata]
        assert len(marked) == 2 * len(keys)
        for answer, check, key in zip(marked[::2], marked[1::2], keys, strict=True):
            assert answer.metadata.nbgrader == {"grade": False, "grade_id": f"{key.replace('.', '-')}-answer",
                                                "locked": False, "schema_version": 3, "solution": True}
            assert check.metadata.nbgrader == {"grade": True, "grade_id": f"{key.replace('.', '-')}-check",
                                               "locked": True, "points": 1, "schema_version": 3, "solution": False}
            assert "### BEGIN SOLUTION" in answer.source and "### END SOLUTION" in answer.source
            assert check.source.startswith(f"verdict = {key}.evaluate(answer)")
            ids += [answer.metadata.nbgrader["grade_id"], check.metadata.nbgrader["grade_id"]]
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
        assert not any(".solution()" in c.source for c in nb.cells), name
    assert len(ids) == len(set(ids))


def test_a_with_block_is_replaced_by_the_solution_that_repeats_it():
    key, answer, _ = grading.split_exercise_cell(
        "with lab.weaknesses.turned_on(basic_auth=True):\n    answer = ____\nnb01.q2.check(answer)")
    assert key == "nb01.q2"
    assert answer.splitlines()[0] == "### BEGIN SOLUTION"
    assert answer.count("with lab.weaknesses.turned_on(basic_auth=True):") == 1


def test_setup_lines_prompts_and_hints_stay_solution_calls_go():
    key, answer, test = grading.split_exercise_cell(
        'wide2 = nb03.connect(lab, "photoprint")\nanswer = ____   # the access token after refreshing\n'
        "nb03.q3.check(answer)\n# nb03.q3.hint()\n# nb03.q3.solution()")
    assert answer.splitlines()[:3] == ['wide2 = nb03.connect(lab, "photoprint")',
                                       "# answer: the access token after refreshing", "### BEGIN SOLUTION"]
    assert answer.splitlines()[-1] == "# nb03.q3.hint()"
    assert "solution()" not in answer
    assert test == "verdict = nb03.q3.evaluate(answer)\nprint(verdict)\nassert verdict.passed, verdict.message"


@pytest.mark.parametrize("source", [
    "nb00.warmup.check(flows.call_api(lab, '/health'))",      # a demonstration, not the exercise
    "answer = ____",
    "nb02.q1.check(answer)\nanswer = ____",
    "answer = ____\nnb02.q1.check(answer)\nnb02.q2.check(answer)",
])
def test_other_cells_are_not_exercises(source):
    assert grading.split_exercise_cell(source) is None


def test_an_unknown_exercise_is_refused():
    with pytest.raises(LookupError, match="nb02.q9 is not an exercise"):
        grading.exercise("nb02.q9")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_solution_passes_its_check_in_its_notebook(course, name):
    """What ``nbgrader validate`` does with the source notebook: run it, every graded cell passes."""
    from nbclient import NotebookClient

    folder, graded = course
    if name not in graded:
        pytest.skip(f"{name} has no exercise")
    path = folder / "source" / "apisec-lab" / name
    nb = nbformat.read(str(path), as_version=4)
    with execute.fresh_records():
        NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(grading.NOTEBOOKS)}}).execute()
    failed = [f"{c.metadata.nbgrader['grade_id']}: {o.get('ename')}: {o.get('evalue')}"
              for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
              for o in c.outputs if o.get("output_type") == "error"]
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells if c.cell_type == "code"
              for o in c.outputs if o.get("output_type") == "error"]
    assert not failed and not errors, (failed, errors)


def test_python_m_apisec_lab_nbgrader_writes_the_source_notebooks(tmp_path, capsys):
    from apisec_lab.__main__ import main

    assert main(["nbgrader", str(tmp_path)]) == 0
    written = sorted(p.name for p in (tmp_path / "source" / "apisec-lab").iterdir())
    assert written == NOTEBOOKS
    assert "02-token-flows.ipynb: nb02.q1, nb02.q2, nb02.q3" in capsys.readouterr().out
