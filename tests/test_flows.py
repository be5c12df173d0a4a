"""apisec_lab.client.flows: each step of the code flow, client authentication, the two apps, refresh, against a real lab."""
from __future__ import annotations

import base64
import os
import re
from urllib.parse import parse_qsl, urlsplit

import pytest

from apisec_lab import DEMO_PASSWORDS, AuthorizationFailed
from apisec_lab.client import flows, wire

ALICE = DEMO_PASSWORDS["alice"]


def _query(url: str) -> dict:
    return dict(parse_qsl(urlsplit(url).query))


# -- PKCE and the authorization URL -------------------------------------------
def test_s256_matches_rfc7636_appendix_b():
    assert flows.s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_make_pkce_gives_a_fresh_rfc_verifier_and_its_challenge():
    a, b = flows.make_pkce(), flows.make_pkce()
    assert a.verifier != b.verifier
    assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", a.verifier)
    assert a.challenge == flows.s256(a.verifier) and a.method == "S256"


@pytest.mark.parametrize("verifier", ["short", "x" * 129])
def test_make_pkce_refuses_a_verifier_of_the_wrong_length(verifier):
    with pytest.raises(ValueError, match="43 to 128"):
        flows.make_pkce(verifier)


def test_authorization_url_carries_every_parameter_of_the_request(lab):
    pkce = flows.make_pkce()
    url = flows.authorization_url(lab, "photocli", ["profile:read", "photos:read"], state="st4te-value", pkce=pkce)
    assert url.startswith(lab.metadata["authorization_endpoint"] + "?")
    assert _query(url) == {"response_type": "code", "client_id": "photocli",
                           "redirect_uri": f"{lab.apps_url}/photocli/callback",
                           "scope": "profile:read photos:read", "state": "st4te-value",
                           "code_challenge": pkce.challenge, "code_challenge_method": "S256"}


def test_authorization_url_without_pkce_is_refused_by_the_hardened_server(lab):
    url = flows.authorization_url(lab, "photocli", ["photos:read"], state="s" * 10)
    assert "code_challenge" not in _query(url)
    redirect = lab.authorize(url, "alice", ALICE)
    assert redirect.code is None and redirect.error == "invalid_request"


# -- the code flow, step by step ----------------------------------------------
def test_code_flow_step_by_step_never_gives_the_app_the_password(lab):
    app = flows.OAuthApp(lab, "photocli", tapped=True)
    assert app.storage == {"client_id": "photocli"}
    url = app.start_login(["profile:read", "photos:read"])
    assert set(app.storage) == {"client_id", "state", "code_verifier"}
    assert _query(url)["code_challenge"] == flows.s256(app.storage["code_verifier"])
    assert _query(url)["state"] == app.storage["state"]

    redirect = lab.authorize(url, "alice", ALICE, tapped=True)
    arrived = flows.follow_redirect(lab, redirect, tapped=True)
    assert arrived.code == redirect.code and arrived.state == app.storage["state"]
    assert lab.inbox.latest("photocli") == arrived

    tokens = app.exchange(app.receive(arrived))
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "profile:read photos:read"
    assert set(app.storage) == {"client_id", "access_token", "refresh_token", "scope", "expires_at"}
    assert app.call("/me").json()["username"] == "alice"

    assert ALICE not in repr(app.storage)
    info = lab.introspect(app.storage["access_token"])
    assert info["active"] and info["username"] == "alice" and info["client_id"] == "photocli"
    # The wiretap saw the password exactly once, in the sign-in form, at the authorization server.
    seen = wire.sightings(lab, ALICE, "alice")
    assert list(seen["server"]) == ["issuer"] and list(seen["in"]) == ["request body"]


def test_receive_refuses_a_code_for_someone_elses_sign_in(lab):
    app = flows.OAuthApp(lab, "photocli")
    other = flows.OAuthApp(lab, "photocli")
    app.start_login(["photos:read"])
    foreign = lab.authorize(other.start_login(["photos:read"]), "alice", ALICE)
    with pytest.raises(flows.FlowError, match="state does not match"):
        app.receive(foreign)


def test_receive_reports_a_denial(lab):
    app = flows.OAuthApp(lab, "photocli")
    denied = lab.authorize(app.start_login(["photos:read"]), "alice", ALICE, approve=False)
    with pytest.raises(flows.FlowError, match="access_denied"):
        app.receive(denied)
    assert "code_verifier" not in app.storage


