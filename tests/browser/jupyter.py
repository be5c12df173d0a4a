"""Helpers for driving JupyterLab notebooks and ipywidgets from Playwright.

All helpers take the Playwright ``page`` (or, for widget locators, any
``Page``/``Locator`` to search under, e.g. one cell) and rely on
``window.jupyterapp``, which the ``jupyter_server`` fixture exposes with
``--LabApp.expose_app_in_browser=True``. A widget locator's root must hold
whole outputs (the page, a cell): Playwright scopes the entire CSS selector,
``.jp-OutputArea-output`` included, so a root inside an output matches nothing.

Import ``expect`` from here rather than from ``playwright.sync_api`` so that a
test module still imports when Playwright is missing and the ``browser``
fixture can skip (or fail, with ``APISEC_REQUIRE_BROWSER=1``) cleanly.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Union

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect
except ImportError:  # the browser fixture reports the missing package
    expect = None
    PlaywrightTimeoutError = TimeoutError

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    Root = Union[Page, Locator]

__all__ = [
    "expect",
    "EXPECT_TIMEOUT",
    "open_notebook",
    "run_all_cells",
    "kernel_errors",
    "assert_no_kernel_errors",
    "cell",
    "cell_index",
    "cell_output",
    "replace_cell_source_and_run",
    "append_cell_and_run",
    "widget_button",
    "widget_dropdown",
    "widget_select",
    "widget_checkbox",
    "widget_text",
    "widget_textarea",
    "widget_label",
    "widget_html",
    "set_widget_text",
    "shot",
    "cell_shot",
    "NotebookError",
]

#: How long Playwright's retrying ``expect`` waits in every browser test (ms;
#: set by the autouse ``_patient_expect`` fixture of conftest.py): the kernel
#: answers, not the DOM, and a 2-core machine shared with other jobs is slow.
EXPECT_TIMEOUT = 30_000

#: CSS selector of one rendered output (any cell, any widget view).
OUTPUT = ".jp-OutputArea-output"
#: CSS selector of the cells of the notebook on screen.
CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"
#: Selector of error outputs in the DOM. JupyterLab 4 renders ``output_type:
#: error`` exactly like stream stderr (same element, class and mime type, no
#: error class), so only the traceback text tells them apart. The helpers below
#: read errors from the notebook model instead, which also covers cells that
#: are not rendered.
ERROR_OUTPUT = (f'{OUTPUT}[data-mime-type="application/vnd.jupyter.stderr"]'
                ':has-text("Traceback")')


class NotebookError(AssertionError):
    """A notebook cell (or widget callback) produced an error."""


# JavaScript snippets evaluated in the page. They read the notebook *model*,
# not the DOM, so they work whatever cells are currently rendered.
_JS_NOTEBOOK_STATE = """
() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.context || !w.content || !w.content.model) return null;
  const kernel = w.sessionContext && w.sessionContext.session
    ? w.sessionContext.session.kernel : null;
  const cells = [];
  const n = w.content.model.cells.length;
  for (let i = 0; i < n; i++) {
    const m = w.content.model.cells.get(i);
    const source = m.sharedModel.getSource();
    const c = {index: i, type: m.type, source: source, count: null, outputs: []};
    if (m.type === 'code') {
      c.count = m.executionCount;
      c.outputs = m.outputs.toJSON();
    }
    cells.push(c);
  }
  return {
    path: w.context.path,
    ready: w.context.isReady,
    kernel: kernel ? {connection: kernel.connectionStatus, status: kernel.status,
                      name: kernel.name} : null,
    cells: cells,
    runAll: window.__apisecRunAll || null,
    kernelErrors: window.__apisecKernelErrors || [],
  };
}
"""

_JS_KERNEL_IDLE = """
(path) => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.context || w.context.path !== path || !w.context.isReady) return false;
  const s = w.sessionContext && w.sessionContext.session;
  const k = s && s.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}
