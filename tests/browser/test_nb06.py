"""notebooks/06-flow-attacks.ipynb in JupyterLab: a learner performs a lab's attack through the exploit server panel.

After run-all the panel (cell ``server = nb06.ExploitServer(lab)``) shows your server's and PhotoPrint's
addresses. The learner writes a page that sends Alice's browser through PhotoPrint's sign-in, picks lab 1 (a code
in the Referer) and clicks **Deliver to Alice**: the status says the lab is solved, from the lab's records, with
the hardened replay, and the log shows the partner pixel's request carrying Alice's code in its Referer, tinted.
Then the same attack as exercise q1, typed into its cell: Correct.
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
    set_widget_text,
    widget_button,
    widget_dropdown,
    widget_text,
    widget_textarea,
)

NOTEBOOK = "notebooks/06-flow-attacks.ipynb"
#: A delivery signs Alice in at PhotoPrint (a dozen requests through the wiretap) and replays it hardened.
KERNEL_WAIT = 30_000


def test_exploit_server_delivers_a_referer_attack_and_q1(page, jupyter_server, screenshot_dir):
    open_notebook(page, jupyter_server, NOTEBOOK)
    run_all_cells(page)
    panel = cell(page, cell_index(jupyter_server, NOTEBOOK, "server = nb06.ExploitServer(lab)"))
    panel.scroll_into_view_if_needed()
    root = panel.locator(".apisec-exploit-server")
    expect(root).to_have_count(1)
    photoprint = root.locator(".apisec-photoprint-url")
    expect(photoprint).to_have_text(re.compile(r"^http://127\.0\.0\.1:\d+$"))
    web = photoprint.text_content()
    log = root.locator(".widget-html-content").filter(has_text="reached your server")

    set_widget_text(widget_text(panel, "Path"), "/offer")
    set_widget_text(widget_textarea(panel, "Body"),
                    f"<p>Your prints are ready!</p><meta http-equiv=refresh content='0;url={web}/login'>")
    widget_dropdown(panel, "Deliver in").select_option(label="Lab 1: A code in the Referer")
    widget_button(panel, "Deliver to Alice").click()

    status = root.locator(".apisec-exploit-status .widget-html-content p")
    expect(status).to_contain_text("Lab 1 solved.", timeout=KERNEL_WAIT)
    expect(status).to_have_class(re.compile(r"\bapisec-ok\b"))
    expect(status).to_contain_text("reached your server in the Referer of GET /partner/pixel.gif")
    expect(status).to_contain_text("With the switch off: PhotoPrint answered its callback with 303")
    leak = log.locator("tr.apisec-bad")
    expect(leak.first).to_contain_text("/partner/pixel.gif")
    expect(leak.first).to_contain_text("[photoprint]/callback?code=")
    panel.screenshot(path=str(screenshot_dir / "nb06-exploit-server-lab1-solved.png"))

    # The same attack as the learner's answer to q1, typed into the exercise cell.
    q1 = cell_index(jupyter_server, NOTEBOOK, "nb06.q1.check(answer)")
    out = cell_output(page, q1)
    expect(out).to_contain_text("Not yet: replace ____")
    replace_cell_source_and_run(page, q1, 'answer = lab.web_url + "/login"\nnb06.q1.check(answer)',
                                timeout=KERNEL_WAIT)
    expect(out).to_have_text(re.compile(r"^\s*q1 \(a code in the Referer\): Correct: solved\. A code of Alice's "
                                        r"for photoprint-web reached your server"), timeout=KERNEL_WAIT)
    assert_no_kernel_errors(page)
    cell(page, q1).screenshot(path=str(screenshot_dir / "nb06-q1-correct.png"))
