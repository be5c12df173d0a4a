"""notebooks/08-owasp-top-10.ipynb in JupyterLab: the attacks' tables, then a learner's three exercises.

After run-all, the doors table of section 2 shows the mass assignment exploited through three doors (red rows)
and refused once fixed (green), and the scorecard holds all seven attacks. The learner then does what the Try it
section asks: steals the API's cloud key through the webhook test (after a lucky answer read straight from
Python, which the check refuses), and writes the two fixes, each first as a near miss (a deny-list, a prefix
check) whose feedback names the case that failed, then right. Last, notebook 05's OWASP table links to the
section of notebook 08 that shows an item: clicking it opens notebook 08 at that heading.
"""

from __future__ import annotations

import re

from apisec_lab.book import nb08

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
from .test_nb02 import _JS_DIAGRAM

NOTEBOOK = "notebooks/08-owasp-top-10.ipynb"
NB05 = "notebooks/05-gateway.ipynb"
#: The sequence diagrams: (cell, title, lanes left to right, requests: one solid and one dashed arrow each).
DIAGRAMS = [
    ('title="A webhook test aimed at the metadata service"', "A webhook test aimed at the metadata service",
     ["Alice's own app", "Gateway", "API", "Metadata service"], 3),
    ('title="A print order while the partner is taken over"', "A print order while the partner is taken over",
     ["Alice's own app", "Gateway", "API", "Print partner", "Attacker's server"], 4),
]
#: A check runs the lab's fetcher over sixteen URLs, or a webhook test through the gateway: a few seconds at most.
CHECK_WAIT = 60_000

Q1_LUCKY = "answer = lab.metadata_service.secret_access_key\nnb08.q1.check(answer)"
Q2_DENY = ("def profile_changes(body):\n"
           "    return {k: v for k, v in body.items() if k not in (\"role\", \"plan\")}\n"
           "\n"
           "answer = profile_changes\n"
           "nb08.q2.check(answer)")
Q3_PREFIX = ("def webhook_allowed(url):\n"
             "    return url.startswith(lab.attacker.url)\n"
             "\n"
             "answer = webhook_allowed\n"
             "nb08.q3.check(answer)")


def solved(name: str) -> str:
    """Exercise *name*'s published solution, as a learner pastes it into the cell, then the check."""
    return f"{getattr(nb08, name).solution_text}\nnb08.{name}.check(answer)"

