"""apisec_lab.widgets: the exchange renderer, storage table and the consent panel, driven in-kernel."""
from __future__ import annotations

import re

import pytest

from apisec_lab import DEMO_PASSWORDS
from apisec_lab.book import widgets
from apisec_lab.book.widgets import ConsentPanel, ExchangeView, Panel
from apisec_lab.client import flows

ALICE = DEMO_PASSWORDS["alice"]


def text(html_value: str) -> str:
    """What a person reads in an HTML widget: tags dropped, entities kept simple."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html_value)).replace("&#x27;", "'").strip()


# -- rendering -----------------------------------------------------------------
def test_marked_escapes_html_and_marks_every_occurrence():
    out = widgets.marked("<b>pw</b> and pw=1 & pw", ["pw"])
    assert "<b>" not in out and "&lt;b&gt;" in out and "&amp;" in out
    assert out.count("<mark") == 3


def test_marked_prefers_the_longest_needle():
    out = widgets.marked("password=secret", ["secret", "password=secret"])
    assert out.count("<mark") == 1 and ">password=secret</mark>" in out


def test_exchange_view_shows_request_and_response_as_on_the_wire(lab):
    flows.call_api(lab, "/health", tapped=True)
    x = lab.wiretap.last()
    view = ExchangeView(x, highlight=["/health"])
    plain = repr(view)
    assert plain.startswith("--> GET to the API\nGET /health HTTP/1.1")
    assert "<-- response\nHTTP/1.1 200 OK" in plain and '"status": "ok"' in plain
    rendered = view._repr_html_()
    assert "<mark" in rendered and "GET /health to the API" in rendered
    assert "&quot;status&quot;: &quot;ok&quot;" in rendered


def test_exchange_html_cuts_long_bodies(lab):
    flows.call_api(lab, "/openapi.json", tapped=True)
    rendered = widgets.exchange_html(lab.wiretap.last(), limit=300)
    assert "more bytes)" in rendered


def test_storage_html_marks_the_password_red_and_escapes_values():
    out = widgets.storage_html({"username": "alice", "password": "<pw>"})
    assert "&lt;pw&gt;" in out and "<pw>" not in out
    row = re.search(r"<tr class='apisec-bad'[^>]*>.*?</tr>", out)          # the password's row, marked red
    assert row and "<code>password</code>" in row.group(0) and "<code>&lt;pw&gt;</code>" in row.group(0)
    assert out.count("apisec-bad") == 1
    assert "(empty)" in widgets.storage_html({})


def test_panel_repr_is_short_and_stable():
    class Thing(Panel):
        summary = "3 things"
    assert repr(Thing([])) == "<Thing: 3 things>"
    assert Thing([])._repr_mimebundle_()["text/plain"] == "<Thing: 3 things>\n" + widgets.RUN_THE_CELL
    assert "run this cell" in widgets.RUN_THE_CELL


def test_a_displayed_panel_says_under_it_what_to_do_after_a_page_reload():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    class Thing(Panel):
        summary = "a thing"
    InteractiveShell.instance()
    with capture_output() as shown:
        from IPython.display import display
        display(Thing([]))
    (panel, hint) = shown.outputs
    assert "application/vnd.jupyter.widget-view+json" in panel.data
    assert hint.data["text/plain"] == widgets.RELOAD_HINT
    assert "model not found" in widgets.RELOAD_HINT and "run this cell again" in widgets.RELOAD_HINT


# -- the consent panel --------------------------------------------------------
@pytest.fixture
def consent(lab):
    """A consent panel for a fresh PhotoCLI sign-in, recording what it reports."""
    app = flows.OAuthApp(lab, "photocli")
    url = app.start_login(["profile:read", "photos:read"])
    seen = {"redirects": [], "errors": []}
    panel = ConsentPanel(lab, url, on_redirect=lambda r, source: seen["redirects"].append((r, source)),
                         on_error=seen["errors"].append)
    panel.app, panel.seen = app, seen
    return panel


def test_consent_panel_shows_the_request(consent, lab):
    assert consent.app_name == "PhotoCLI"
    assert list(consent.scope_boxes) == ["profile:read", "photos:read"]
    assert all(box.value for box in consent.scope_boxes.values())
    assert consent.username.value == "alice" and consent.password.value == ""
    assert "PhotoCLI wants to access your account" in text(consent.heading.value)
    link = re.search(r"<a href='([^']+)' target='_blank'[^>]*>Open the real sign-in page</a>", consent.heading.value)
    assert link and link.group(1).replace("&amp;", "&") == consent.url
    descriptions = text(" ".join(child.value for row in consent.children[1:3] for child in row.children[1:]))
    assert "See your name and email address" in descriptions and "See your photos" in descriptions
    assert {b.description for b in (consent.allow_button, consent.deny_button, consent.browser_button)} == {
        "Allow", "Deny", "Use the code the browser brought back"}
    assert repr(consent) == "<ConsentPanel: PhotoCLI asks for profile:read photos:read>"


def test_allow_with_the_right_password_redirects_with_a_code(consent, lab):
    consent.password.value = ALICE
    consent.allow_button.click()
    assert text(consent.result.value).startswith("Allowed. The authorization server redirects the browser to PhotoCLI")
    (redirect, source), = consent.seen["redirects"]
    assert source == "panel" and redirect.code and redirect.state == consent.state
    assert consent.app.exchange(consent.app.receive(redirect))["scope"] == "profile:read photos:read"
    post = lab.wiretap.last()
    assert post.server == "issuer" and post.method == "POST" and f"password={ALICE}".encode() in post.request.body


def test_allow_with_a_wrong_password_is_refused_and_nothing_reaches_the_app(consent, lab):
    consent.password.value = "not-it"
    assert consent.submit(True) is None
    assert text(consent.result.value) == ("The authorization server refused (HTTP 403): Wrong username or "
                                          "password. Nothing was sent to PhotoCLI.")
    assert consent.seen["redirects"] == [] and len(consent.seen["errors"]) == 1
    assert lab.inbox.latest("photocli") is None


def test_deny_sends_access_denied(consent):
    consent.password.value = ALICE
    consent.deny_button.click()
    assert "error=access_denied" in text(consent.result.value)
    (redirect, _), = consent.seen["redirects"]
    assert redirect.error == "access_denied" and redirect.code is None


def test_unticked_scopes_are_not_granted(consent):
    consent.password.value = ALICE
    consent.scope_boxes["photos:read"].value = False
    assert consent.ticked() == ["profile:read"]
    redirect = consent.submit(True)
    tokens = consent.app.exchange(consent.app.receive(redirect))
    assert tokens["scope"] == "profile:read"


def test_nothing_ticked_means_no_grant(consent):
    consent.password.value = ALICE
    for box in consent.scope_boxes.values():
        box.value = False
    redirect = consent.submit(True)
    assert redirect.error == "access_denied"
    assert "granted no scopes" in text(consent.result.value)


def test_browser_code_button_before_anything_arrived(consent):
    consent.browser_button.click()
    assert text(consent.result.value).startswith("Nothing has arrived at PhotoCLI's redirect URI yet")
    assert consent.seen["redirects"] == []


def test_browser_code_button_picks_up_what_a_real_browser_brought_back(consent, lab):
    # What a browser does on the real page: post the form and follow the redirect to the app.
    with lab.session() as s:
        r = s.post(consent.url, data={"username": "alice", "password": ALICE, "scope": ["photos:read"],
                                      "decision": "approve"}, timeout=10)
    assert r.status_code == 200 and r.url.startswith(f"{lab.apps_url}/photocli/callback?")
    consent.browser_button.click()
    assert text(consent.result.value) == "Your browser brought back a code for PhotoCLI (the state matches this sign-in)."
    (redirect, source), = consent.seen["redirects"]
    assert source == "browser"
    assert consent.app.exchange(consent.app.receive(redirect))["scope"] == "photos:read"


def test_browser_code_button_ignores_another_sign_in(consent, lab):
    other = flows.OAuthApp(lab, "photocli")
    flows.follow_redirect(lab, lab.authorize(other.start_login(["photos:read"]), "alice", ALICE))
    consent.browser_button.click()
    assert "belongs to another sign-in" in text(consent.result.value)
    assert consent.seen["redirects"] == []
