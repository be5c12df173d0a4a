"""PhotoPrint's website (apisec_lab/servers/photoprint.py), hardened: sessions, the two flows, its records.

The attacks with their switches on are in tests/test_flow_attacks.py; here, what the site does by default
and that its records say what happened without leaking what it keeps.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from apisec_lab.servers.photoprint import COOKIE, SEED


def session(lab, browser):
    return lab.photoprint.session_for(browser.cookies(lab.web_url).get(COOKIE))


def test_sign_in_with_the_lab_runs_the_code_flow_with_pkce_state_and_the_secret_server_side(lab):
    alice = lab.victim
    sent = dict(parse_qsl(urlsplit(alice.history[1].url).query))
    assert sent["code_challenge_method"] == "S256" and sent["state"] and sent["client_id"] == "photoprint-web"
    token_request = next(x for x in lab.wiretap.records if x.path == "/token")
    assert token_request.request.headers["Authorization"].startswith("Basic ")
    assert b"code_verifier=" in token_request.request.body
    assert session(lab, alice).account == "alice"


def test_the_session_cookie_is_httponly_samesite_lax(lab):
    assert lab.victim                      # Alice signs in first
    cookie = next(x for x in lab.wiretap.records if x.server == "photoprint").response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_rfc6749_s10_12_a_state_started_in_another_browser_is_refused(lab):
    alice, mallory = lab.victim, lab.browser("Mallory")
    alice.visit(lab.web_url + "/login")              # fine in her own browser
    page = mallory.visit(lab.web_url + "/login")     # Mallory's own sign-in: his state
    state = dict(parse_qsl(urlsplit(page.url).query))["state"]
    code = lab.authorize(page.url, "bob", "can-we-fix-it").code
    alice.visit(f"{lab.web_url}/callback?code={code}&state={state}")
    assert alice.page.status == 400 and "state" in lab.photoprint.events()[-1].detail
    assert session(lab, alice).account == "alice"


def test_a_state_works_once(lab):
    bob = lab.browser("Bob")
    page = bob.visit(lab.web_url + "/login")
    back = lab.authorize(page.url, "bob", "can-we-fix-it")
    bob.visit(back.url)
    assert session(lab, bob).account == "bob"
    bob.visit(back.url)
    assert bob.page.status == 400 and "state" in lab.photoprint.events()[-1].detail


def test_linking_needs_a_signed_in_session(lab):
    page = lab.browser("Nobody").visit(lab.web_url + "/link")
    assert page.status == 403


def test_link_your_lab_account_adds_a_lab_user_to_the_signed_in_account(lab):
    bob = lab.browser("Bob")
    bob.visit(lab.web_url + "/login")
    bob.submit(username="bob", password="can-we-fix-it", decision="approve")
    bob.visit(lab.web_url + "/link")
    bob.submit(username="alice", password="wonderland-2026", decision="approve")
    assert lab.photoprint.account("bob").lab_users == ["bob", "alice"]
    assert lab.photoprint.events()[-1].event == "linked"


def test_a_lab_user_photoprint_has_not_seen_gets_a_new_account(lab):
    lab.add_user("carol", "carol-password-1")
    carol = lab.browser("Carol")
    carol.visit(lab.web_url + "/login")
    carol.submit(username="carol", password="carol-password-1", decision="approve")
    assert session(lab, carol).account == "carol" and lab.photoprint.account_of("carol").id == "carol"


def test_home_shows_the_lab_photos_photoprints_token_opens(lab):
    page = lab.victim.visit(lab.web_url + "/")
    assert "Tea party, long table (alice)" in page.text and "Alice Liddell" in page.title


@pytest.mark.parametrize("to, allowed", [("/prints", True), ("/prints?x=1", True), ("//evil.example/x", False),
                                         ("http://127.0.0.1:1/steal", False), ("javascript:alert(1)", False),
                                         ("/\\evil.example", False), ("", False)])
def test_rfc9700_s4_11_1_the_tracker_goes_to_photoprints_own_pages_only(lab, http, to, allowed):
    r = http.get(lab.web_url + "/out", params={"to": to, "utm_source": "mail"}, allow_redirects=False)
    assert (r.status_code == 302) is allowed, (to, r.status_code)
    if allowed:
        assert r.headers["Location"].startswith(lab.web_url + to) and "utm_source=mail" in r.headers["Location"]


def test_every_page_that_can_hold_a_secret_sends_no_referrer(lab, http):
    for path in ("/", "/login", "/callback?code=x&state=y", "/link/callback?code=x", "/out?to=/"):
        r = http.get(lab.web_url + path, allow_redirects=False)
        assert r.headers.get("Referrer-Policy") == "no-referrer", path


def test_the_marketing_page_carries_the_partners_snippet(lab, http):
    r = http.get(lab.web_url + "/prints")
    assert "no-referrer-when-downgrade" in r.text and lab.attacker.url + "/partner/pixel.gif" in r.text
    assert "Referrer-Policy" not in r.headers


def test_records_show_no_cookie_or_token(lab):
    alice = lab.victim
    secrets_kept = [*alice.cookies(lab.web_url).values(), *(t for a in lab.photoprint._accounts.values()
                                                            for t in a.tokens.values())]
    shown = "".join(f.to_string() for f in (lab.photoprint.accounts_frame(), lab.photoprint.sessions_frame(),
                                            lab.photoprint.events_frame()))
    shown += repr(lab.photoprint.accounts()) + repr(lab.photoprint.sessions())
    assert secrets_kept and not any(s in shown for s in secrets_kept)


def test_reset_brings_back_the_seeded_accounts(lab):
    assert lab.victim                      # Alice signs in first
    lab.photoprint.reset()
    assert [a.id for a in lab.photoprint.accounts()] == [a["id"] for a in SEED]
    assert lab.photoprint.sessions() == [] and lab.photoprint.events() == []
