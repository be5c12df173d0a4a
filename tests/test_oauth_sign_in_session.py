"""The authorization server's sign-in session and remembered consent (apisec_lab/oauth/web.py).

A person who ticks "Stay signed in" gets a cookie; a later authorization request in that browser, from a
confidential client, for no more than they allowed, is answered at once (what makes notebook 06's attacks
silent, as on real servers).  Everything the hardened server checked before still holds: the request is
validated first (exact redirect URI, PKCE), a public client always gets the page (RFC 8252 s8.6), and the
session is a digest in the store, on the lab clock, gone with a reset.
"""
from __future__ import annotations

import sqlite3
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

import apisec_lab
from apisec_lab.client import flows
from apisec_lab.oauth.web import SIGN_IN_COOKIE

ALICE = apisec_lab.DEMO_PASSWORDS["alice"]


def url_for(lab, client_id="photoprint-web", scopes=("profile:read",), redirect_uri=None, pkce=True, state="s"):
    params = {"response_type": "code", "client_id": client_id, "scope": " ".join(scopes), "state": state,
              "redirect_uri": redirect_uri or (f"{lab.web_url}/callback" if client_id == "photoprint-web"
                                               else f"{lab.apps_url}/{client_id}/callback")}
    if pkce:
        params.update(code_challenge=flows.make_pkce().challenge, code_challenge_method="S256")
    return lab.metadata["authorization_endpoint"] + "?" + urlencode(params)


def sign_in(http, lab, url, remember=True, scopes=None):
    """What a person does on the page: password, ticked scopes, maybe "Stay signed in"; the 302."""
    query = dict(parse_qsl(urlsplit(url).query))
    form = {"username": "alice", "password": ALICE, "decision": "approve",
            "scope": (scopes or query["scope"]).split() if isinstance(scopes or query["scope"], str) else scopes}
    if remember:
        form["remember"] = "on"
    r = http.post(url, data=form, allow_redirects=False)
    assert r.status_code == 302, r.text[:300]
    return r


@pytest.fixture
def signed_in(http, lab):
    """A browser-like session that signed in with "Stay signed in" and allowed photoprint-web profile:read."""
    sign_in(http, lab, url_for(lab))
    assert http.cookies.get(SIGN_IN_COOKIE)
    return http


def test_without_stay_signed_in_no_cookie_and_nothing_remembered(http, lab):
    r = sign_in(http, lab, url_for(lab), remember=False)
    assert "Set-Cookie" not in r.headers
    assert lab.store.consent("alice", "photoprint-web") == set() and lab.store.sign_ins() == []
    assert http.get(url_for(lab), allow_redirects=False).status_code == 200      # the page again


def test_the_sign_in_cookie_is_httponly_samesite_lax_on_the_lab_clock(http, lab):
    r = sign_in(http, lab, url_for(lab))
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(f"{SIGN_IN_COOKIE}=si_")
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/", f"Max-Age={lab.config.sign_in_ttl}"):
        assert attribute in cookie, cookie
    assert [row["username"] for row in lab.store.sign_ins()] == ["alice"]


def test_the_store_keeps_the_sign_in_as_a_digest_only(signed_in, lab):
    token = signed_in.cookies[SIGN_IN_COOKIE]
    with sqlite3.connect(f"file:{lab.db_path}?mode=ro", uri=True) as db:
        dump = "\n".join(db.iterdump())
    assert token not in dump and token[3:] not in dump


def test_a_confidential_client_allowed_before_is_answered_at_once_with_iss(signed_in, lab):
    r = signed_in.get(url_for(lab, state="again"), allow_redirects=False)
    assert r.status_code == 302
    back = dict(parse_qsl(urlsplit(r.headers["Location"]).query))
    assert back["state"] == "again" and back["iss"] == lab.issuer and back["code"]       # RFC 9207 too
    assert r.headers["Location"].startswith(f"{lab.web_url}/callback?")
    assert "remembered" in lab.events()["detail"].iloc[-1]


def test_asking_for_more_than_was_allowed_shows_the_page(signed_in, lab):
    r = signed_in.get(url_for(lab, scopes=("profile:read", "photos:read")), allow_redirects=False)
    assert r.status_code == 200 and "type=password" in r.text


def test_rfc8252_s8_6_a_public_client_always_gets_the_page(http, lab):
    url = url_for(lab, client_id="photocli")
    sign_in(http, lab, url)
    assert lab.store.consent("alice", "photocli") == {"profile:read"}
    r = http.get(url_for(lab, client_id="photocli"), allow_redirects=False)
    assert r.status_code == 200 and "type=password" in r.text, "anyone can send a public client's client_id"


def test_rfc9700_s4_1_3_a_signed_in_browser_still_gets_exact_redirect_matching(signed_in, lab):
    for uri in (f"{lab.web_url}/callback/../prints", f"{lab.web_url}/callbackx", f"{lab.attacker.url}/callback"):
        r = signed_in.get(url_for(lab, redirect_uri=uri), allow_redirects=False, headers={"Accept": "text/html"})
        assert r.status_code == 400 and "Location" not in r.headers, uri


def test_rfc7636_a_signed_in_browser_still_needs_pkce(signed_in, lab):
    r = signed_in.get(url_for(lab, pkce=False), allow_redirects=False)
    back = dict(parse_qsl(urlsplit(r.headers["Location"]).query))
    assert r.status_code == 302 and back["error"] == "invalid_request" and "code" not in back


def test_a_forged_or_expired_sign_in_gets_the_page(signed_in, lab):
    token = signed_in.cookies[SIGN_IN_COOKIE]
    signed_in.cookies.clear()
    signed_in.cookies.set(SIGN_IN_COOKIE, token[:-2] + "xx")
    assert signed_in.get(url_for(lab), allow_redirects=False).status_code == 200
    signed_in.cookies.clear()
    signed_in.cookies.set(SIGN_IN_COOKIE, token)
    assert signed_in.get(url_for(lab), allow_redirects=False).status_code == 302
    lab.clock.advance(seconds=lab.config.sign_in_ttl + 1)
    assert signed_in.get(url_for(lab), allow_redirects=False).status_code == 200


def test_revoking_the_app_forgets_what_was_allowed(signed_in, lab):
    lab.revoke_app("alice", "photoprint-web")
    assert lab.store.consent("alice", "photoprint-web") == set()
    assert signed_in.get(url_for(lab), allow_redirects=False).status_code == 200


def test_a_reset_signs_everyone_out(signed_in, lab):
    lab.reset()
    assert lab.store.sign_ins() == [] and lab.store.consent("alice", "photoprint-web") == set()
    assert signed_in.get(url_for(lab), allow_redirects=False).status_code == 200
