"""notebooks/04-revocation.ipynb in JupyterLab: a learner uses the apps dashboard.

The notebook shows two AppsDashboard widgets: ``dash`` (section 2, on which a
cell already clicked "Revoke PhotoPrint") and ``quiz`` (exercise q1, three apps
freshly connected). Both can show a "Revoke ChatPal" button at the same time,
so every locator here is scoped to the quiz's own cell. The learner checks the
apps, revokes ChatPal on the quiz dashboard, reads the live check, then
answers q1 by editing its cell.
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
    widget_html,
)

NOTEBOOK = "notebooks/04-revocation.ipynb"
STATUS_HEADER = ["app", "call", "status", "result"]
#: Wait (ms) for the first sign of a kernel round trip (revoke, API calls, exercise check).
#: The default 5 s is short when other jobs share the 2 cores.
KERNEL_WAIT = 30_000


def _status_rows(status):
    """The live-check table's body rows (``tbody tr``), one per app."""
    return status.locator("table tbody tr")


def test_revoke_chatpal_on_the_quiz_dashboard(page, jupyter_server, screenshot_dir):
    open_notebook(page, jupyter_server, NOTEBOOK)
    run_all_cells(page)
    quiz = cell(page, cell_index(jupyter_server, NOTEBOOK, "quiz = nb04.AppsDashboard("))
    dash = cell(page, cell_index(jupyter_server, NOTEBOOK, "dash = nb04.AppsDashboard("))
    quiz.scroll_into_view_if_needed()

    # The first dashboard still offers "Revoke ChatPal" too: page-wide, the text is ambiguous.
    expect(widget_button(dash, "Revoke ChatPal")).to_have_count(1)
    expect(widget_button(dash, "Revoke PhotoPrint")).to_have_count(0)   # the notebook revoked it

    # The quiz dashboard's widgets, in order: header, one HTML per app row, then the status.
    htmls = widget_html(quiz)
    header, status = htmls.first, htmls.last
    expect(header).to_have_text("Apps connected to alice's account (3)")
    for name in ("PhotoPrint", "PhotoCLI", "ChatPal"):
        expect(widget_button(quiz, f"Revoke {name}")).to_have_count(1)
        expect(htmls.filter(has_text=re.compile(rf"^\s*{name} can:"))).to_have_count(1)
    expect(htmls.filter(has_text=re.compile(r"^\s*ChatPal can:"))).to_contain_text(
        "profile:read messages:read messages:write")
    expect(status).to_have_text("Revoke an app, or check which apps work now.")

    # Before anything is revoked, every app works.
    widget_button(quiz, "Check apps now").click()
    expect(status).to_contain_text("Live check, one API call per app:", timeout=KERNEL_WAIT)
    expect(status.locator("table thead th")).to_have_text(STATUS_HEADER)
    rows = _status_rows(status)
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator("td")).to_have_text(["PhotoPrint", "GET /photos", "200", "works"])
    expect(rows.nth(1).locator("td")).to_have_text(["PhotoCLI", "GET /photos", "200", "works"])
    expect(rows.nth(2).locator("td")).to_have_text(["ChatPal", "GET /messages", "200", "works"])
    expect(status).not_to_contain_text("You revoked")

    widget_button(quiz, "Revoke ChatPal").click()
    expect(status).to_contain_text(
        "You revoked ChatPal (1 grant): it is cut off at once, the others are untouched. "
        "Live check, one API call per app:", timeout=KERNEL_WAIT)
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator("td")).to_have_text(["PhotoPrint", "GET /photos", "200", "works"])
    expect(rows.nth(1).locator("td")).to_have_text(["PhotoCLI", "GET /photos", "200", "works"])
    expect(rows.nth(2).locator("td")).to_have_text(
        ["ChatPal", "GET /messages", "401", "cut off: The access token was revoked."])
    # ChatPal's row and button are gone; the other two stay.
    expect(header).to_have_text("Apps connected to alice's account (2)")
    expect(widget_button(quiz, "Revoke ChatPal")).to_have_count(0)
    expect(htmls.filter(has_text=re.compile(r"^\s*ChatPal can:"))).to_have_count(0)
    for name in ("PhotoPrint", "PhotoCLI"):
        expect(widget_button(quiz, f"Revoke {name}")).to_have_count(1)
    assert_no_kernel_errors(page)
    quiz.screenshot(path=str(screenshot_dir / "nb04-quiz-chatpal-revoked.png"))

    # The learner passes the dashboard to q1.
    q1 = cell_index(jupyter_server, NOTEBOOK, "answer = ____   # the dashboard")
    expect(cell_output(page, q1)).to_contain_text("Not yet: replace ____")
    replace_cell_source_and_run(page, q1, "answer = quiz\nnb04.q1.check(answer)", timeout=KERNEL_WAIT)
    expect(cell_output(page, q1)).to_have_text(re.compile(
        r"^\s*q1 \(revoke only ChatPal\): Correct: ChatPal is cut off; "
        r"PhotoPrint and PhotoCLI keep working\."), timeout=KERNEL_WAIT)
    assert_no_kernel_errors(page)
    cell(page, q1).screenshot(path=str(screenshot_dir / "nb04-q1-correct.png"))
