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
import re

from apisec_lab import DEMO_PASSWORDS

from .jupyter import (
    append_cell_and_run,
    assert_no_kernel_errors,
    cell,
    cell_index,
    cell_output,
    cell_shot,
    expect,
    open_notebook,
    run_all_cells,
    widget_button,
    widget_dropdown,
)

NOTEBOOK = "notebooks/01-basic-auth.ipynb"

ALICE = DEMO_PASSWORDS["alice"]
BOB = DEMO_PASSWORDS["bob"]
#: What the notebook captured before the viewer was displayed, in order (cells 8 to 33).
CAPTURED = [
    "#1 apisec-lab-client/1.0: GET /me (Basic) -> 200",
    "#2 apisec-lab-client/1.0: GET /photos (Basic) -> 200",
    "#3 apisec-lab-client/1.0: GET /messages (Basic) -> 200",
    "#4 apisec-lab-client/1.0: GET /payment (Basic) -> 200",
    "#5 PhotoPrintClassic/1.0 (PhotoPrint Classic): GET /photos (Basic) -> 200",
    "#6 PhotoPrintClassic/1.0 (PhotoPrint Classic): GET /messages (Basic) -> 200",
    "#7 PhotoPrintClassic/1.0 (PhotoPrint Classic): PUT /payment (Basic) -> 200",
    "#8 ChatPalClassic/1.0 (ChatPal Classic): GET /messages (Basic) -> 200",
    "#9 Attacker/1.0: GET /payment (Basic) -> 200",
    "#10 Attacker/1.0: GET /photos (Basic) -> 401",
    "#11 PhotoPrintClassic/1.0 (PhotoPrint Classic): GET /photos (Basic) -> 401",
    "#12 ChatPalClassic/1.0 (ChatPal Classic): GET /photos (Basic) -> 401",
]
#: Captured by the cells after the viewer: Bob's photo-sync app in "Try it 1" (``nb01.overheard``).
LATER = "#13 BobsPhotoSync/1.0: GET /photos (Basic) -> 200"
PROMPT = "Press Decode credentials to read the Authorization header as an eavesdropper would."


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_traffic_viewer_decodes_the_password(page, jupyter_server, screenshot_dir):
    open_notebook(page, jupyter_server, NOTEBOOK)
    run_all_cells(page)

    index = cell_index(jupyter_server, NOTEBOOK, "nb01.TrafficViewer(lab)")
    viewer = cell(page, index).locator(".apisec-traffic-viewer")
    expect(viewer).to_have_count(1)
    # Widget helpers need a root holding whole outputs (the cell); and_() keeps the picker in the viewer.
    picker = widget_dropdown(cell(page, index), "Captured request").and_(viewer.locator("select"))
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

    # Reload captures: later cells captured Bob's photo-sync app; the selection stays where it was.
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
