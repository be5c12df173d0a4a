"""The contributor's checklists (CONTRIBUTING.md), checked: what adding a notebook or a weakness switch must touch.

Each test here is one checklist step, so a forgotten step fails with a message that says what to add where:
the notebook tables in the README and in notebook 00, the workbook's closing paragraph, the book conventions,
the helper module and test files of each notebook; the README's weakness list, and each switch's RFC or OWASP
item, the server code that reads it, the test that turns it on and the notebook that teaches it. Also: the layer
picture in README and CONTRIBUTING matches tests/test_layers.py, the README's architecture names real files.
"""
import dataclasses
import importlib.util
import json
import re
from pathlib import Path

import pytest

from apisec_lab import Weaknesses
from apisec_lab.book.exercises import Exercise

from .test_layers import LAYERS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONTRIBUTING = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NUMBERS = [p.name[:2] for p in NOTEBOOKS]
#: Numbers kept for notebooks being written in parallel, so that a later one can land first: the number must not
#: exist yet; take it out here when its notebook lands (and name it in the closing paragraph, last notebook).
RESERVED: dict[str, str] = {}
SWITCHES = [f.name for f in dataclasses.fields(Weaknesses)]


def cells(path: Path, kind: str | None = None) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if kind is None or c["cell_type"] == kind]


def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section of a Markdown document."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def headings(path: Path, level: str = "##") -> list[str]:
    return [line[len(level) + 1:].strip() for text in cells(path, "markdown") for line in text.splitlines()
            if line.startswith(level + " ")]


def by_number(paths):
    return pytest.mark.parametrize("path", paths, ids=[p.name[:2] for p in paths])


# -- adding a notebook ------------------------------------------------------

def test_notebooks_are_numbered_in_reading_order():
    landed = sorted(set(NUMBERS) & set(RESERVED))
    assert not landed, f"notebook {landed} has landed: take it out of RESERVED in tests/test_docs.py"
    numbers = sorted(NUMBERS + list(RESERVED))
    assert NOTEBOOKS and numbers == [f"{i:02d}" for i in range(len(numbers))], \
        f"notebooks are named 00-..., 01-..., with no gap but the RESERVED ones: {[p.name for p in NOTEBOOKS]}"
    assert all(re.fullmatch(r"\d\d-[a-z0-9-]+\.ipynb", p.name) for p in NOTEBOOKS)


def test_the_readme_table_lists_exactly_the_notebooks():
    listed = re.findall(r"^\| `(\d\d-[\w-]+\.ipynb)` \|", section(README, "The notebooks"), re.M)
    assert listed == [p.name for p in NOTEBOOKS], "README.md, '## The notebooks': one row per notebook, in order"


def test_notebook_00_contents_list_exactly_the_notebooks():
    start_here = cells(NOTEBOOKS[0], "markdown")[0]
    listed = re.findall(r"^\| \*\*(\d\d) [^*]+\*\* \|", start_here, re.M)
    assert listed == NUMBERS, ("notebook 00, first cell, 'What you will learn, in order': one row "
                               "'| **NN Title** | question | what you will see |' per notebook, in order")


def test_the_last_notebook_closes_the_workbook():
    closing = [(p, text) for p in NOTEBOOKS for text in cells(p, "markdown") if "closes the workbook" in text]
    assert [p for p, _ in closing] == [NOTEBOOKS[-1]], (
        "exactly one paragraph 'That closes the workbook: ...', in the last notebook: move it when adding one")
    named = re.findall(r"\((\d\d)\)", closing[0][1])
    assert named == NUMBERS[1:], f"the closing paragraph names every notebook after 00, '(NN)' each: has {named}"


MISSING_SETUP: set[str] = set()


