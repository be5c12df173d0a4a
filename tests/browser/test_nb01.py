"""Notebook 01 (Basic auth) in a real JupyterLab: the traffic viewer decodes what was on the wire.

The notebook's main widget is ``nb01.TrafficViewer`` (``.apisec-traffic-viewer``),
displayed once, in the cell ``nb01.TrafficViewer(lab)``. The test acts as a
learner: picks a captured request, presses **Decode credentials**, reads the
password; presses **Reload captures** to see what later cells captured; and,
since every request of the notebook carried a password, sends two requests of
its own from a new cell (one with no credentials, one with a bearer token) to
see what the viewer says about those.
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from apisec_lab import DEMO_PASSWORDS

from .jupyter import (
    PlaywrightTimeoutError,
    assert_no_kernel_errors,
    cell,
    cell_output,
    expect,
    open_notebook,
    run_all_cells,
    widget_button,
)

NOTEBOOK = "notebooks/01-basic-auth.ipynb"
#: Kernel work (a callback, a cell run) on a 2-core machine shared with other jobs can take a while.
WAIT = 30_000

ALICE = DEMO_PASSWORDS["alice"]
BOB = DEMO_PASSWORDS["bob"]
#: What the notebook captured before the viewer was displayed, in order (cells 8 to 33).
CAPTURED = [
    "#1 apisec-lab-client/1.0: GET /me (Basic) -> 200",
    "#2 apisec-lab-client/1.0: GET /photos (Basic) -> 200",
    "#3 apisec-lab-client/1.0: GET /messages (Basic) -> 200",
    "#4 apisec-lab-client/1.0: GET /payment (Basic) -> 200",
    "#5 PhotoPrintClassic/1.0: GET /photos (Basic) -> 200",
    "#6 PhotoPrintClassic/1.0: GET /messages (Basic) -> 200",
    "#7 PhotoPrintClassic/1.0: PUT /payment (Basic) -> 200",
    "#8 ChatPalClassic/1.0: GET /messages (Basic) -> 200",
    "#9 Attacker/1.0: GET /payment (Basic) -> 200",
    "#10 Attacker/1.0: GET /photos (Basic) -> 401",
    "#11 PhotoPrintClassic/1.0: GET /photos (Basic) -> 401",
    "#12 ChatPalClassic/1.0: GET /photos (Basic) -> 401",
]
#: Captured by the cells after the viewer: Bob's backup tool in "Try it 1" (``nb01.overheard``).
LATER = "#13 BobsBackup/1.0: GET /photos (Basic) -> 200"
PROMPT = "Press Decode credentials to read the Authorization header as an eavesdropper would."


@pytest.fixture(autouse=True)
def _patient_expect():
    """Retrying assertions wait up to WAIT ms (the kernel answers, not the DOM); restored after."""
    if expect is not None:
        expect.set_options(timeout=WAIT)
    yield
    if expect is not None:
        expect.set_options(timeout=None)


def index_of(server, relpath: str, needle: str) -> int:
    """Index of the only code cell of the notebook whose source contains ``needle``."""
    cells = json.loads((server.root / relpath).read_text())["cells"]
    found = [i for i, c in enumerate(cells)
             if c["cell_type"] == "code" and needle in "".join(c["source"])]
    assert len(found) == 1, f"{relpath}: {len(found)} code cells contain {needle!r}: {found}"
    return found[0]


def described(root, widget_class: str, description: str, label_selector: str = ".widget-label"):
    """Widget views of ``widget_class`` under ``root`` (a Locator) whose description is ``description``.

    Local stand-in for ``jupyter._described``, which builds its ``has=`` filter
    from ``root.locator(...)``: with a Locator root (e.g. one cell) that filter
    embeds the root's own chain, is searched inside each widget, and matches
    nothing. The filter must be a page-level locator (searched relative to each view).
    """
    label = root.page.locator(label_selector, has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))
    return root.locator(f".jupyter-widgets.{widget_class}").filter(has=label)


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()

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


# Local helper (tests/browser/jupyter.py has none for adding a cell): true once
# cell ``index`` exists, has an execution count and the kernel is idle.
_JS_CELL_RAN = """
(index) => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  if (w.content.model.cells.length <= index) return false;
  const m = w.content.model.cells.get(index);
  return !!k && k.status === 'idle' && m.executionCount !== null;
}
"""


def append_cell_and_run(page, code: str, timeout: float = 60_000) -> int:
    """Do what a learner does: select the last cell, press B (new cell below), type, Ctrl+Enter.

    The text goes in as one edit (``insert_text``), so auto-indent cannot
    alter it. Returns the new cell's index once it ran and the kernel is idle.
    """
    count = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.cells.length")
    cell(page, count - 1).click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    expect(page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")).to_have_count(count + 1)
    page.keyboard.press("Enter")
    page.keyboard.insert_text(code)
    source = page.evaluate(
        "(i) => window.jupyterapp.shell.currentWidget.content.model.cells.get(i).sharedModel.getSource()",
        count)
    assert source == code, f"the new cell holds {source!r}, not the typed {code!r}"
    page.keyboard.press("Control+Enter")
    try:
        page.wait_for_function(_JS_CELL_RAN, arg=count, timeout=timeout, polling=200)
    except PlaywrightTimeoutError:
        raise AssertionError(f"the new cell {count} did not run within {timeout / 1000:.0f} s") from None
    return count


def test_traffic_viewer_decodes_the_password(page, jupyter_server, screenshot_dir):
    open_notebook(page, jupyter_server, NOTEBOOK)
    run_all_cells(page)

    index = index_of(jupyter_server, NOTEBOOK, "nb01.TrafficViewer(lab)")
    viewer = cell(page, index).locator(".apisec-traffic-viewer")
    expect(viewer).to_have_count(1)
    picker = described(viewer, "widget-dropdown", "Captured request").locator("select")
    decoded = viewer.locator(".apisec-decoded")
    wire = viewer.locator(".apisec-wire")
    decode = widget_button(cell(page, index), "Decode credentials")

    # As displayed: the twelve requests captured so far, the newest selected, nothing decoded yet.
    expect(picker.locator("option")).to_have_text(CAPTURED)
    expect(picker.locator("option:checked")).to_have_text(CAPTURED[-1])
    expect(decoded).to_have_text(PROMPT)
    expect(wire.locator("pre").first).to_contain_text("GET /photos HTTP/1.1")
    expect(wire.locator("mark").first).to_have_text(f"Basic {basic('alice', ALICE)}")

    # The attacker's request with the stolen password: the wire shows it, Decode reads it out.
    picker.select_option(label=CAPTURED[8])
    expect(wire.locator("pre").first).to_contain_text("GET /payment HTTP/1.1")
    expect(wire.locator("pre").first).to_contain_text("User-Agent: Attacker/1.0")
    expect(wire.locator("mark")).to_have_text([f"Basic {basic('alice', ALICE)}"])
    expect(decoded).to_have_text(PROMPT)
    decode.click()
    expect(decoded).to_have_text(
        f"base64 decodes {basic('alice', ALICE)} to alice:{ALICE}: username alice, password {ALICE}. "
        f"Anyone who saw this request can now sign in as alice.")
    expect(decoded.locator("b.apisec-password")).to_have_text(ALICE)
    expect(decoded.locator("mark")).to_have_text(ALICE)
    cell_shot(page, cell(page, index), screenshot_dir / "nb01-decoded-attacker.png")

    # Choosing another request clears what was decoded for the previous one.
    picker.select_option(label=CAPTURED[0])
    expect(decoded).to_have_text(PROMPT)
    expect(wire.locator("pre").first).to_contain_text("GET /me HTTP/1.1")

    # Reload captures: later cells captured Bob's backup tool; the selection stays where it was.
    expect(picker.locator("option")).to_have_count(len(CAPTURED))
    widget_button(cell(page, index), "Reload captures").click()
    expect(picker.locator("option")).to_have_text([*CAPTURED, LATER])
    expect(picker.locator("option:checked")).to_have_text(CAPTURED[0])
    picker.select_option(label=LATER)
    decode.click()
    expect(decoded.locator("b.apisec-password")).to_have_text(BOB)
    expect(decoded).to_contain_text("Anyone who saw this request can now sign in as bob.")

    # Every capture so far carried a password. The learner sends two requests of a
    # different kind through the wiretap from a new cell: no credentials, then a bearer token.
    new = append_cell_and_run(
        page,
        'token = flows.client_credentials(lab, lab.clients["backup-bot"], ["reports:read"]).json()["access_token"]\n'
        'flows.call_api(lab, "/health", tapped=True).status_code, '
        'flows.call_api(lab, "/reports/usage", token=token, tapped=True).status_code')
    expect(cell_output(page, new).locator(".jp-OutputArea-output")).to_have_text("(200, 200)")
    widget_button(cell(page, index), "Reload captures").click()
    no_credentials = "#14 apisec-lab-client/1.0: GET /health (no credentials) -> 200"
    bearer = "#15 apisec-lab-client/1.0: GET /reports/usage (Bearer) -> 200"
    expect(picker.locator("option")).to_have_text([*CAPTURED, LATER, no_credentials, bearer])

    picker.select_option(label=no_credentials)
    expect(decoded).to_have_text(PROMPT)
    expect(wire.locator("mark")).to_have_count(0)
    expect(wire.locator("pre").first).not_to_contain_text("Authorization:")
    decode.click()
    expect(decoded).to_have_text("This request carried no credentials.")
    expect(decoded.locator("b.apisec-password")).to_have_count(0)

    picker.select_option(label=bearer)
    expect(decoded).to_have_text(PROMPT)
    expect(wire.locator("mark")).to_have_text([re.compile(r"^Bearer at_\S+$")])
    decode.click()
    expect(decoded).to_have_text("A Bearer token, not a password: it opens only what it was granted, "
                                 "it expires, and it can be revoked on its own.")
    expect(decoded.locator("b.apisec-password")).to_have_count(0)
    assert_no_kernel_errors(page)
    cell_shot(page, cell(page, index), screenshot_dir / "nb01-decoded-bearer.png")
