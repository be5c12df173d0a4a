"""The authorization server: flows, PKCE, consent page, rotation, revocation, introspection."""
import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from requests_oauthlib import OAuth2Session

import apisec_lab

from .conftest import bearer, code_flow

ALICE = apisec_lab.DEMO_PASSWORDS["alice"]


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def auth_url(lab, client_id="photocli", scope="photos:read", challenge=None, method="S256", **extra):
    params = {"response_type": "code", "client_id": client_id, "scope": scope, "state": "st-123",
              "redirect_uri": f"{lab.apps_url}/{client_id}/callback"}
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None and challenge is not None:
        params["code_challenge_method"] = method
    params.update(extra)
    return f"{lab.metadata['authorization_endpoint']}?{urlencode(params)}"


def exchange(http, lab, code, verifier=None, client_id="photocli", **extra):
    data = {"grant_type": "authorization_code", "code": code, "client_id": client_id,
            "redirect_uri": f"{lab.apps_url}/{client_id}/callback"}
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    creds = lab.clients[client_id]
    auth = (creds.client_id, creds.client_secret) if creds.client_secret else None
    return http.post(lab.metadata["token_endpoint"], data=data, auth=auth)


# -- metadata --------------------------------------------------------------
def test_metadata_advertises_exactly_what_is_supported(http, lab):
    m = http.get(f"{lab.issuer}/.well-known/oauth-authorization-server").json()
    assert m["issuer"] == lab.issuer
    assert m["response_types_supported"] == ["code"]
    assert sorted(m["grant_types_supported"]) == ["authorization_code", "client_credentials", "refresh_token"]
    assert m["code_challenge_methods_supported"] == ["S256"]
    for key in ("authorization_endpoint", "token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        assert m[key].startswith(lab.issuer + "/")
    assert "photos:read" in m["scopes_supported"]


# -- the whole flow through a real client library --------------------------
def test_pkce_flow_end_to_end_with_requests_oauthlib(http, lab):
    token = code_flow(lab, "photocli", ["photos:read", "profile:read"])
    assert token["access_token"].startswith("at_") and token["refresh_token"].startswith("rt_")
    assert token["token_type"] == "Bearer" and token["expires_in"] == 900
    photos = http.get(f"{lab.api_url}/photos", headers=bearer(token))
    assert photos.status_code == 200
    assert {p["owner"] for p in photos.json()} == {"alice"}
    assert http.get(f"{lab.api_url}/me", headers=bearer(token)).json()["username"] == "alice"


def test_confidential_client_flow_and_api_call(http, lab):
    token = code_flow(lab, "photoprint", ["photos:read"])
    assert http.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 200
    assert http.get(f"{lab.api_url}/me", headers=bearer(token)).status_code == 403


def test_oauth2session_calls_the_api_with_its_token(lab):
    creds = lab.clients["photocli"]
    oauth = OAuth2Session(creds.client_id, redirect_uri=f"{lab.apps_url}/photocli/callback",
                          scope=["photos:read"], pkce="S256")
    oauth.trust_env = False
    url, _ = oauth.authorization_url(lab.metadata["authorization_endpoint"])
    assert "code_challenge_method=S256" in url
    back = lab.authorize(url, "alice", ALICE)
    oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=back.url, include_client_id=True)
    assert oauth.get(f"{lab.api_url}/photos").status_code == 200


# -- PKCE --------------------------------------------------------------------
def test_pkce_is_required(http, lab):
    r = http.get(auth_url(lab, challenge=None), allow_redirects=False)
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert q["error"] == ["invalid_request"] and q["state"] == ["st-123"]
    assert "challenge" in q["error_description"][0].lower()


def test_pkce_plain_is_refused(http, lab):
    r = http.get(auth_url(lab, challenge="x" * 43, method="plain"), allow_redirects=False)
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert q["error"] == ["invalid_request"]
    r = http.get(auth_url(lab, challenge="x" * 43, method=None), allow_redirects=False)
    assert parse_qs(urlsplit(r.headers["Location"]).query)["error"] == ["invalid_request"]


@pytest.mark.parametrize("verifier, error", [(None, "invalid_request"), ("wrong-" + "v" * 43, "invalid_grant")])
def test_code_without_the_right_verifier_is_useless(http, lab, verifier, error):
    real_verifier, challenge = pkce_pair()
    back = lab.authorize(auth_url(lab, challenge=challenge), "alice", ALICE)
    r = exchange(http, lab, back.code, verifier)
    assert r.status_code == 400 and r.json()["error"] == error
    # the code was not burnt by the failed attempt: the real client still can redeem it... or not?
    # RFC 7636 s4.6 does not require it; the lab keeps it usable for its legitimate owner.
    assert exchange(http, lab, back.code, real_verifier).status_code == 200