"""

# Record every iopub ``error`` message of the current kernel: exceptions
# raised in widget callbacks are not attached to any cell and would otherwise
# only appear in JupyterLab's log console.
_JS_WATCH_KERNEL = """
() => {
  const w = window.jupyterapp.shell.currentWidget;
  window.__apisecKernelErrors = [];
  const watch = (kernel) => {
    if (!kernel || kernel.__apisecWatched) return;
    kernel.__apisecWatched = true;
    kernel.iopubMessage.connect((_, msg) => {
      if (msg.header.msg_type === 'error') {
        window.__apisecKernelErrors.push({
          ename: msg.content.ename, evalue: msg.content.evalue,
          traceback: msg.content.traceback.join('\\n'),
          parent: msg.parent_header ? msg.parent_header.msg_type : null,
        });
      }
    });
  };
  watch(w.sessionContext.session.kernel);
  w.sessionContext.kernelChanged.connect((_, change) => watch(change.newValue));
}
"""

_JS_START_RUN_ALL = """
() => {
  const state = {done: false, ok: null, error: null};
  window.__apisecRunAll = state;
  // Not awaited on purpose: the promise resolves only when every cell ran.
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    (ok) => { state.ok = ok; state.done = true; },
    (err) => { state.error = String(err); state.done = true; });
  return true;
}
"""

_JS_RUN_ALL_FINISHED = """
() => {
  const st = window.__apisecRunAll;
  if (!st || !st.done) return false;
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  if (!k || k.status !== 'idle') return false;
  if (st.ok === false || st.error) return true;  // stopped at an error
  const cells = w.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const m = cells.get(i);
    if (m.type === 'code' && m.sharedModel.getSource().trim() !== ''
        && m.executionCount === null) return false;
  }
  return true;
}
"""

# True once cell ``index`` exists, has an execution count other than ``before``
# and the kernel is idle.
_JS_CELL_RAN = """
([index, before]) => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  if (w.content.model.cells.length <= index) return false;
  const m = w.content.model.cells.get(index);
  return !!k && k.status === 'idle' && m.executionCount !== null && m.executionCount !== before;
}
"""

_JS_CELL_COUNT = "() => window.jupyterapp.shell.currentWidget.content.model.cells.length"
_JS_EXECUTION_COUNT = "(i) => window.jupyterapp.shell.currentWidget.content.model.cells.get(i).executionCount"
_JS_SOURCE = "(i) => window.jupyterapp.shell.currentWidget.content.model.cells.get(i).sharedModel.getSource()"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _first_line(source: str, limit: int = 80) -> str:
    line = source.strip().splitlines()[0] if source.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _state(page: "Page") -> dict | None:
    return page.evaluate(_JS_NOTEBOOK_STATE)


def open_notebook(page: "Page", server, relpath: str, timeout: float = 90_000,
                  collapse_left: bool = True) -> None:
    """Open ``relpath`` (relative to ``server.root``) and wait for its kernel.

    Navigates to ``{server.url}/lab/tree/{relpath}?reset`` (``reset`` drops the
    workspace saved by an earlier test, so only this notebook opens), then
    waits until it is the current widget, its context is ready and its kernel
    is ``connected`` and ``idle``. Starts recording kernel error messages (see
    :func:`kernel_errors`). ``timeout`` is in milliseconds.
    """
    relpath = Path(relpath).as_posix()
    if not (Path(server.root) / relpath).is_file():
        raise FileNotFoundError(f"{relpath} not found under {server.root}")
    url = f"{server.url}/lab/tree/{urllib.parse.quote(relpath)}?reset"
    page.goto(url, wait_until="domcontentloaded", timeout=timeout)
    try:
        page.wait_for_function(_JS_KERNEL_IDLE, arg=relpath, timeout=timeout,
                               polling=200)
    except PlaywrightTimeoutError:
        state = _state(page)
        brief = None if state is None else {k: state[k] for k in ("path", "ready", "kernel")}
        raise NotebookError(
            f"{relpath}: notebook/kernel not ready after {timeout / 1000:.0f} s; "
            f"current widget: {brief}") from None
    page.evaluate(_JS_WATCH_KERNEL)
    if collapse_left:
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(state="visible")


def _cell_errors(state: dict) -> list[str]:
    """Describe error outputs (and stderr tracebacks) of the notebook model."""
    problems = []
    for c in state["cells"]:
        for out in c["outputs"]:
            if out.get("output_type") == "error":
                tb = _strip_ansi("\n".join(out.get("traceback", [])))
                problems.append(
                    f"cell {c['index']} [{c['count']}] `{_first_line(c['source'])}` raised "
                    f"{out.get('ename')}: {out.get('evalue')}\n{tb}")
            elif (out.get("output_type") == "stream" and out.get("name") == "stderr"
                  and "Traceback (most recent call last)" in "".join(out.get("text", ""))):
                text = _strip_ansi("".join(out["text"]))
                problems.append(
                    f"cell {c['index']} [{c['count']}] `{_first_line(c['source'])}` "
                    f"printed a traceback on stderr:\n{text}")
    return problems


def run_all_cells(page: "Page", timeout: float = 180_000, check_errors: bool = True) -> dict:
    """Run every cell of the current notebook and wait for the run to finish.

    Starts ``notebook:run-all-cells`` without awaiting it, then waits until the
    command's promise has settled, the kernel is idle and every non-empty code
    cell has an execution count (JupyterLab stops at the first error, so an
    error ends the wait early). With ``check_errors`` raises
    :class:`NotebookError` listing each error output (ename, evalue, cell
    source, traceback), stderr traceback, or cell left unexecuted. Returns the
    final notebook state (path, kernel, cells with outputs). ``timeout`` is in
    milliseconds.
    """
    page.evaluate(_JS_START_RUN_ALL)
    started = time.monotonic()
    try:
        page.wait_for_function(_JS_RUN_ALL_FINISHED, timeout=timeout, polling=250)
    except PlaywrightTimeoutError:
        state = _state(page) or {}
        pending = [f"cell {c['index']} `{_first_line(c['source'])}`"
                   for c in state.get("cells", [])
                   if c["type"] == "code" and c["source"].strip() and c["count"] is None]
        raise NotebookError(
            f"{state.get('path')}: run-all not finished after {timeout / 1000:.0f} s; "
            f"kernel {state.get('kernel')}; run-all {state.get('runAll')}; "
            f"cells without execution count: {pending[:10]}") from None
    state = _state(page)
    state["seconds"] = round(time.monotonic() - started, 2)
    if check_errors:
        problems = _cell_errors(state)
        if state["runAll"].get("error"):
            problems.append(f"run-all command failed: {state['runAll']['error']}")
        if not problems:
            unexecuted = [f"cell {c['index']} `{_first_line(c['source'])}`"
                          for c in state["cells"]
                          if c["type"] == "code" and c["source"].strip() and c["count"] is None]
            if unexecuted:
                problems.append(f"cells not executed: {unexecuted}")
        if problems:
            raise NotebookError(f"{state['path']}:\n" + "\n\n".join(problems))
    return state


def kernel_errors(page: "Page") -> list[dict]:
    """Error messages the kernel sent since :func:`open_notebook`.

    Includes exceptions raised in widget callbacks (``on_click``, ``observe``),
    which JupyterLab shows in no cell. Each item has ``ename``, ``evalue``,
    ``traceback`` (ANSI-stripped) and ``parent`` (the message type that
    caused it, e.g. ``comm_msg`` for a widget event).
    """
    errors = page.evaluate("() => window.__apisecKernelErrors || []")
    for e in errors:
        e["traceback"] = _strip_ansi(e["traceback"])
    return errors


def assert_no_kernel_errors(page: "Page") -> None:
    """Raise :class:`NotebookError` if the kernel reported any error so far."""
    errors = kernel_errors(page)
    if errors:
        raise NotebookError("kernel reported errors:\n\n" + "\n\n".join(
            f"{e['ename']}: {e['evalue']} (from {e['parent']})\n{e['traceback']}"
            for e in errors))


def cell(page: "Page", index: int) -> "Locator":
    """Locator of the ``index``-th cell (0-based) of the current notebook."""
    return page.locator(CELLS).nth(index)


def cell_index(server, relpath: str, needle: str) -> int:
    """Index of the only code cell of notebook ``relpath`` whose source contains ``needle``.

    Reads the file under ``server.root`` (what :func:`open_notebook` opens), so
    the index is the one :func:`cell` takes. Fails unless exactly one matches.
    """
    cells = json.loads((Path(server.root) / relpath).read_text())["cells"]
    found = [i for i, c in enumerate(cells)
             if c["cell_type"] == "code" and needle in "".join(c["source"])]
    assert len(found) == 1, f"{relpath}: {len(found)} code cells contain {needle!r}: {found}"
    return found[0]


def cell_output(page: "Page", index: int) -> "Locator":
    """Locator of the output area of the ``index``-th cell."""
    return cell(page, index).locator(".jp-OutputArea")


def replace_cell_source_and_run(page: "Page", index: int, code: str,
                                timeout: float = 60_000) -> None:
    """Do what a learner does: click into cell ``index``, replace its text, press Ctrl+Enter.

    The text goes in as one edit (``insert_text``), so the editor's auto-indent
    and bracket closing cannot alter it; the cell's source is then checked
    against ``code``. Waits until the cell has a new execution count and the
    kernel is idle. ``timeout`` is in milliseconds.
    """
    before = page.evaluate(_JS_EXECUTION_COUNT, index)
    cell(page, index).locator(".jp-InputArea-editor .cm-content").click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(code)
    source = page.evaluate(_JS_SOURCE, index)
    assert source == code, f"cell {index} holds {source!r}, not the typed {code!r}"
    page.keyboard.press("Control+Enter")
    try:
        page.wait_for_function(_JS_CELL_RAN, arg=[index, before], timeout=timeout, polling=200)
    except PlaywrightTimeoutError:
        raise AssertionError(f"cell {index} did not run within {timeout / 1000:.0f} s") from None


def append_cell_and_run(page: "Page", code: str, timeout: float = 60_000) -> int:
    """Select the last cell, press B (new cell below), then type ``code`` into it and run it.

    Typing and waiting as :func:`replace_cell_source_and_run`; returns the new cell's index.
    """
    count = page.evaluate(_JS_CELL_COUNT)
    cell(page, count - 1).click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    expect(page.locator(CELLS)).to_have_count(count + 1)
    replace_cell_source_and_run(page, count, code, timeout=timeout)
    return count


def _exact(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def _described(root: "Root", widget_class: str, description: str | None,
               label_selector: str = ".widget-label") -> "Locator":
    """Widget views of ``widget_class`` whose description is ``description``."""
    views = root.locator(f"{OUTPUT} .jupyter-widgets.{widget_class}")
    if description is None:
        return views
    # ``has=`` is matched relative to each view, so it must be built from the
    # page: a locator built from a cell would look for the cell inside the view.
    page = getattr(root, "page", root)
    return views.filter(has=page.locator(label_selector, has_text=_exact(description)))


def widget_button(root: "Root", text: str | re.Pattern) -> "Locator":
    """``<button>`` of an ipywidgets ``Button`` whose text is ``text`` (exact)."""
    pattern = _exact(text) if isinstance(text, str) else text
    return root.locator(f"{OUTPUT} .jupyter-widgets.widget-button", has_text=pattern)


def widget_dropdown(root: "Root", description: str | None = None) -> "Locator":
    """``<select>`` of a ``Dropdown``; use ``.select_option(label=...)``."""
    return _described(root, "widget-dropdown", description).locator("select")


def widget_select(root: "Root", description: str | None = None) -> "Locator":
    """``<select>`` of a ``Select``/``SelectMultiple`` list box."""
    return _described(root, "widget-select", description).locator("select")


def widget_checkbox(root: "Root", description: str | None = None) -> "Locator":
    """``<input type=checkbox>`` of a ``Checkbox``; use ``.check()``/``.uncheck()``.

    In ipywidgets 8 the description is a ``<span>`` inside the checkbox's own
    ``label.widget-label-basic`` (the outer ``.widget-label`` is empty).
    """
    return _described(root, "widget-checkbox", description,
                      label_selector=".widget-label-basic span").locator("input[type=checkbox]")


def widget_text(root: "Root", description: str | None = None) -> "Locator":
    """``<input>`` of a ``Text`` or ``Password`` widget; see :func:`set_widget_text`."""
    return _described(root, "widget-text", description).locator("input")


def widget_textarea(root: "Root", description: str | None = None) -> "Locator":
    """``<textarea>`` of a ``Textarea`` widget."""
    return _described(root, "widget-textarea", description).locator("textarea")


def widget_label(root: "Root", text: str | re.Pattern | None = None) -> "Locator":
    """A ``Label`` widget view (``div.widget-label``; descriptions are ``<label>``).

    Its text changes as the kernel updates it, so prefer giving the widget a
    class (``label.add_class("result")``) and locating ``.result``.
    """
    views = root.locator(f"{OUTPUT} div.jupyter-widgets.widget-label")
    if text is None:
        return views
    return views.filter(has_text=_exact(text) if isinstance(text, str) else text)


def widget_html(root: "Root", text: str | re.Pattern | None = None) -> "Locator":
    """Content element of an ``HTML`` widget, optionally filtered by text."""
    views = root.locator(f"{OUTPUT} .jupyter-widgets.widget-html .widget-html-content")
    return views if text is None else views.filter(has_text=text)


def set_widget_text(locator: "Locator", value: str) -> None:
    """Type ``value`` into a Text/Textarea ``locator`` and commit it.

    ``fill`` fires ``input`` (enough with ``continuous_update=True``); the
    extra ``change`` event also syncs widgets with ``continuous_update=False``.
    """
    locator.fill(value)
    locator.dispatch_event("change")


def shot(page: "Page", screenshot_dir: Path, name: str, full_page: bool = True) -> Path:
    """Save a screenshot as ``screenshot_dir/<name>.png`` and return its path.

    JupyterLab scrolls inside the notebook panel, so a "full page" is the
    viewport; use :func:`cell_shot` for one cell or widget.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "screenshot"
    path = Path(screenshot_dir) / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def cell_shot(page: "Page", locator: "Locator", path, max_height: int = 6000) -> None:
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
