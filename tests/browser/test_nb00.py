"""Notebook 00 (start here) in a real JupyterLab: the lab starts, answers, and exercises check.

The notebook has no main widget. The test runs it top to bottom, reads the
health check and the warm-up verdicts off the page, asks the kernel's API
from the browser itself, then does what the notebook asks a learner to do:
replace the blank in the warm-up cell with an answer and run the cell again.
"""

from __future__ import annotations

import json
import re

import pytest

from .jupyter import (
    PlaywrightTimeoutError,
    assert_no_kernel_errors,
    cell,
    cell_output,
    expect,
    open_notebook,
    run_all_cells,
)

NOTEBOOK = "notebooks/00-start-here.ipynb"
#: Kernel work (a cell run) on a 2-core machine shared with other jobs can take a while.
WAIT = 30_000


@pytest.fixture(autouse=True)
def _patient_expect():
    """Retrying assertions wait up to WAIT ms (the kernel answers, not the DOM); restored after."""
    if expect is not None:
        expect.set_options(timeout=WAIT)
    yield
    if expect is not None:
        expect.set_options(timeout=None)


def output(page, index: int):
    """The rendered output of cell ``index`` (without the ``[n]:`` prompt); strict: exactly one."""
    return cell_output(page, index).locator(".jp-OutputArea-output")


def index_of(server, relpath: str, needle: str) -> int:
    """Index of the only code cell of the notebook whose source contains ``needle``."""
    cells = json.loads((server.root / relpath).read_text())["cells"]
    found = [i for i, c in enumerate(cells)
             if c["cell_type"] == "code" and needle in "".join(c["source"])]
    assert len(found) == 1, f"{relpath}: {len(found)} code cells contain {needle!r}: {found}"
    return found[0]

def cell_shot(page, locator, path, max_height: int = 6000) -> None:
    """Screenshot ``locator`` (e.g. one cell) whole, even when it is taller than the window.

    JupyterLab scrolls inside the notebook panel, so an element screenshot
    cuts a tall cell at the panel's edge. The window is made tall enough for
    the element (up to ``max_height`` px), the screenshot taken, and the
    window size restored.
    """
    size = page.viewport_size
    box = locator.bounding_box()
    needed = min(max_height, int(box["height"]) + 200) if box else size["height"]
    if needed > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": needed})
    try:
        locator.scroll_into_view_if_needed()
        try:  # let JupyterLab lay the taller window out; a partial shot is still worth saving
            page.wait_for_function(
                "([el, h]) => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= h; }",
                arg=[locator.element_handle(), needed], timeout=5_000, polling=100)
        except PlaywrightTimeoutError:
            pass
        locator.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)


# Local helper (tests/browser/jupyter.py has none for typing into a cell):
# reads one cell's execution count and the kernel status from the notebook model.
_JS_CELL_RUN = """
([index, before]) => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const m = w.content.model.cells.get(index);
  return !!k && k.status === 'idle' && m.executionCount !== null && m.executionCount !== before;
}
"""


def replace_cell_source_and_run(page, index: int, code: str, timeout: float = 60_000) -> None:
    """Do what a learner does: click into cell ``index``, replace its text, press Ctrl+Enter.

    Waits until the cell has a new execution count and the kernel is idle.
    The text is inserted as one edit (``insert_text``), so the editor's
    auto-indent and bracket closing cannot alter it; the cell's source is
    then checked against ``code``.
    """
    before = page.evaluate(
        "(i) => window.jupyterapp.shell.currentWidget.content.model.cells.get(i).executionCount", index)
    editor = cell(page, index).locator(".jp-InputArea-editor .cm-content")
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(code)
    source = page.evaluate(
        "(i) => window.jupyterapp.shell.currentWidget.content.model.cells.get(i).sharedModel.getSource()",
        index)
    assert source == code, f"the editor holds {source!r}, not the typed {code!r}"
    page.keyboard.press("Control+Enter")
    try:
        page.wait_for_function(_JS_CELL_RUN, arg=[index, before], timeout=timeout, polling=200)
    except PlaywrightTimeoutError:
        raise AssertionError(f"cell {index} did not run within {timeout / 1000:.0f} s") from None


def test_start_here_runs_and_the_warmup_checks(page, jupyter_server, screenshot_dir):
    open_notebook(page, jupyter_server, NOTEBOOK)
    state = run_all_cells(page)

    # The lab-alive cell: the API's health route answers, with no credentials.
    health = index_of(jupyter_server, NOTEBOOK, "nb00.health(lab)")
    expect(output(page, health)).to_have_text("{'status': 'ok'}")

    # The servers run inside the kernel, on loopback, and this browser reaches them too.
    start = index_of(jupyter_server, NOTEBOOK, "apisec_lab.start()")
    started = output(page, start)
    for server in ("api", "issuer", "apps", "wiretap"):
        expect(started).to_contain_text(re.compile(rf"[ ,]{server} http://127\.0\.0\.1:\d+[,>]"))
    api_url = re.search(r"api (http://127\.0\.0\.1:\d+)", started.inner_text()).group(1)
    response = page.request.get(f"{api_url}/health")
    assert response.status == 200 and response.json() == {"status": "ok"}
    servers = index_of(jupyter_server, NOTEBOOK, "nb00.servers(lab)")
    table = output(page, servers).locator("table")
    api_row = table.locator("tbody tr", has=page.locator("th", has_text=re.compile(r"^\s*resource API\s*$")))
    expect(api_row.locator("td").first).to_have_text(api_url)
    for role in ("authorization server", "apps' web server", "wiretap"):
        expect(table.locator("tbody th", has_text=re.compile(rf"^\s*{re.escape(role)}\s*$"))).to_have_count(1)

    # The exercise demo: the untouched blank, then a near miss, each with its verdict.
    blank = index_of(jupyter_server, NOTEBOOK, "nb00.warmup.check(answer)")
    expect(output(page, blank)).to_have_text(
        "Warm-up: Not yet: replace ____ with your answer, then run the cell again.")
    near_miss = index_of(jupyter_server, NOTEBOOK, 'nb00.warmup.check(flows.call_api(lab, "/health"))')
    expect(output(page, near_miss)).to_have_text(
        "Warm-up: Not yet: that is the whole HTTP response: call .json() on it to get the body.")
    hint = index_of(jupyter_server, NOTEBOOK, "nb00.warmup.hint()")
    expect(output(page, hint)).to_have_text(
        "Hint (Warm-up): flows.call_api(lab, '/health') returns the HTTP response; .json() gives its body.")
    assert_no_kernel_errors(page)
    cell_shot(page, cell(page, blank), screenshot_dir / "nb00-warmup-blank.png")

    # The learner fills the blank with a wrong answer (text), then with the right one.
    replace_cell_source_and_run(page, blank, "answer = flows.call_api(lab, '/health').text\n"
                                             "nb00.warmup.check(answer)")
    expect(output(page, blank)).to_have_text(
        "Warm-up: Not yet: that is text: use .json() to get the body as a dict.")
    replace_cell_source_and_run(page, blank, "answer = flows.call_api(lab, '/health').json()\n"
                                             "nb00.warmup.check(answer)")
    expect(output(page, blank)).to_have_text(
        "Warm-up: Correct: the lab answers. Every exercise works like this one.")
    assert_no_kernel_errors(page)

    cell_shot(page, cell(page, blank), screenshot_dir / "nb00-warmup-solved.png")
    cell_shot(page, cell(page, health), screenshot_dir / "nb00-health.png")
    print(f"run-all took {state['seconds']} s")
