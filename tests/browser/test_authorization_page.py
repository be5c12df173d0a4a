"""The authorization server's own sign-in and consent page, driven in Chromium.

The lab runs in the pytest process (the ``lab`` fixture of tests/conftest.py);
the browser is the user: it opens the authorization URL that requests-oauthlib
built for the public client ``photocli`` (PKCE S256), types Alice's password,
unticks a scope and presses Allow or Deny.  The apps' callback page
(``{apps_url}/photocli/callback``) is where it must land.  No JupyterLab is
needed, so these tests use their own browser page (``signin_page``) instead of
the ``page`` fixture, which would start a Jupyter server.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

import apisec_lab

from .conftest import VIEWPORT, save_failure_screenshot
from .jupyter import expect, shot

CLIENT_ID = "photocli"
ASKED = ["photos:read", "profile:read", "messages:read"]
UNTICKED = "messages:read"


@pytest.fixture
def signin_page(request, browser, screenshot_dir):
    """A fresh browser page; its console messages are kept in ``page.console_log``.

    Like the ``page`` fixture, saves ``FAILED-<test name>.png`` when the test fails.
    """
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.console_log = []
    page.on("console", lambda msg: page.console_log.append(msg.text))
    try:
        yield page
    finally:
        save_failure_screenshot(request, page, screenshot_dir)
        context.close()


@pytest.fixture
def flow(lab):
    """requests-oauthlib's side of the flow: ``(oauth, url, state, redirect_uri)``."""
    from requests_oauthlib import OAuth2Session

    redirect_uri = f"{lab.apps_url}/{CLIENT_ID}/callback"
    oauth = OAuth2Session(CLIENT_ID, redirect_uri=redirect_uri, scope=ASKED, pkce="S256")
    oauth.trust_env = False
    url, state = oauth.authorization_url(lab.metadata["authorization_endpoint"])
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    return oauth, url, state, redirect_uri


def _scope_box(page, scope):
    return page.locator(f'input[type=checkbox][name=scope][value="{scope}"]')


def _open_consent_page(page, url):
    """Open the authorization URL and check it is PhotoCLI's consent page, all scopes ticked."""
    response = page.goto(url, wait_until="domcontentloaded")
    assert response.status == 200, response.status
    expect(page).to_have_title("Sign in to allow PhotoCLI")
    expect(page.locator("#client-name")).to_have_text("PhotoCLI")
    expect(page.locator("input[type=checkbox][name=scope]")).to_have_count(len(ASKED))
    for scope in ASKED:
        expect(_scope_box(page, scope)).to_be_checked()
    expect(page.locator("#error")).to_have_count(0)


def _sign_in(page, password):
    page.locator("input[name=username]").fill("alice")
    page.locator("input[name=password]").fill(password)


def _expect_landed(page, redirect_uri):
    """Wait until the browser is on the redirect URI; say why not if it never gets there.

    A Content-Security-Policy on the consent page whose ``form-action`` does not
    allow the redirect URI's origin makes Chromium block the redirect after the
    form POST: the server issues a code, the browser never delivers it.
    """
    try:
        expect(page).to_have_url(re.compile("^" + re.escape(redirect_uri) + r"\?"))
    except AssertionError as exc:
        csp = [m for m in page.console_log if "Content Security Policy" in m]
        raise AssertionError(
            f"the browser did not reach the redirect URI {redirect_uri}; it is on {page.url}.\n"
            f"Console messages about Content-Security-Policy: {csp or 'none'}") from exc
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def _no_csp_violations(page):
    assert not [m for m in page.console_log if "Content Security Policy" in m], page.console_log