def test_a_stolen_code_needs_the_verifier(lab):
    app = flows.OAuthApp(lab, "photocli")
    redirect = lab.authorize(app.start_login(["photos:read"]), "alice", ALICE)
    r = flows.exchange_code(lab, "photocli", redirect.code)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = flows.exchange_code(lab, "photocli", redirect.code, code_verifier=flows.make_pkce().verifier)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    # The failed attempts did not burn the code: the app that holds the verifier still redeems it.
    assert app.exchange(app.receive(redirect))["token_type"] == "Bearer"


def test_without_pkce_a_stolen_code_is_redeemable_while_the_weakness_is_on(lab):
    with lab.weaknesses.turned_on(pkce_optional=True):
        url = flows.authorization_url(lab, "photocli", ["photos:read"], state=flows.new_state())
        r = flows.exchange_code(lab, "photocli", lab.authorize(url, "alice", ALICE).code)
    assert r.status_code == 200 and r.json()["access_token"].startswith("at_")


def test_confidential_client_authenticates_with_its_secret(lab):
    tokens = flows.code_flow(lab, "photoprint", "alice", ALICE, ["photos:read"], tapped=True)
    assert tokens["scope"] == "photos:read"
    token_requests = [x for x in lab.wiretap.records if x.path == "/token"]
    assert token_requests[-1].request.headers["Authorization"].startswith("Basic ")

    app = flows.OAuthApp(lab, "photoprint")
    redirect = lab.authorize(app.start_login(["photos:read"]), "alice", ALICE)
    wrong = flows.Credentials("photoprint", "not-the-secret")
    r = flows.exchange_code(lab, wrong, redirect.code, code_verifier=app.storage["code_verifier"])
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")


def test_sign_in_with_a_wrong_password_raises(lab):
    app = flows.OAuthApp(lab, "photocli")
    with pytest.raises(AuthorizationFailed):
        app.sign_in("alice", "not-her-password", ["photos:read"])
    assert "access_token" not in app.storage


# -- client credentials, refresh, revocation ----------------------------------
def test_client_credentials_token_acts_for_the_client_not_a_user(lab):
    r = flows.client_credentials(lab, lab.clients["backup-bot"], ["reports:read"])
    token = flows.tokens_from(r)["access_token"]
    info = lab.introspect(token)
    assert info["client_id"] == "backup-bot" and "username" not in info
    assert flows.call_api(lab, "/reports/usage", token=token).json()["generated_for"] == "backup-bot"
    assert flows.call_api(lab, "/me", token=token).status_code == 403


def test_refresh_rotates_and_reuse_revokes_the_family(lab):
    app = flows.OAuthApp(lab, "photocli").sign_in("alice", ALICE, ["photos:read"])
    lab.clock.advance(minutes=16)
    assert app.call("/photos").status_code == 401
    old = app.storage["refresh_token"]
    app.refresh()
    assert app.storage["refresh_token"] != old and app.call("/photos").status_code == 200
    r = flows.refresh(lab, "photocli", old)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    assert app.call("/photos").status_code == 401
    with pytest.raises(flows.FlowError, match="invalid_grant"):
        app.refresh()
    assert "refresh_reuse_detected" in set(lab.events()["event"])


def test_revoking_the_refresh_token_ends_the_grant(lab):
    app = flows.OAuthApp(lab, "chatpal").sign_in("alice", ALICE, ["messages:read"])
    assert app.call("/messages").status_code == 200
    r = flows.revoke(lab, lab.clients["chatpal"], app.storage["refresh_token"], hint="refresh_token")
    assert r.status_code == 200
    assert app.call("/messages").status_code == 401


def test_tokens_from_names_the_servers_error(lab):
    r = flows.refresh(lab, "photocli", "rt_unknown")
    with pytest.raises(flows.FlowError, match="invalid_grant") as e:
        flows.tokens_from(r)
    assert e.value.response is r


# -- the API, and what crossed the wire ---------------------------------------
def test_call_api_with_basic_needs_the_weakness(lab):
    assert flows.call_api(lab, "/me", basic=("alice", ALICE)).status_code == 401
    with lab.weaknesses.turned_on(basic_auth=True):
        assert flows.call_api(lab, "/me", basic=("alice", ALICE)).json()["username"] == "alice"


def test_untapped_calls_leave_the_wiretap_empty(lab):
    flows.call_api(lab, "/health")
    assert lab.wiretap.records == []
    flows.call_api(lab, "/health", tapped=True)
    assert [x.path for x in lab.wiretap.records] == ["/health"]