def setup_fix(path: Path) -> str:
    """What notebook *path* lacks for the '## Setup' convention, said exactly."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    first_code = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    if nb["cells"][first_code - 1]["cell_type"] == "markdown" and first_code > 1:
        return f"start markdown cell {first_code - 1} (counting from 0; the one over the first code cell) with the line '## Setup'"
    return (f"insert, before cell {first_code} (counting from 0; the first code cell), a markdown cell '## Setup' and one sentence, "
            "e.g. 'Start the lab (or get the running one) and put it back to its seed state.'")


@by_number(NOTEBOOKS[1:])
def test_book_conventions_for_headings(path):
    number = path.name[:2]
    title = headings(path, "#")
    assert title and re.fullmatch(rf"{number} · \S.*", title[0]), f"the first cell's title is '# {number} · Title'"
    sections = headings(path)
    numbered = [int(m.group(1)) for h in sections if (m := re.match(r"(\d+)\. \S", h))]
    assert numbered == list(range(1, len(numbered) + 1)) and numbered, "sections are '## 1. ...', '## 2. ...'"
    assert sections[-1] == "Try it", "the exercises come last, under '## Try it'"


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=(
        f"notebooks/{p.name}: {setup_fix(p)}; then take {p.name[:2]} out of MISSING_SETUP in tests/test_docs.py")))
    if p.name[:2] in MISSING_SETUP else p for p in NOTEBOOKS[1:]], ids=NUMBERS[1:])
def test_book_conventions_the_setup_section(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    first_code = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    before = "".join(nb["cells"][first_code - 1]["source"]) if first_code else ""
    assert re.search(r"^## Setup$", before, re.M), "'## Setup' heads the markdown cell before the first code cell"


@by_number(NOTEBOOKS)
def test_book_conventions_the_first_cell_starts_the_lab(path):
    first = next(text for text in cells(path, "code") if text.strip())
    for line in ("import apisec_lab", f"from apisec_lab.book import nb{path.name[:2]}", "lab = apisec_lab.start()",
                 "lab.reset()"):
        assert re.search(rf"^{re.escape(line)}$", first, re.M), f"the first code cell has the line {line!r}"


@by_number(NOTEBOOKS)
def test_each_notebook_has_its_helper_module_and_tests(path):
    number = path.name[:2]
    assert importlib.util.find_spec(f"apisec_lab.book.nb{number}"), \
        f"apisec_lab/book/nb{number}.py (or a package nb{number}/) holds the notebook's helpers and exercises"
    assert (ROOT / "tests" / "browser" / f"test_nb{number}.py").exists(), \
        f"tests/browser/test_nb{number}.py opens the notebook in JupyterLab and uses its main widget"
    if number != "00":
        assert (ROOT / "tests" / f"test_nb{number}.py").exists(), \
            f"tests/test_nb{number}.py tests the helpers, widgets and each exercise's near misses"


@by_number(NOTEBOOKS[1:])
def test_book_conventions_exercises_are_q1_q2(path):
    module = importlib.import_module(f"apisec_lab.book.nb{path.name[:2]}")
    names = [name for name, value in vars(module).items() if isinstance(value, Exercise)]
    assert names == [f"q{i}" for i in range(1, len(names) + 1)], f"exercises are q1, q2, ... in order: {names}"


# -- adding a weakness switch ---------------------------------------------

def test_the_readme_lists_exactly_the_weaknesses():
    row = next(line for line in README.splitlines() if line.startswith("| `lab.weaknesses` |"))
    listed = re.findall(r"`(\w+)`", row.split("|")[2].split(";")[0])
    assert listed == SWITCHES, "README.md, the lab's API table, row `lab.weaknesses`: every switch, in field order"


@pytest.mark.parametrize("name", SWITCHES)
def test_a_weakness_is_off_by_default_and_documented(name):
    assert getattr(Weaknesses(), name) is False, "the hardened default is hardened"
    field = next(f for f in dataclasses.fields(Weaknesses) if f.name == name)
    assert len(field.metadata.get("doc", "")) > 40, "each switch says what it breaks (shown by lab.weaknesses.table())"


UNNAMED_ITEM: dict[str, str] = {}   # a switch whose doc names no RFC or OWASP item yet: what to name


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=(
        f"core/weaknesses.py: the doc of {n} names no RFC or OWASP item; name {UNNAMED_ITEM[n]} in it, re-execute "
        f"notebook 00 (it shows lab.weaknesses.table()), then take {n} out of UNNAMED_ITEM in tests/test_docs.py")))
    if n in UNNAMED_ITEM else n for n in SWITCHES])
def test_a_weakness_names_the_rfc_or_owasp_item_it_violates(name):
    doc = next(f for f in dataclasses.fields(Weaknesses) if f.name == name).metadata["doc"]
    assert re.search(r"\bRFC \d{4}|\bOWASP\b", doc), f"the doc of {name} names the RFC or OWASP item it violates"


def sources(*parts: str) -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for part in parts
            for p in sorted((ROOT / part).rglob("*.py"))}


@pytest.mark.parametrize("name", SWITCHES)
def test_a_weakness_is_read_by_the_server_it_weakens(name):
    readers = [f for f, text in sources("apisec_lab/oauth", "apisec_lab/servers").items()
               if re.search(rf"\.{name}\b", text)]
    assert readers, f"no server reads weaknesses.{name} (apisec_lab/oauth or apisec_lab/servers)"


@pytest.mark.parametrize("name", SWITCHES)
def test_a_weakness_has_a_test_that_turns_it_on(name):
    turning_on = rf"\b{name}\s*=\s*True\b"
    tests = [f for f, text in sources("tests").items() if not f.startswith("tests/browser") and f != "tests/test_docs.py"
             and re.search(turning_on, text)]
    assert tests, f"no test turns {name} on (the attack works with it on, fails with it off)"


#: Switches whose notebook section is still to be written (remove the name when it lands).
UNTAUGHT: dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=f"not taught yet: {UNTAUGHT[n]}; "
                                            f"then take {n} out of UNTAUGHT in tests/test_docs.py"))
    if n in UNTAUGHT else n for n in SWITCHES])
def test_a_weakness_is_taught_by_a_notebook(name):
    turning_on = rf"\b{name}\s*=\s*True\b"
    in_cells = [p.name for p in NOTEBOOKS if any(re.search(turning_on, t) for t in cells(p, "code"))]
    in_helpers = [f for f, text in sources("apisec_lab/book").items() if re.search(turning_on, text)]
    assert in_cells or in_helpers, f"no notebook (or its helper module) turns {name} on to teach it"


# -- the pictures -------------------------------------------------------------

def picture() -> str:
    """The layer picture, lowest first, as tests/test_layers.py defines it."""
    order = sorted(LAYERS, key=LAYERS.get)
    names = list(dict.fromkeys({"__init__": "lab", "__main__": "cli"}.get(n, n) for n in order))
    return "  <-  ".join(names)


@pytest.mark.parametrize("doc", ["README.md", "CONTRIBUTING.md"])
def test_the_layer_picture_matches_the_layer_test(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert picture() in text, f"{doc} draws the layers as tests/test_layers.py has them: {picture()}"


def test_the_readme_architecture_names_real_parts():
    architecture = section(README, "Architecture")
    parts = sorted(p.name for p in (ROOT / "apisec_lab").iterdir() if (p / "__init__.py").exists() or p.name == "data")
    for part in parts:
        assert re.search(rf"^  {part}/ ", architecture, re.M), f"README's architecture tree lacks apisec_lab/{part}/"
        assert f"{part}/" in CONTRIBUTING or part == "data", f"CONTRIBUTING.md does not say what {part}/ holds"
    files = {p.name for p in (ROOT / "apisec_lab").rglob("*") if p.is_file()}
    for name in set(re.findall(r"[\w/]+\.(?:py|sql)\b", architecture)):
        real = (ROOT / name).exists() if "/" in name else name in files
        assert real, f"README's architecture names {name}, which the repository does not have"


def test_contributing_gives_the_readme_test_command():
    command = re.search(r"^python3 -m venv .*-m pytest$", README, re.M).group(0)
    assert command in CONTRIBUTING
    assert "tests/test_layers.py" in CONTRIBUTING and "LICENSE" in CONTRIBUTING


def test_contributing_gives_the_readme_execute_command():
    command = re.search(r"^## Re-executing the notebooks\n.*?```bash\n(.+?)\n```", CONTRIBUTING, re.S | re.M).group(1)
    assert command in README, f"README.md does not give the command CONTRIBUTING.md names: {command}"


def test_the_license_is_mit():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the apisec-lab authors\n")
    assert "WITHOUT WARRANTY OF ANY KIND" in text
