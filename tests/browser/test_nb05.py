"""notebooks/05-gateway.ipynb in JupyterLab: a learner fires attacks from the gateway dashboard.

After run-all the dashboard (cell ``dash = nb05.Dashboard(lab)``) shows the
Flood that a later cell clicked from code, and the gateway's log holds the
"mixed traffic" of exercise q2. The learner clears the log, then fires attacks
through the gateway and straight to the API, reading the status line, the
counters and the access log after each click: the admin route is stopped at
the edge but open behind it, another user's photo is served either way (a
gateway cannot check object-level authorization), a token sent in the URL is
refused and masked in the gateway's own log, a flood is cut off at 30. Then
the learner answers q1 (first wrongly, per user; then per client), and
Refresh shows on the dashboard the traffic that the check sent from the cell.
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
)

NOTEBOOK = "notebooks/05-gateway.ipynb"
#: Wait (ms) for a kernel round trip: an attack signs in (a full OAuth flow) and
#: sends up to 40 requests. The default 5 s is short when other jobs share the 2 cores.
KERNEL_WAIT = 30_000
#: q1's check replays a 100-request flood plus 5 requests under the learner's settings.
CHECK_WAIT = 60_000
#: A lab access token as issued (``at_`` + 43 base64url characters): must never show unmasked.
RAW_TOKEN = re.compile(r"at_[A-Za-z0-9_\-]{43}")
#: Background of the status line: red when the attack worked, green otherwise.
#: The status line is tinted red (class apisec-bad) when the attack worked, green (apisec-ok) otherwise.
ADMIN = "Unpublished admin route (GET /admin/users, no token)"
PHOTO = "Another user's object (alice's valid token, GET /photos/5)"
MASKED_BEARER = "Bearer at_…(masked)"


class _Dashboard:
    """Locators of one rendered nb05.Dashboard, found by the CSS classes it sets."""

    def __init__(self, cell_locator):
        self.cell = cell_locator
        root = cell_locator.locator(".apisec-gw-dashboard")
        expect(root).to_have_count(1)
        self.status = root.locator(".apisec-gw-status .widget-html-content")
        self.counters = root.locator(".apisec-gw-counters .widget-html-content")
        self.log = root.locator(".apisec-gw-log .widget-html-content")
        self.log_rows = self.log.locator("tr:has(td)")
        self._target = root.locator(".apisec-gw-target")

    def target(self, label: str):
        """The toggle's button *label*; click it, then wait until the toggle shows it selected."""
        button = self._target.locator("button.widget-toggle-button",
                                      has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
        expect(button).to_have_count(1)
        button.click()
        expect(button).to_have_class(re.compile(r"\bmod-active\b"))
        expect(self._target.locator("button.mod-active")).to_have_count(1)

    def fire(self, label: str) -> None:
        widget_button(self.cell, label).click()

    def expect_status(self, text: str, worked: bool) -> None:
        """The status line reads *text* (exactly), tinted as the outcome (tests/browser/test_themes.py measures it)."""
        expect(self.status).to_have_text(text, timeout=KERNEL_WAIT)
        expect(self.status.locator("div").first).to_have_class(
            re.compile(r"\bapisec-bad\b" if worked else r"\bapisec-ok\b"))

    def expect_counters(self, allowed: int, rejected: int, *reasons: tuple[str, int]) -> None:
        """The counters table, cell by cell: allowed, rejected, then one row per reason."""
        cells = ["allowed", str(allowed), "rejected", str(rejected)]
        for reason, n in reasons:
            cells += [reason, str(n)]
        expect(self.counters.locator("td")).to_have_text(cells, timeout=KERNEL_WAIT)

    def expect_log_row(self, nth: int, cells: list[str]) -> None:
        expect(self.log_rows.nth(nth).locator("td")).to_have_text(cells, timeout=KERNEL_WAIT)


def test_dashboard_attacks_and_q1(page, jupyter_server, screenshot_dir):
    open_notebook(page, jupyter_server, NOTEBOOK)
    run_all_cells(page)
    dash = _Dashboard(cell(page, cell_index(jupyter_server, NOTEBOOK, "dash = nb05.Dashboard(lab)")))
    dash.cell.scroll_into_view_if_needed()

    # The toggle and every button are there; the status shows the Flood the notebook clicked from code.
    expect(dash._target.locator("button.widget-toggle-button")).to_have_text(
        ["Through the gateway", "Straight to the API"])
    for label in ("Brute-force Basic", "Token in URL", "Flood", "Admin route", "Revoked token",
                  "Oversized header", "Another user's photo", "Normal request", "Refresh", "Clear log"):
        expect(widget_button(dash.cell, label)).to_have_count(1)
    expect(dash.status).to_have_text(
        "Flood from one client (40 requests at once), through the gateway: 30 × 200, 10 × 429 · "
        "30 reached the API · attack failed: cut off after 30 (Retry-After 60 s)")

    # Clear log: counters at zero, the log empty (cells after the dashboard sent traffic through the gateway).
    dash.fire("Clear log")
    dash.expect_counters(0, 0)
    expect(dash.log).to_contain_text("empty: the gateway has seen no request", timeout=KERNEL_WAIT)
    expect(dash.log_rows).to_have_count(0)

    # Admin route through the gateway: refused at the edge, one rejection, one log row.
    dash.target("Through the gateway")
    dash.fire("Admin route")
    dash.expect_status(f"{ADMIN}, through the gateway: 1 × 404 · 0 reached the API · attack failed: "
                       "404 not_found from the gateway (not_in_allow_list)", worked=False)
    dash.expect_counters(0, 1, ("not_in_allow_list (404)", 1))
    expect(dash.log).to_contain_text("Gateway access log (last 8)")
    expect(dash.log.locator("th")).to_have_text(
        ["#", "method", "path", "status", "reason", "client", "user", "authorization"])
    expect(dash.log_rows).to_have_count(1)
    dash.expect_log_row(0, ["1", "GET", "/admin/users", "404", "not_in_allow_list", "-", "-", ""])

    # The same route straight to the API: the 'hidden' route answers; the gateway never sees it.
    dash.target("Straight to the API")
    dash.fire("Admin route")
    dash.expect_status(f"{ADMIN}, straight to the API: 1 × 200 · 1 reached the API · ATTACK WORKED: "
                       "the 'hidden' route listed 2 accounts with their emails", worked=True)
    dash.expect_counters(0, 1, ("not_in_allow_list (404)", 1))
    expect(dash.log_rows).to_have_count(1)
    dash.cell.screenshot(path=str(screenshot_dir / "nb05-dashboard-admin-route-both-ways.png"))

    # Another user's photo through the gateway: a valid token, the right scope, bob's photo served.
    dash.target("Through the gateway")
    dash.fire("Another user's photo")
    dash.expect_status(f"{PHOTO}, through the gateway: 1 × 200 · 1 reached the API · ATTACK WORKED: "
                       "alice read bob's photo 5: 'Private: house keys'", worked=True)
    dash.expect_counters(1, 1, ("not_in_allow_list (404)", 1))
    # Log id 2: the straight-to-the-API request above never took an id in the gateway's log.
    expect(dash.log_rows).to_have_count(2)
    dash.expect_log_row(1, ["2", "GET", "/photos/5", "200", "allowed", "photocli", "alice", MASKED_BEARER])

    # Token in URL through the gateway: refused, and the gateway's log masks the token.
    dash.fire("Token in URL")
    dash.expect_status("Token in the URL (GET /me?access_token=...), through the gateway: 1 × 400 · "
                       "0 reached the API · attack failed: 400 invalid_request from the gateway "
                       "(credential_in_url); the token still crossed the wire in the URL: revoke it",
                       worked=False)
    dash.expect_counters(1, 2, ("not_in_allow_list (404)", 1), ("credential_in_url (400)", 1))
    expect(dash.log_rows).to_have_count(3)
    dash.expect_log_row(2, ["3", "GET", "/me?access_token=***", "400", "credential_in_url", "-", "-", ""])
    log_text = dash.log.text_content()
    assert "access_token=***" in log_text, log_text
    assert not RAW_TOKEN.search(log_text), f"unmasked token in the gateway log: {log_text}"
    assert not RAW_TOKEN.search(dash.cell.text_content()), "unmasked token on the dashboard"
    dash.cell.screenshot(path=str(screenshot_dir / "nb05-dashboard-token-in-url-masked.png"))

    # A normal request, for contrast (before the flood: a flood fills PhotoCLI's window for a minute).
    dash.fire("Normal request")
    dash.expect_status("A normal request (PhotoCLI reads alice's profile), through the gateway: 1 × 200 · "
                       "1 reached the API · not an attack: 200: served", worked=False)
    dash.expect_counters(2, 2, ("not_in_allow_list (404)", 1), ("credential_in_url (400)", 1))
    dash.expect_log_row(3, ["4", "GET", "/me", "200", "allowed", "photocli", "alice", MASKED_BEARER])

    # Flood: 30 served, 10 refused with 429; the log keeps the last 8 lines, all of them 429s.
    dash.fire("Flood")
    dash.expect_status("Flood from one client (40 requests at once), through the gateway: 30 × 200, 10 × 429 · "
                       "30 reached the API · attack failed: cut off after 30 (Retry-After 60 s)", worked=False)
    dash.expect_counters(32, 12, ("not_in_allow_list (404)", 1), ("credential_in_url (400)", 1),
                         ("rate_limited (429)", 10))
    expect(dash.log_rows).to_have_count(8)
    expect(dash.log_rows.locator("td:nth-child(1)")).to_have_text([str(i) for i in range(37, 45)])
    for i in range(8):
        dash.expect_log_row(i, [str(37 + i), "GET", "/me", "429", "rate_limited", "photocli", "alice",
                                MASKED_BEARER])
    assert not RAW_TOKEN.search(dash.cell.text_content()), "unmasked token on the dashboard"
    assert_no_kernel_errors(page)
    dash.cell.screenshot(path=str(screenshot_dir / "nb05-dashboard-after-flood.png"))

    # Exercise q1 as a learner: a per-user limit first (wrong: it blocks ChatPal too), then per client.
    q1 = cell_index(jupyter_server, NOTEBOOK, 'answer = ____   # e.g. {"per_xxx": nb05.Limit(20, 60)}')
    out = cell_output(page, q1)
    expect(out).to_contain_text("Not yet: replace ____")
    replace_cell_source_and_run(page, q1, 'answer = {"per_user": nb05.Limit(20, 60)}\nnb05.q1.check(answer)',
                                timeout=CHECK_WAIT)
    expect(out).to_have_text(re.compile(
        r"^\s*q1 \(stop the flood, spare the other app\): Not yet: ChatPal, alice's other app, "
        r"got only 0 of 5 through"), timeout=CHECK_WAIT)
    replace_cell_source_and_run(page, q1, 'answer = {"per_client": nb05.Limit(20, 60)}\nnb05.q1.check(answer)',
                                timeout=CHECK_WAIT)
    expect(out).to_have_text(re.compile(
        r"^\s*q1 \(stop the flood, spare the other app\): Correct: per_client = Limit\(20, 60\) holds PhotoCLI "
        r"to 20 requests a minute \(20 of its 100-request burst got through\), and ChatPal, alice's other app, "
        r"got all 5 of its requests through\.\s*$"), timeout=CHECK_WAIT)
    assert_no_kernel_errors(page)
    cell(page, q1).screenshot(path=str(screenshot_dir / "nb05-q1-correct.png"))

    # The two checks sent 210 requests through the gateway from the cell: the dashboard shows them
    # only after Refresh. Per user: 20 + 0 of 5 served; per client: 20 + 5 of 5 served.
    dash.cell.scroll_into_view_if_needed()
    dash.expect_counters(32, 12, ("not_in_allow_list (404)", 1), ("credential_in_url (400)", 1),
                         ("rate_limited (429)", 10))
    dash.fire("Refresh")
    dash.expect_counters(77, 177, ("not_in_allow_list (404)", 1), ("credential_in_url (400)", 1),
                         ("rate_limited (429)", 175))
    expect(dash.log_rows).to_have_count(8)
    dash.expect_log_row(7, ["254", "GET", "/me", "200", "allowed", "chatpal", "alice", MASKED_BEARER])
    dash.expect_log_row(0, ["247", "GET", "/me", "429", "rate_limited", "photocli", "alice", MASKED_BEARER])
    assert not RAW_TOKEN.search(dash.cell.text_content()), "unmasked token on the dashboard"
    assert_no_kernel_errors(page)
    dash.cell.screenshot(path=str(screenshot_dir / "nb05-dashboard-after-refresh.png"))
