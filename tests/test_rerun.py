"""Every code cell of every notebook can be run again: after Run All, in place; and the whole notebook, from the top.

Notebook 00 tells the learner that re-running cells is safe.  For each
notebook, in one live kernel (nbclient, the way JupyterLab runs cells):

1. Run All, top to bottom;
2. then each code cell again, in place, from the last one back to the first,
   as a learner does who scrolls back up to look at a cell again: each
   cell meets the state Run All left (changed only by the re-runs of the
   cells below it; the setup cell, which resets the lab, comes last);
3. then the whole notebook again from the top, in the same kernel.

No cell may print a traceback.  Passes 1 and 3 must run without an error;
in pass 2 a step that works only once (redeeming a code, answering a state),
re-run on its own after the flow went on, may refuse, in one friendly line.  The first pass is also the
hygiene check: executing again, cleaned as ``python -m apisec_lab.book.execute``
does, gives the committed file (volatile values masked).
"""
from __future__ import annotations

import copy
import difflib
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from apisec_lab.book import execute

from .test_notebooks import NOTEBOOKS, sanitized

#: A refusal the lab's client explains in one line (``FlowError._render_traceback_``), no traceback: a step
#: that only works once (a code, a state), re-run on its own after the flow went on, says so this way.
FRIENDLY = re.compile(r"FlowError: [^\n]+")
PASSES = ("run all", "each cell again, in place (bottom up)", "the notebook again, from the top")


def _problems(cell, index: int, where: str, friendly_ok: bool = False) -> list[str]:
    """What is wrong with a run cell's outputs: an error (unless *friendly_ok* and it is one friendly line), a traceback."""
    found = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "error":
            if friendly_ok and FRIENDLY.fullmatch("\n".join(out["traceback"])):
                continue
            found.append(f"{where}: cell {index} raised {out['ename']}: {out['evalue']}")
        elif out["output_type"] == "stream" and "Traceback (most recent call last)" in out["text"]:
            found.append(f"{where}: cell {index} printed a traceback:\n{out['text'][-600:]}")
    return found


def _run(path: Path, tmp: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=execute.CELL_TIMEOUT, allow_errors=True,
                            kernel_name=nb.metadata["kernelspec"]["name"],
                            resources={"metadata": {"path": str(path.parent)}})
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    problems, counts = [], {}
    with execute.fresh_records(), client.setup_kernel():   # notebook 00 shows this run's record only
        for i, c in code:                                       # 1. Run All
            client.execute_cell(c, i)
            problems += _problems(c, i, PASSES[0])
        counts[PASSES[0]] = len(code)
        first = copy.deepcopy(nb)
        for i, c in reversed(code):                             # 2. each cell again, in place, bottom up
            again = copy.deepcopy(c)
            client.execute_cell(again, i)
            problems += _problems(again, i, PASSES[1], friendly_ok=True)
        counts[PASSES[1]] = len(code)
        for i, c in code:                                       # 3. from the top, same kernel
            again = copy.deepcopy(c)
            client.execute_cell(again, i)
            problems += _problems(again, i, PASSES[2])
        counts[PASSES[2]] = len(code)
    # The first pass, cleaned as the execute command cleans, is what the committed file holds.
    execute.drop_widget_views(first)
    copy_path = tmp / path.name
    nbformat.write(first, copy_path)
    execute.strip(copy_path)
    return {"problems": problems, "counts": counts, "again": copy_path.read_text(encoding="utf-8")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rerun")
    return {path.name: _run(path, tmp) for path in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_cell_runs_again_without_a_traceback(path, runs):
    run = runs[path.name]
    assert run["counts"][PASSES[0]] > 0
    assert not run["problems"], "\n".join(run["problems"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_executing_again_gives_the_committed_file(path, runs):
    """Byte for byte, once the volatile values that tests/sanitize.cfg masks (ports, tokens, times) are masked."""
    again = sanitized(runs[path.name]["again"]).splitlines()
    committed = sanitized(path.read_text(encoding="utf-8")).splitlines()
    diff = list(difflib.unified_diff(committed, again, "committed", "executed again", lineterm="", n=1))
    assert not diff, "\n".join(diff[:40])


def test_the_rerun_covers_every_code_cell(runs):
    cells = sum(len([c for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "code"]) for p in NOTEBOOKS)
    for name in PASSES:
        assert sum(r["counts"][name] for r in runs.values()) == cells
    print(f"\nre-run: {cells} code cells in {len(NOTEBOOKS)} notebooks, each run {len(PASSES)} times")