def test_sightings_finds_a_password_in_a_basic_header(lab):
    with lab.weaknesses.turned_on(basic_auth=True):
        for path in ("/me", "/photos"):
            flows.call_api(lab, path, basic=("alice", ALICE), tapped=True)
    flows.call_api(lab, "/health", tapped=True)
    seen = wire.sightings(lab, ALICE, "alice")
    assert list(seen["path"]) == ["/me", "/photos"]
    assert set(seen["in"]) == {"request Authorization header"}
    assert wire.sightings(lab, ALICE).empty          # without the username, base64 hides it


def test_traffic_names_the_credentials_of_each_request(lab):
    app = flows.OAuthApp(lab, "photocli", tapped=True)
    redirect = lab.authorize(app.start_login(["photos:read"]), "alice", ALICE, tapped=True)
    code = app.receive(flows.follow_redirect(lab, redirect, tapped=True))
    app.exchange(code)
    app.call("/photos")
    flows.client_credentials(lab, lab.clients["backup-bot"], ["reports:read"], tapped=True)
    assert list(wire.traffic(lab)["credentials"]) == [
        "password of alice (form)", "code (in the URL)", "code + code verifier",
        "access token (Bearer)", "client secret of backup-bot (Basic)"]


def test_password_app_keeps_the_password_and_sends_it_every_time(lab):
    app = flows.PasswordApp(lab, "PhotoPrint Classic").sign_in("alice", ALICE)
    assert app.storage == {"username": "alice", "password": ALICE}
    with lab.weaknesses.turned_on(basic_auth=True):
        assert app.call("/messages").status_code == 200
        assert app.call("/photos").status_code == 200
    sent = {x.request.headers["Authorization"] for x in lab.wiretap.records}
    assert sent == {"Basic " + base64.b64encode(f"alice:{ALICE}".encode()).decode()}
    assert {x.request.headers["User-Agent"] for x in lab.wiretap.records} == {"PhotoPrintClassic/1.0 (PhotoPrint Classic)"}


def test_password_app_without_a_password_says_so(lab):
    with pytest.raises(flows.FlowError, match="sign_in"):
        flows.PasswordApp(lab, "Empty").call("/me")


# -- RFC 6749 section 2.3.1: one client-authentication helper -----------------
def test_rfc6749_2_3_1_confidential_clients_form_encode_id_and_secret_before_basic():
    auth, form = flows.client_authentication(flows.Credentials("my app", "s3cr:t+/=", "My App"))
    assert auth == ("my+app", "s3cr%3At%2B%2F%3D") and form == {}


def test_rfc6749_2_3_1_public_clients_send_only_their_client_id_in_the_body():
    assert flows.client_authentication(flows.Credentials("photocli", None, "PhotoCLI")) == (None, {"client_id": "photocli"})


def test_every_token_and_revocation_request_authenticates_the_same_way(lab):
    app = flows.OAuthApp(lab, "chatpal", tapped=True).sign_in("alice", ALICE, ["messages:read"])
    app.refresh()
    app.revoke()
    flows.client_credentials(lab, "backup-bot", ["reports:read"], tapped=True)
    to_issuer = [x for x in lab.wiretap.records if x.path in ("/token", "/revoke")]
    assert [x.path for x in to_issuer] == ["/token", "/token", "/revoke", "/token"]
    for x, client in zip(to_issuer, ["chatpal"] * 3 + ["backup-bot"], strict=True):
        creds = lab.clients[client]
        assert x.request.headers["Authorization"] == "Basic " + base64.b64encode(
            f"{creds.client_id}:{creds.client_secret}".encode()).decode()
        assert b"client_id=" not in x.request.body and b"client_secret" not in x.request.body


def test_the_app_hands_its_token_endpoint_calls_to_requests_oauthlib(lab):
    app = flows.OAuthApp(lab, "photocli").sign_in("alice", ALICE, ["profile:read", "photos:read"],
                                                 grant=["photos:read"])
    assert app.token["scope"] == ["photos:read"] and app.granted == ["photos:read"]
    assert app.oauth.scope == ["photos:read"]           # later refreshes ask for at most what was granted
    strict = flows.OAuthApp(lab, "photocli", strict_scope=True)
    with pytest.raises(Warning, match="Scope has changed"):
        strict.sign_in("alice", ALICE, ["profile:read", "photos:read"], grant=["photos:read"])
    assert flows.RELAX_ENV not in os.environ
