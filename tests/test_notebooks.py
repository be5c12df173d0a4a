"""The committed notebooks are regression tests: executed, error-free, honestly marked.

nbval compares only cells that have been executed, so an unexecuted notebook
would pass silently; these checks close that gap.
"""
import configparser
import json
import re
from pathlib import Path

import pytest

from apisec_lab.book import execute

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MARKER = re.compile(r"#\s*(NBVAL_\w+)(.*)")


def code_cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return nb, [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_the_workbook_has_its_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert names == sorted(names) and names, "notebooks are numbered so they sort in reading order"
    assert names[0].startswith("00-")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_executed_in_order_without_errors(path):
    nb, cells = code_cells(path)
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, f"{counts.count(None)} code cells were never executed"
    assert counts == list(range(1, len(cells) + 1)), "run top to bottom in one fresh kernel"
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors[0].get("ename")
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_ignore_marker_says_why(path):
    _, cells = code_cells(path)
    for cell in cells:
        for line in "".join(cell["source"]).splitlines():
            m = MARKER.search(line)
            if m:
                reason = m.group(2).strip(" :-")
                assert len(reason) > 10, f"{m.group(1)} needs a one-line reason: {line!r}"


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert path.name in readme, f"README does not list {path.name}"


# -- notebook hygiene: re-executing must not churn the JSON (python -m apisec_lab.book.execute) -----------------
def _sanitizers():
    """tests/sanitize.cfg's (regex, replacement) pairs, in order, as nbval applies them."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tests" / "sanitize.cfg")
    return [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]


def sanitized(text: str) -> str:
    for regex, replace in _sanitizers():
        text = regex.sub(replace, text)
    return text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_clean_no_timing_no_widget_state_no_widget_views(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert "widgets" not in nb["metadata"], "stored widget state: run python -m apisec_lab.book.execute"
    for i, cell in enumerate(nb["cells"]):
        assert "execution" not in cell.get("metadata", {}), f"cell {i} keeps timing metadata"
        assert cell.get("id") == str(i), f"cell {i} has id {cell.get('id')!r}: ids are numbered by nbstripout"
        for output in cell.get("outputs", []):
            assert execute.WIDGET_VIEW not in output.get("data", {}), f"cell {i} stores a widget view"
    assert path.read_text(encoding="utf-8").endswith("}\n")


# -- one layout for every notebook: Setup, numbered sections, Try it with one heading per exercise ---------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_layout_setup_numbered_sections_try_it_one_heading_per_exercise(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    headings = [(i, line) for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                for line in "".join(c["source"]).splitlines() if line.startswith("## ") or line.startswith("### ")]
    sections = [line for _, line in headings if line.startswith("## ")]
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    setup = [i for i, line in headings if line == "## Setup"]
    assert setup and setup[0] < first_code, f"{path.name}: a '## Setup' heading comes before the first code cell"
    numbered = [s for s in sections if re.match(r"## \d+\. ", s)]
    assert [int(s.split()[1].rstrip(".")) for s in numbered] == list(range(1, len(numbered) + 1)), numbered
    assert sections[-1] == "## Try it", f"{path.name}: the last section is '## Try it', not {sections[-1]!r}"
    try_it = next(i for i, line in headings if line == "## Try it")
    assert sections.index("## Setup") < sections.index(numbered[0]) < sections.index("## Try it")
    exercises = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
                 and re.search(r"\bnb\d\d\.\w+\.check\(answer\)", "".join(c["source"]))]
    subheads = [i for i, line in headings if line.startswith("### ") and i >= try_it]
    assert len(subheads) == len(exercises) >= 1, f"{path.name}: one '### ' heading per exercise under Try it"
    for heading, exercise in zip(subheads, exercises, strict=True):
        assert heading < exercise, f"{path.name}: exercise cell {exercise} comes before its heading"