def test_approve_fewer_scopes_lands_on_callback_with_a_code(lab, flow, signin_page, screenshot_dir,
                                                            monkeypatch):
    page = signin_page
    oauth, url, state, redirect_uri = flow

    _open_consent_page(page, url)
    _sign_in(page, apisec_lab.DEMO_PASSWORDS["alice"])
    _scope_box(page, UNTICKED).uncheck()
    expect(_scope_box(page, UNTICKED)).not_to_be_checked()
    shot(page, screenshot_dir, "authorization-page-consent")

    page.locator("#approve").click()
    params = _expect_landed(page, redirect_uri)
    assert params["state"] == state
    assert params["code"]
    assert "error" not in params
    expect(page.locator("#outcome")).to_contain_text("PhotoCLI received an authorization code")
    expect(page.locator("#outcome")).to_contain_text(f"and state {state}")
    shot(page, screenshot_dir, "authorization-page-approved-callback")
    _no_csp_violations(page)

    # The apps' server recorded the same arrival the browser shows.
    assert lab.inbox.latest(CLIENT_ID).code == params["code"]

    # The app exchanges the code (PKCE verifier, public client); the user granted less than asked.
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    token = oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=page.url,
                              include_client_id=True, timeout=10)
    granted = set(ASKED) - {UNTICKED}
    assert set(token["scope"]) == granted
    assert set(lab.introspect(token["access_token"])["scope"].split()) == granted
    with lab.session() as s:
        r = s.get(lab.api_url + "/messages", timeout=10,
                  headers={"Authorization": f"Bearer {token['access_token']}"})
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope", r.text


def test_wrong_password_shows_error_and_stays_on_the_page(lab, flow, signin_page, screenshot_dir):
    page = signin_page
    _oauth, url, state, redirect_uri = flow

    _open_consent_page(page, url)
    _sign_in(page, "not-" + apisec_lab.DEMO_PASSWORDS["alice"])
    _scope_box(page, UNTICKED).uncheck()
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("#approve").click()
    assert posted.value.status == 403

    expect(page.locator("#error")).to_contain_text("Wrong username or password")
    assert page.url == url                      # no redirect: the app received nothing
    assert len(lab.inbox) == 0
    assert not lab.events()["event"].isin(["code_issued", "consent"]).any()
    # The form is still there, with the username and the ticks kept and the password cleared.
    expect(page.locator("#client-name")).to_have_text("PhotoCLI")
    expect(page.locator("input[name=username]")).to_have_value("alice")
    expect(page.locator("input[name=password]")).to_have_value("")
    expect(_scope_box(page, UNTICKED)).not_to_be_checked()
    for scope in set(ASKED) - {UNTICKED}:
        expect(_scope_box(page, scope)).to_be_checked()
    expect(page.locator("#approve")).to_be_enabled()
    shot(page, screenshot_dir, "authorization-page-wrong-password")

    # The user types the right password into the same form: it goes through, with the kept ticks.
    page.locator("input[name=password]").fill(apisec_lab.DEMO_PASSWORDS["alice"])
    page.locator("#approve").click()
    params = _expect_landed(page, redirect_uri)
    assert params["state"] == state and params["code"]
    assert lab.inbox.latest(CLIENT_ID).code == params["code"]
    consent = lab.events().query("event == 'consent'")["detail"].tolist()
    assert consent == ["asked: photos:read profile:read messages:read; granted: photos:read profile:read"]
    _no_csp_violations(page)


def test_deny_lands_on_callback_with_access_denied(lab, flow, signin_page, screenshot_dir):
    page = signin_page
    _oauth, url, state, redirect_uri = flow

    _open_consent_page(page, url)
    page.locator("#deny").click()
    params = _expect_landed(page, redirect_uri)
    assert params["error"] == "access_denied"
    assert params["state"] == state
    assert "code" not in params
    expect(page.locator("#outcome")).to_have_text(
        "PhotoCLI received error=access_denied: The user denied the request.")
    shot(page, screenshot_dir, "authorization-page-denied-callback")
    _no_csp_violations(page)

    arrived = lab.inbox.latest(CLIENT_ID)
    assert arrived.error == "access_denied" and arrived.code is None
    events = lab.events()["event"].tolist()
    assert "denied" in events and "code_issued" not in events