def test_attack_tables_and_the_three_exercises(page, jupyter_server, screenshot_dir):
    open_notebook(page, jupyter_server, NOTEBOOK)
    run_all_cells(page)

    # Section 2: the mass assignment through every door, judged by the API's own records.
    doors = cell(page, cell_index(jupyter_server, NOTEBOOK, "nb08.doors(lab, nb08.mass_assignment)"))
    doors.scroll_into_view_if_needed()
    rows = doors.locator(".jp-OutputArea-output table tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.locator("td:first-child")).to_have_text(
        ["straight to the API", "through the gateway", "through the gateway, every check off", "through the gateway"])
    expect(doors.locator("tr.apisec-bad")).to_have_count(3)
    expect(doors.locator("tr.apisec-ok")).to_have_count(1)
    expect(rows.nth(3)).to_contain_text("the API (400 invalid_request)")
    cell_shot(page, doors, screenshot_dir / "nb08-doors-mass-assignment.png")

    # The two pictures of the API's own requests: drawn as SVG, the API's request inside the client's.
    for source, title, lanes, requests in DIAGRAMS:
        output = cell(page, cell_index(jupyter_server, NOTEBOOK, source)).locator(".jp-RenderedMermaid")
        img = output.locator("figure img")
        expect(img).to_have_attribute("src", re.compile(r"^data:image/svg\+xml,"))
        expect(img).to_have_attribute("alt", title)
        drawn = img.evaluate(_JS_DIAGRAM)
        assert (drawn["title"], drawn["lanes"]) == (title, lanes), drawn
        assert drawn["arrows"] == {"solid": requests, "dashed": requests}, drawn
        img.scroll_into_view_if_needed()
        cell_shot(page, output, screenshot_dir / f"nb08-sequence-{lanes[3].replace(' ', '-')}.png")
    expect(page.locator(".jp-RenderedMermaid.jp-mod-warning")).to_have_count(0)

    # The scorecard: seven attacks, each exploited through the gateway with its policy on.
    card = cell(page, cell_index(jupyter_server, NOTEBOOK, "nb08.scorecard(lab)"))
    card.scroll_into_view_if_needed()
    expect(card.locator("tbody tr")).to_have_count(7)
    expect(card.locator("tbody tr td:nth-child(4)")).to_have_text(["EXPLOITED"] * 7)
    cell_shot(page, card, screenshot_dir / "nb08-scorecard.png")

    # q1: the key read straight from Python is a lucky answer; fetched by the API, it is the attack.
    q1 = cell_index(jupyter_server, NOTEBOOK, "nb08.q1.check(answer)")
    out = cell_output(page, q1)
    expect(out).to_contain_text("Not yet: replace ____")
    replace_cell_source_and_run(page, q1, Q1_LUCKY)
    expect(out).to_contain_text("that is the key, but the lab has no record of the API fetching it", timeout=CHECK_WAIT)
    replace_cell_source_and_run(page, q1, solved("q1"), timeout=CHECK_WAIT)
    expect(out).to_have_text(re.compile(r"^\s*q1 \(the API's cloud key, through a webhook test\): Correct: the API "
                                        r"fetched its own cloud credentials"), timeout=CHECK_WAIT)
    cell_shot(page, cell(page, q1), screenshot_dir / "nb08-q1-correct.png")

    # q2: a deny-list forgets a field; the allow-list passes both corpora.
    q2 = cell_index(jupyter_server, NOTEBOOK, "nb08.q2.check(answer)")
    out = cell_output(page, q2)
    replace_cell_source_and_run(page, q2, Q2_DENY, timeout=CHECK_WAIT)
    expect(out).to_contain_text("attack 'free print credits' {'print_credits': 1000}: your function returned "
                                "{'print_credits': 1000}, so print_credits would be written to alice's account",
                                timeout=CHECK_WAIT)
    replace_cell_source_and_run(page, q2, solved("q2"), timeout=CHECK_WAIT)
    expect(out).to_contain_text("Correct: every attack body lost its extra fields", timeout=CHECK_WAIT)

    # q3: a prefix check falls for user info; the allow-list of destinations passes, the lab's fetcher judging.
    q3 = cell_index(jupyter_server, NOTEBOOK, "nb08.q3.check(answer)")
    out = cell_output(page, q3)
    replace_cell_source_and_run(page, q3, Q3_PREFIX, timeout=CHECK_WAIT)
    expect(out).to_contain_text("attack 'user info that looks like the outside web'", timeout=CHECK_WAIT)
    expect(out).to_contain_text("the fetcher reached the metadata server (internal)")
    replace_cell_source_and_run(page, q3, solved("q3"), timeout=CHECK_WAIT)
    expect(out).to_contain_text("Correct: every spelling of the metadata service", timeout=CHECK_WAIT)
    cell_shot(page, cell(page, q3), screenshot_dir / "nb08-q3-correct.png")
    assert_no_kernel_errors(page)


def _owasp_link(page, jupyter_server, text: str):
    table = cell(page, cell_index(jupyter_server, NB05, "nb05.owasp_top10()"))
    table.scroll_into_view_if_needed()
    link = table.locator("a", has_text=re.compile(rf"^{re.escape(text)}$"))
    expect(link).to_have_count(1)
    return table, link


def _current(page, path: str) -> None:
    page.wait_for_function("(path) => window.jupyterapp.shell.currentWidget?.context?.path === path", arg=path,
                           timeout=30_000)


def test_notebook_05s_owasp_table_opens_notebook_08_at_the_section(page, jupyter_server, screenshot_dir):
    """The committed table of notebook 05 (no kernel run needed): its API7 link opens notebook 08, at section 7.

    JupyterLab 4.6 applies a link's fragment (``#heading=...``) once the notebook's cells exist, so the first
    click opens notebook 08 and the next one, notebook 08 being open, lands on the heading.
    """
    open_notebook(page, jupyter_server, NB05)
    table, link = _owasp_link(page, jupyter_server, "08 §7")
    expect(link).to_have_attribute("href", re.compile(
        r"08-owasp-top-10\.ipynb.*#heading=7\.-API7:-a-webhook-test-that-fetches-the-metadata$"))
    cell_shot(page, table, screenshot_dir / "nb05-owasp-links.png")
    link.click()
    _current(page, NOTEBOOK)
    page.evaluate("(path) => { const w = [...window.jupyterapp.shell.widgets('main')].find("
                  "w => w.context && w.context.path === path); window.jupyterapp.shell.activateById(w.id); }", NB05)
    _current(page, NB05)
    _owasp_link(page, jupyter_server, "08 §7")[1].click()
    _current(page, NOTEBOOK)
    heading = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) h2",
                           has_text="7. API7: a webhook test that fetches the metadata")
    expect(heading).to_be_in_viewport(timeout=30_000)
