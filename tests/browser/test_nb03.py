"""notebooks/03-scopes.ipynb in JupyterLab: a learner uses the ScopePicker.

After run-all, the picker (cell ``picker = nb03.ScopePicker(lab)``) is on
PhotoPrint with only photos:read ticked, because a later cell drives it from
code. The learner switches it to PhotoCLI, unticks messages:read, clicks
"Grant and test" and reads the result; then does exercise q2 with it.
"""

from __future__ import annotations

import re

from .jupyter import (
    assert_no_kernel_errors,
    cell,
    cell_index,
    cell_output,
    expect,
    open_notebook,
    replace_cell_source_and_run,
    run_all_cells,
    widget_button,
    widget_checkbox,
    widget_dropdown,
    widget_html,
    widget_text,
)

NOTEBOOK = "notebooks/03-scopes.ipynb"

#: What the consent page (and so the picker) says for each scope.
CONSENT = {
    "profile:read": "See your name and email address",
    "photos:read": "See your photos",
    "photos:write": "Upload photos to your account",
    "messages:read": "Read your private messages",
}
MATRIX_HEADER = ["endpoint", "status", "allowed", "error", "missing scope"]
#: Wait (ms) for the first sign of a kernel round trip (a full OAuth flow plus 8 API calls).
#: The default 5 s is short when other jobs share the 2 cores.
KERNEL_WAIT = 30_000


def _box(root, scope):
    """The picker's checkbox for *scope*, described as the consent page says it."""
    return widget_checkbox(root, f"{scope}: {CONSENT[scope]}")


def _matrix_row(table, endpoint):
    """The ``<td>`` cells of *endpoint*'s row (exact match: "GET /me" is not "GET /messages")."""
    row = table.locator("tbody tr").filter(
        has=table.page.get_by_role("cell", name=endpoint, exact=True))
    expect(row).to_have_count(1)
    return row.locator("td")


def test_scope_picker_photocli_without_messages(page, jupyter_server, screenshot_dir):
    open_notebook(page, jupyter_server, NOTEBOOK)
    run_all_cells(page)
    picker_cell = cell(page, cell_index(jupyter_server, NOTEBOOK, "picker = nb03.ScopePicker(lab)"))
    picker_cell.scroll_into_view_if_needed()

    app = widget_dropdown(picker_cell, "App")
    result = widget_html(picker_cell).last          # the result HTML is the picker's last HTML
    button = widget_button(picker_cell, "Grant and test")
    expect(button).to_have_count(1)
    expect(widget_text(picker_cell, "Username")).to_have_value("alice")
    expect(widget_text(picker_cell, "Password")).not_to_have_value("")
    # Left by the notebook's own cell: PhotoPrint with photos:read only.
    expect(app.locator("option:checked")).to_have_text("PhotoPrint")
    expect(result).to_contain_text("PhotoPrint asked for profile:read photos:read photos:write; "
                                   "you granted photos:read.")

    app.select_option(label="PhotoCLI")
    # The boxes are rebuilt for PhotoCLI's four scopes, all ticked.
    expect(picker_cell.locator(".widget-checkbox input[type=checkbox]")).to_have_count(4, timeout=KERNEL_WAIT)
    for scope in CONSENT:
        expect(_box(picker_cell, scope)).to_be_checked()
    _box(picker_cell, "messages:read").uncheck()
    expect(_box(picker_cell, "messages:read")).not_to_be_checked()
    button.click()

    expect(result).to_contain_text(
        "PhotoCLI asked for profile:read photos:read photos:write messages:read; "
        "you granted profile:read photos:read photos:write. "
        "Introspection: the token carries profile:read photos:read photos:write.", timeout=KERNEL_WAIT)
    table = result.locator("table.scope-matrix")
    expect(table.locator("thead th")).to_have_text(MATRIX_HEADER)
    expect(_matrix_row(table, "GET /messages")).to_have_text(
        ["GET /messages", "403", "no", "insufficient_scope", "messages:read"])
    expect(_matrix_row(table, "GET /photos")).to_have_text(["GET /photos", "200", "yes", "", ""])
    expect(_matrix_row(table, "GET /me")).to_have_text(["GET /me", "200", "yes", "", ""])
    # messages:write and payment were never asked for: refused, each naming its scope.
    expect(_matrix_row(table, "POST /messages")).to_have_text(
        ["POST /messages", "403", "no", "insufficient_scope", "messages:write"])
    assert_no_kernel_errors(page)
    picker_cell.screenshot(path=str(screenshot_dir / "nb03-picker-photocli-no-messages.png"))

    # Exercise q2: PhotoPrint that can list photos and not read the profile, then pass picker.token.
    app.select_option(label="PhotoPrint")
    expect(picker_cell.locator(".widget-checkbox input[type=checkbox]")).to_have_count(3, timeout=KERNEL_WAIT)
    expect(_box(picker_cell, "photos:write")).to_be_checked()   # the rebuilt PhotoPrint boxes
    _box(picker_cell, "profile:read").uncheck()
    _box(picker_cell, "photos:write").uncheck()
    button.click()
    expect(result).to_contain_text("PhotoPrint asked for profile:read photos:read photos:write; "
                                   "you granted photos:read. "
                                   "Introspection: the token carries photos:read.", timeout=KERNEL_WAIT)
    expect(_matrix_row(table, "GET /me")).to_have_text(
        ["GET /me", "403", "no", "insufficient_scope", "profile:read"])

    q2 = cell_index(jupyter_server, NOTEBOOK, "answer = ____   # e.g. picker.token")
    expect(cell_output(page, q2)).to_contain_text("Not yet: replace ____")
    replace_cell_source_and_run(page, q2, "answer = picker.token\nnb03.q2.check(answer)", timeout=KERNEL_WAIT)
    expect(cell_output(page, q2)).to_have_text(
        re.compile(r"^\s*q2 \(print photos, nothing more\): Correct: "), timeout=KERNEL_WAIT)
    assert_no_kernel_errors(page)
    cell(page, q2).screenshot(path=str(screenshot_dir / "nb03-q2-correct.png"))
