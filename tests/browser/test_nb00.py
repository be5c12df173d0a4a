"""Notebook 00 (start here) in a real JupyterLab: the lab starts, answers, and exercises check.

The notebook has no main widget. The test runs it top to bottom, reads the
health check and the warm-up verdicts off the page, asks the kernel's API
from the browser itself, then does what the notebook asks a learner to do:
replace the blank in the warm-up cell with an answer and run the cell again.
"""

from __future__ import annotations

import re

from .jupyter import (
    assert_no_kernel_errors,
    cell,
    cell_index,
    cell_output,
    cell_shot,
    expect,
    open_notebook,
    replace_cell_source_and_run,
    run_all_cells,
)

NOTEBOOK = "notebooks/00-start-here.ipynb"


def output(page, index: int):
    """The rendered output of cell ``index`` (without the ``[n]:`` prompt); strict: exactly one."""
    return cell_output(page, index).locator(".jp-OutputArea-output")


def test_start_here_runs_and_the_warmup_checks(page, jupyter_server, screenshot_dir):
    open_notebook(page, jupyter_server, NOTEBOOK)
    state = run_all_cells(page)

    # The lab-alive cell: the API's health route answers, with no credentials.
    health = cell_index(jupyter_server, NOTEBOOK, "nb00.health(lab)")
    expect(output(page, health)).to_have_text("{'status': 'ok'}")

    # The servers run inside the kernel, on loopback, and this browser reaches them too.
    start = cell_index(jupyter_server, NOTEBOOK, "apisec_lab.start()")
    started = output(page, start)
    for server in ("api", "issuer", "apps", "wiretap"):
        expect(started).to_contain_text(re.compile(rf"[ ,]{server} http://127\.0\.0\.1:\d+[,>]"))
    api_url = re.search(r"api (http://127\.0\.0\.1:\d+)", started.inner_text()).group(1)
    response = page.request.get(f"{api_url}/health")
    assert response.status == 200 and response.json() == {"status": "ok"}
    servers = cell_index(jupyter_server, NOTEBOOK, "nb00.servers(lab)")
    table = output(page, servers).locator("table")
    # The book's table renderer: the index is the first cell of each row (nothing cut at 50 characters).
    names = table.locator("tbody tr td:first-child")
    api_row = table.locator("tbody tr", has=page.locator("td", has_text=re.compile(r"^\s*resource API\s*$")))
    expect(api_row.locator("td").nth(1)).to_have_text(api_url)
    for role in ("API gateway", "authorization server", "apps' web server", "attacker's server",
                 "PhotoPrint's website", "metadata service", "print partner", "wiretap"):
        expect(names.filter(has_text=re.compile(rf"^\s*{re.escape(role)}\s*$"))).to_have_count(1)

    # The exercise demo: the untouched blank, then a near miss, each with its verdict.
    blank = cell_index(jupyter_server, NOTEBOOK, "nb00.warmup.check(answer)")
    expect(output(page, blank)).to_have_text(
        "Warm-up: Not yet: replace ____ with your answer, then run the cell again.")
    near_miss = cell_index(jupyter_server, NOTEBOOK, 'nb00.warmup.check(flows.call_api(lab, "/health"))')
    expect(output(page, near_miss)).to_have_text(
        "Warm-up: Not yet: that is the whole HTTP response: call .json() on it to get the body.")
    hint = cell_index(jupyter_server, NOTEBOOK, "nb00.warmup.hint()")
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