def test_pkce_optional_weakness_lets_a_stolen_code_through(http, lab):
    with lab.weaknesses.turned_on(pkce_optional=True):
        back = lab.authorize(auth_url(lab, challenge=None), "alice", ALICE)
        r = exchange(http, lab, back.code)
    assert r.status_code == 200, "without PKCE whoever holds the code gets the tokens"


# -- codes -----------------------------------------------------------------------
def test_code_replay_fails_and_revokes_what_it_issued(http, lab):
    verifier, challenge = pkce_pair()
    back = lab.authorize(auth_url(lab, challenge=challenge), "alice", ALICE)
    first = exchange(http, lab, back.code, verifier)
    assert first.status_code == 200
    token = first.json()
    assert http.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 200
    second = exchange(http, lab, back.code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    r = http.get(f"{lab.api_url}/photos", headers=bearer(token))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert "code_replayed" in set(lab.events()["event"])


def test_code_expires_after_a_minute(http, lab):
    verifier, challenge = pkce_pair()
    back = lab.authorize(auth_url(lab, challenge=challenge), "alice", ALICE)
    lab.clock.advance(61)
    r = exchange(http, lab, back.code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_token_request_must_repeat_the_redirect_uri_it_was_given(http, lab):
    verifier, challenge = pkce_pair()
    back = lab.authorize(auth_url(lab, challenge=challenge), "alice", ALICE)
    data = {"grant_type": "authorization_code", "code": back.code, "client_id": "photocli", "code_verifier": verifier}
    r = http.post(lab.metadata["token_endpoint"], data=data)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"  # RFC 6749 s4.1.3
    r = http.post(lab.metadata["token_endpoint"], data={**data, "redirect_uri": f"{lab.apps_url}/photocli/callback"})
    assert r.status_code == 200


def test_a_client_with_one_redirect_uri_may_leave_it_out_of_both_requests(http, lab):
    verifier, challenge = pkce_pair()
    url = auth_url(lab, challenge=challenge)
    url = url.replace("redirect_uri=" + url.split("redirect_uri=")[1].split("&")[0] + "&", "")
    assert "redirect_uri" not in url
    back = lab.authorize(url, "alice", ALICE)
    assert back.url.startswith(f"{lab.apps_url}/photocli/callback?")
    r = http.post(lab.metadata["token_endpoint"], data={"grant_type": "authorization_code", "code": back.code,
                                                        "client_id": "photocli", "code_verifier": verifier})
    assert r.status_code == 200


def test_code_is_bound_to_its_client(http, lab):
    verifier, challenge = pkce_pair()
    back = lab.authorize(auth_url(lab, challenge=challenge), "alice", ALICE)
    r = exchange(http, lab, back.code, verifier, client_id="photoprint")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


# -- redirect URIs and the authorization page ---------------------------------
@pytest.mark.parametrize("suffix", ["/", "x", "/../evil", "?next=http://evil.example"])
def test_redirect_uri_must_match_exactly_and_is_never_followed(http, lab, suffix):
    _, challenge = pkce_pair()
    url = auth_url(lab, challenge=challenge, redirect_uri=f"{lab.apps_url}/photocli/callback{suffix}")
    r = http.get(url, allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers
    assert r.json()["error"] in ("invalid_request", "mismatching_redirect_uri")


def test_broken_request_shows_an_html_error_to_a_browser(http, lab):
    r = http.get(auth_url(lab, client_id="no-such-app", challenge="c" * 43), headers={"Accept": "text/html"},
                 allow_redirects=False)
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("text/html")
    assert "invalid_client_id" in r.text or "invalid_request" in r.text


def test_consent_page_is_a_real_form(http, lab):
    _, challenge = pkce_pair()
    r = http.get(auth_url(lab, challenge=challenge, scope="photos:read profile:read"))
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    page = r.text
    assert "PhotoCLI" in page and "type=password" in page
    assert page.count("type=checkbox name=scope") == 2 and "See your photos" in page
    # ... and one more box, "Stay signed in", unticked unless the person ticks it
    assert page.count("type=checkbox") == 3 and "name=remember value=on id=remember>" in page
    assert r.headers["X-Frame-Options"] == "DENY"
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    # browsers apply form-action to the redirect after the POST: the app's origin must be allowed
    assert f"form-action 'self' {lab.apps_url};" in csp


def test_wrong_password_stays_on_the_page(lab):
    _, challenge = pkce_pair()
    with pytest.raises(apisec_lab.AuthorizationFailed) as failed:
        lab.authorize(auth_url(lab, challenge=challenge), "alice", "not-her-password")
    r = failed.value.response
    assert r.status_code == 403 and "Wrong username or password" in r.text and "type=password" in r.text
    with pytest.raises(apisec_lab.AuthorizationFailed):
        lab.authorize(auth_url(lab, challenge=challenge), "mallory", ALICE)


def test_deny_redirects_with_access_denied_and_state(lab):
    _, challenge = pkce_pair()
    back = lab.authorize(auth_url(lab, challenge=challenge), "alice", ALICE, approve=False)
    assert back.error == "access_denied" and back.state == "st-123" and back.code is None


def test_user_grants_fewer_scopes_than_asked(http, lab):
    token = code_flow(lab, "photocli", ["photos:read", "messages:read"], grant=["photos:read"])
    assert token["scope"] in (["photos:read"], "photos:read")
    consent = lab.events().query("event == 'consent'").iloc[-1]
    assert consent["detail"] == "asked: photos:read messages:read; granted: photos:read"
    assert consent["grant_id"] == lab.connected_apps("alice").index[0]
    assert http.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 200
    r = http.get(f"{lab.api_url}/messages", headers=bearer(token))
    assert r.status_code == 403 and 'scope="messages:read"' in r.headers["WWW-Authenticate"]


def test_client_may_not_ask_beyond_its_registration(http, lab):
    _, challenge = pkce_pair()
    r = http.get(auth_url(lab, challenge=challenge, scope="photos:read payment:write"), allow_redirects=False)
    assert parse_qs(urlsplit(r.headers["Location"]).query)["error"] == ["invalid_scope"]


# -- tokens: refresh, expiry, client credentials --------------------------------
def refresh(http, lab, client_id, refresh_token, **extra):
    creds = lab.clients[client_id]
    return http.post(lab.metadata["token_endpoint"], data={"grant_type": "refresh_token",
                                                            "refresh_token": refresh_token, **extra},
                     auth=(creds.client_id, creds.client_secret))


def test_access_token_expires_on_the_lab_clock(http, lab):
    token = code_flow(lab, "photoprint", ["photos:read"])
    lab.clock.advance(minutes=15, seconds=1)
    r = http.get(f"{lab.api_url}/photos", headers=bearer(token))
    assert r.status_code == 401 and "expired" in r.json()["error_description"]


def test_refresh_rotates_and_reuse_revokes_the_family(http, lab):
    first = code_flow(lab, "photoprint", ["photos:read"])
    second = refresh(http, lab, "photoprint", first["refresh_token"])
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert http.get(f"{lab.api_url}/photos", headers=bearer(second)).status_code == 200
    replay = refresh(http, lab, "photoprint", first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # the thief's replay took the whole family down, the newest tokens included
    assert http.get(f"{lab.api_url}/photos", headers=bearer(second)).status_code == 401
    assert refresh(http, lab, "photoprint", second["refresh_token"]).status_code == 400
    assert "refresh_reuse_detected" in set(lab.events()["event"])


def test_refresh_can_narrow_but_never_widen(http, lab):
    first = code_flow(lab, "photoprint", ["photos:read", "profile:read"])
    narrow = refresh(http, lab, "photoprint", first["refresh_token"], scope="photos:read")
    assert narrow.status_code == 200 and narrow.json()["scope"] == "photos:read"
    assert http.get(f"{lab.api_url}/me", headers=bearer(narrow.json())).status_code == 403
    wide = refresh(http, lab, "photoprint", narrow.json()["refresh_token"], scope="photos:read photos:write")
    assert wide.status_code == 400 and wide.json()["error"] == "invalid_scope"


def test_refresh_token_belongs_to_its_client(http, lab):
    first = code_flow(lab, "photoprint", ["profile:read"])
    r = refresh(http, lab, "chatpal", first["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_client_credentials_for_machines(http, lab):
    bot = lab.clients["backup-bot"]
    r = http.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                  auth=(bot.client_id, bot.client_secret))
    assert r.status_code == 200
    token = r.json()
    assert "refresh_token" not in token and token["scope"] == "reports:read"
    assert http.get(f"{lab.api_url}/reports/usage", headers=bearer(token)).status_code == 200
    assert http.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 403


# -- revocation (RFC 7009) and introspection (RFC 7662) --------------------------
def revoke(http, lab, client_id, token, hint=None):
    creds = lab.clients[client_id]
    data = {"token": token} | ({"token_type_hint": hint} if hint else {})
    if creds.client_secret:
        return http.post(lab.metadata["revocation_endpoint"], data=data, auth=(creds.client_id, creds.client_secret))
    return http.post(lab.metadata["revocation_endpoint"], data={**data, "client_id": client_id})


def test_revoking_an_access_token_stops_only_that_token(http, lab):
    token = code_flow(lab, "photoprint", ["photos:read"])
    other = refresh(http, lab, "photoprint", token["refresh_token"]).json()
    assert revoke(http, lab, "photoprint", token["access_token"]).status_code == 200
    assert http.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 401
    assert http.get(f"{lab.api_url}/photos", headers=bearer(other)).status_code == 200


def test_revoking_a_refresh_token_revokes_the_grant(http, lab):
    token = code_flow(lab, "photocli", ["photos:read"])
    assert revoke(http, lab, "photocli", token["refresh_token"], "refresh_token").status_code == 200
    assert http.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 401
    assert lab.introspect(token["access_token"]) == {"active": False}
    assert lab.connected_apps("alice").empty


def test_rfc7009_s2_1_revoking_another_clients_token_is_refused(http, lab):
    token = code_flow(lab, "photoprint", ["photos:read"])
    for kind in ("access_token", "refresh_token"):
        r = revoke(http, lab, "chatpal", token[kind])
        assert (r.status_code, r.json()["error"]) == (400, "invalid_grant"), r.text
        assert "another client" in r.json()["error_description"]
    assert http.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 200


def test_rfc7009_s2_2_unknown_tokens_still_get_200_and_success_claims_no_json(http, lab):
    r = revoke(http, lab, "chatpal", "at_" + "x" * 43)
    assert (r.status_code, r.text) == (200, "") and "Content-Type" not in r.headers
    token = code_flow(lab, "photoprint", ["photos:read"])
    r = revoke(http, lab, "photoprint", token["access_token"])
    assert (r.status_code, r.text) == (200, "") and "Content-Type" not in r.headers
    assert r.headers["Cache-Control"] == "no-store"


def test_introspection(http, lab):
    token = code_flow(lab, "photoprint", ["photos:read", "profile:read"])
    claims = lab.introspect(token["access_token"])
    assert claims["active"] is True and claims["scope"] == "photos:read profile:read"
    assert claims["client_id"] == "photoprint" and claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 900
    assert lab.introspect("at_" + "x" * 43) == {"active": False}
    # another client may ask about its own tokens only
    chat = lab.clients["chatpal"]
    r = http.post(lab.metadata["introspection_endpoint"], data={"token": token["access_token"]},
                  auth=(chat.client_id, chat.client_secret))
    assert r.json() == {"active": False}
    r = http.post(lab.metadata["introspection_endpoint"], data={"token": token["access_token"]})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_user_revokes_one_app_and_the_others_keep_working(http, lab):
    printer = code_flow(lab, "photoprint", ["photos:read"])
    cli = code_flow(lab, "photocli", ["photos:read"])
    apps = lab.connected_apps("alice")
    assert sorted(apps["client_id"]) == ["photocli", "photoprint"]
    assert lab.revoke_app("alice", "photoprint") == 1
    assert http.get(f"{lab.api_url}/photos", headers=bearer(printer)).status_code == 401
    assert http.get(f"{lab.api_url}/photos", headers=bearer(cli)).status_code == 200
    assert list(lab.connected_apps("alice")["client_id"]) == ["photocli"]


@pytest.mark.parametrize("data, auth, status, error", [
    ({"grant_type": "password", "username": "alice", "password": ALICE}, "photoprint", 400, "unsupported_grant_type"),
    ({"grant_type": "implicit"}, "photoprint", 400, "unsupported_grant_type"),
    ({}, "photoprint", 400, "invalid_request"),
    ({"grant_type": "client_credentials"}, ("backup-bot", "wrong-secret"), 401, "invalid_client"),
    ({"grant_type": "client_credentials"}, ("nobody", "x"), 401, "invalid_client"),
    ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
    ({"grant_type": "client_credentials"}, "photoprint", 400, "unauthorized_client"),
    ({"grant_type": "authorization_code", "code": "nope", "redirect_uri": "x"}, "photoprint", 400, "invalid_grant"),
])
def test_token_endpoint_errors(http, lab, data, auth, status, error):
    if isinstance(auth, str):
        auth = (auth, lab.clients[auth].client_secret)
    r = http.post(lab.metadata["token_endpoint"], data=data, auth=auth)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
