"""JWT access tokens through the normal flows (RFC 9068): issued by the authorization server, checked by the API.

The hardened default: every switch off.  tests/test_jwt_flaws.py turns the verifier's flaws on one by one.
"""
from __future__ import annotations

import base64
import json

import jwt
import pytest
from requests_oauthlib import OAuth2Session

import apisec_lab
from apisec_lab.client import selfcontained

from .conftest import bearer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _token(segments: tuple[dict | str, dict | str, str]) -> str:
    head, body, sig = segments
    enc = [s if isinstance(s, str) else _b64(json.dumps(s).encode()) for s in (head, body)]
    return ".".join([*enc, sig])


@pytest.fixture
def machine(lab, http):
    """A client-credentials JWT client and its token response."""
    creds = lab.register_client("JWT reports", scopes=["reports:read"], token_format="jwt")
    r = http.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                  auth=(creds.client_id, creds.client_secret))
    assert r.status_code == 200, r.text
    return creds, r.json()


@pytest.fixture
def alice(lab):
    """Alice connects a JWT client through the authorization code flow with PKCE."""
    return selfcontained.jwt_app(lab, "JWT gallery", ["profile:read", "photos:read"])


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# -- issuing -------------------------------------------------------------------------------
def test_rfc9068_s2_code_flow_token_is_an_at_jwt_with_every_required_claim(lab, alice):
    header = jwt.get_unverified_header(alice.access_token)
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": lab.signing_keys.kid}
    claims = claims_of(alice.access_token)
    assert set(claims) == {"iss", "aud", "sub", "client_id", "scope", "exp", "iat", "jti"}
    assert (claims["iss"], claims["aud"], claims["sub"], claims["client_id"], claims["scope"]) == (
        lab.issuer, lab.api_url, "alice", alice.client_id, "profile:read photos:read")
    assert claims["exp"] - claims["iat"] == lab.config.access_ttl
    assert alice.refresh_token.startswith("rt_"), "refresh tokens stay opaque"


def test_rfc9068_s2_2_client_credentials_sub_is_the_client(machine):
    creds, token = machine
    claims = claims_of(token["access_token"])
    assert claims["sub"] == claims["client_id"] == creds.client_id
    assert token["token_type"] == "Bearer" and "refresh_token" not in token


def test_refresh_gives_a_new_jwt_and_a_new_opaque_refresh_token(lab, alice):
    first, old_refresh = alice.access_token, alice.refresh_token
    alice.refresh()
    assert alice.access_token != first and alice.access_token.count(".") == 2
    assert claims_of(alice.access_token)["jti"] != claims_of(first)["jti"]
    assert alice.refresh_token.startswith("rt_") and alice.refresh_token != old_refresh
    assert alice.call("/me").status_code == 200


def test_opaque_clients_keep_opaque_tokens(lab, http):
    r = http.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                  auth=(lab.clients["backup-bot"].client_id, lab.clients["backup-bot"].client_secret))
    assert r.json()["access_token"].startswith("at_")


def test_a_client_may_have_its_own_audience_and_lifetime(lab):
    app = selfcontained.jwt_app(lab, "Calendar", ["profile:read"], lifetime=120, audience="urn:example:calendar")
    claims = claims_of(app.access_token)
    assert claims["aud"] == "urn:example:calendar" and claims["exp"] - claims["iat"] == 120
    assert app.last_token_response["expires_in"] == 120
    r = app.call("/me")
    assert r.status_code == 401 and "aud is another API" in r.json()["error_description"]


@pytest.mark.parametrize("kwargs, error", [
    ({"token_format": "paseto"}, "token_format"),
    ({"audience": "urn:x"}, "with token_format='jwt'"),
    ({"token_format": "jwt", "audience": ""}, "non-empty"),
    ({"token_format": "jwt", "access_ttl": 0}, "access_ttl"),
    ({"token_format": "jwt", "access_ttl": True}, "access_ttl"),
])
def test_register_client_refuses_bad_token_settings(lab, kwargs, error):
    with pytest.raises(ValueError, match=error):
        lab.register_client("Bad", scopes=["reports:read"], **kwargs)


def test_rfc8414_metadata_advertises_jwks_uri_and_the_issuer_serves_the_public_key(lab, http):
    assert lab.metadata["jwks_uri"] == f"{lab.issuer}/jwks"
    r = http.get(lab.metadata["jwks_uri"])
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/jwk-set+json"
    [key] = r.json()["keys"]
    assert (key["kty"], key["alg"], key["use"], key["kid"]) == ("RSA", "RS256", "sig", lab.signing_keys.kid)
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "RFC 7517: only the public key is published"


def test_rfc7638_the_kid_is_the_keys_thumbprint(lab, http):
    import hashlib
    [key] = http.get(lab.metadata["jwks_uri"]).json()["keys"]
    canonical = json.dumps({"e": key["e"], "kty": "RSA", "n": key["n"]}, separators=(",", ":"))
    assert key["kid"] == _b64(hashlib.sha256(canonical.encode()).digest())


def test_the_key_pair_is_made_on_first_use_not_at_start():
    lab = apisec_lab.Lab().start()
    try:
        assert lab.signing_keys._private is None, "start() makes no RSA key (tens of milliseconds)"
        lab.signing_keys.jwks()
        assert lab.signing_keys._private is not None
    finally:
        lab.stop()


def test_the_independent_joserfc_library_validates_the_labs_jwts_from_jwks_uri(lab, http, alice, machine):
    """The lab's tokens are standard: joserfc, used the standard way, fetching the key set from the metadata."""
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet

    meta = http.get(f"{lab.issuer}/.well-known/oauth-authorization-server").json()
    keys = KeySet.import_key_set(http.get(meta["jwks_uri"]).json())
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": meta["issuer"]}, aud={"essential": True, "value": lab.api_url},
        exp={"essential": True}, sub={"essential": True}, client_id={"essential": True},
        iat={"essential": True}, jti={"essential": True}, scope={"essential": True})
    for token in (alice.access_token, machine[1]["access_token"]):
        decoded = jose_jwt.decode(token, keys, algorithms=["RS256"])
        assert decoded.header["typ"] == "at+jwt"
        registry.validate(decoded.claims)
    forged = jwt.encode(claims_of(alice.access_token), "x" * 32, algorithm="HS256", headers={"typ": "at+jwt"})
    with pytest.raises(Exception):   # noqa: B017 - joserfc's own error for an algorithm it was not allowed
        jose_jwt.decode(forged, keys, algorithms=["RS256"])


def test_an_outside_client_gets_a_jwt_with_requests_oauthlib(lab):
    creds = lab.register_client("Outside", redirect_uris=["http://127.0.0.1:9/cb"], scopes=["photos:read"],
                                token_format="jwt")
    oauth = OAuth2Session(creds.client_id, redirect_uri="http://127.0.0.1:9/cb", scope=["photos:read"],
                          pkce="S256")
    oauth.trust_env = False
    url, _ = oauth.authorization_url(lab.metadata["authorization_endpoint"])
    back = lab.authorize(url, "alice", apisec_lab.DEMO_PASSWORDS["alice"])
    token = oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=back.url,
                              client_secret=creds.client_secret)
    assert jwt.get_unverified_header(token["access_token"])["typ"] == "at+jwt"
    assert oauth.get(lab.api_url + "/photos").status_code == 200


# -- the API's checks -------------------------------------------------------------------------
def test_rfc9068_s4_the_api_accepts_a_valid_jwt_and_records_its_use(lab, alice):
    r = alice.call("/me")
    assert r.status_code == 200 and r.json()["username"] == "alice"
    assert list(lab.events(alice.grant_id)["event"]) == ["consent", "issued", "used"]


def test_rfc6750_s3_1_scope_not_granted_is_403_insufficient_scope(lab, alice):
    r = alice.call("/messages")
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    assert 'scope="messages:read"' in r.headers["WWW-Authenticate"]


def test_machine_jwt_reaches_machine_routes_not_user_ones(lab, http, machine):
    token = machine[1]["access_token"]
    assert http.get(lab.api_url + "/reports/usage", headers=bearer(token)).status_code == 200
    r = http.get(lab.api_url + "/me", headers=bearer(token))        # a user route needs a user behind the token
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"


def test_immediate_revocation_the_api_refuses_a_revoked_jwt_at_once(lab, alice):
    assert alice.call("/photos").status_code == 200
    lab.revoke_app("alice", alice.client_id)
    r = alice.call("/photos")
    assert r.status_code == 401 and r.json()["error_description"] == "The access token was revoked."


def test_rfc7009_a_client_revokes_its_jwt_access_token(lab, alice):
    assert alice.revoke("access_token").status_code == 200
    assert alice.call("/photos").status_code == 401
    assert lab.introspect(alice.access_token) == {"active": False}


def test_rfc7519_s4_1_4_expired_on_the_lab_clock(lab, alice):
    lab.clock.advance(seconds=lab.config.access_ttl)
    r = alice.call("/photos")
    assert r.status_code == 401 and "expired" in r.json()["error_description"]


def test_the_gateway_accepts_lab_jwts_through_introspection(lab, http, alice):
    r = http.get(lab.gateway_url + "/photos", headers=bearer(alice.access_token))
    assert r.status_code == 200


def _resigned(lab, token: str, header: dict | None = None, **claims) -> str:
    """The lab's own key, with a changed header or claims: what only the authorization server could sign."""
    body = {**claims_of(token), **claims}
    return jwt.encode(body, lab.signing_keys._pair()[0], algorithm="RS256",
                      headers=header if header is not None else {"typ": "at+jwt", "kid": lab.signing_keys.kid})


@pytest.mark.parametrize("change, says", [
    ({"iss": "http://127.0.0.1:1"}, "iss is not"),
    ({"aud": "http://127.0.0.1:1"}, "aud is another API"),
    ({"exp": 1}, "expired"),
    ({"exp": "tomorrow"}, "NumericDate"),
])
def test_rfc9068_s4_claims_are_checked_even_under_the_servers_own_signature(lab, http, alice, change, says):
    r = http.get(lab.api_url + "/me", headers=bearer(_resigned(lab, alice.access_token, **change)))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token" and says in r.json()["error_description"]


@pytest.mark.parametrize("header, says", [
    ({"kid": "K"}, "typ"),
    ({"typ": "JWT", "kid": "K"}, "typ"),
    ({"typ": "at+jwt"}, "kid names no key"),
])
def test_rfc8725_s3_11_explicit_typing_and_the_servers_own_kid(lab, http, alice, header, says):
    header = {k: (lab.signing_keys.kid if v == "K" else v) for k, v in header.items()}
    r = http.get(lab.api_url + "/me", headers=bearer(_resigned(lab, alice.access_token, header)))
    assert r.status_code == 401 and says in r.json()["error_description"]


def test_rfc9068_s4_application_at_jwt_is_an_accepted_typ(lab, http, alice):
    token = _resigned(lab, alice.access_token, {"typ": "application/AT+JWT", "kid": lab.signing_keys.kid})
    assert http.get(lab.api_url + "/me", headers=bearer(token)).status_code == 200


def test_rfc9068_s2_2_missing_claims_are_refused(lab, http, alice):
    claims = claims_of(alice.access_token)
    del claims["jti"]
    token = jwt.encode(claims, lab.signing_keys._pair()[0], algorithm="RS256",
                       headers={"typ": "at+jwt", "kid": lab.signing_keys.kid})
    r = http.get(lab.api_url + "/me", headers=bearer(token))
    assert r.status_code == 401 and "lacks the claims jti" in r.json()["error_description"]


HOSTILE = {
    "garbage": "a.b.c",
    "not json": f"{_b64(b'nope')}.{_b64(b'{}')}.",
    "json array header": _token(([1], {}, "")),
    "deep header": f"{_b64(b'[' * 5000 + b']' * 5000)}.e30.",
    "duplicate header member": _b64(b'{"alg":"RS256","alg":"none"}') + ".e30.",
    "huge number": _token(({"alg": "RS256", "typ": "at+jwt"}, _b64(b'{"exp": 1' + b"0" * 5000 + b"}"), "")),
    "alg as object": _token(({"alg": {"x": 1}, "typ": "at+jwt"}, {}, "")),
    "kid as list": _token(({"alg": "RS256", "typ": "at+jwt", "kid": ["a"]}, {}, "sig")),
    "bad signature base64": _token(({"alg": "RS256", "typ": "at+jwt"}, {}, "!!!")),
    "huge kid": _token(({"alg": "RS256", "typ": "at+jwt", "kid": "../" * 2000}, {}, "")),
    "not utf-8": f"{_b64(bytes([0xff, 0xfe]))}.e30.",
    "kid of path separators": _token(({"alg": "HS256", "typ": "at+jwt", "kid": "/" * 3000 + "../\u0000"}, {}, "")),
    "kid naming a blocking device": _token(({"alg": "HS256", "typ": "at+jwt", "kid": "/proc/kmsg"}, {}, "")),
    "jku to a closed port": _token(({"alg": "RS256", "typ": "at+jwt", "jku": "http://127.0.0.1:1/jwks"}, {}, "")),
    "jku to the internet": _token(({"alg": "RS256", "typ": "at+jwt", "jku": "http://example.com/jwks"}, {}, "")),
    "jku not a URL": _token(({"alg": "RS256", "typ": "at+jwt", "jku": "http://[::1/x"}, {}, "")),
}


@pytest.mark.parametrize("switch", [None, "jwt_alg_none", "jwt_no_verify", "jwt_kid_injection", "jwt_jku",
                                    "jwt_alg_confusion", "jwt_weak_secret", "jwt_claims_unchecked"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_rfc6750_s3_1_hostile_jwts_get_401_invalid_token_never_a_5xx(lab, http, name, switch):
    with lab.weaknesses.turned_on(**({switch: True} if switch else {})):
        r = http.get(lab.api_url + "/me", headers=bearer(HOSTILE[name]))
    assert r.status_code in (400, 401), r.text
    assert r.json()["error"] in ("invalid_token", "invalid_request")
    assert lab.errors == []


def test_a_huge_jwt_header_gets_431_not_a_5xx(lab, http):
    token = _token(({"alg": "RS256", "typ": "at+jwt", "pad": "x" * 20000}, {}, ""))
    r = http.get(lab.api_url + "/me", headers=bearer(token))
    assert r.status_code == 431


def test_serve_jwt_registers_the_callers_clients_for_jwt_access_tokens(lab):
    from apisec_lab.__main__ import register_own_clients

    [(creds, uri)] = register_own_clients(lab, [("Postman", "http://127.0.0.1:9/cb", True)], token_format="jwt")
    client = lab.store.client(creds.client_id)
    assert client.token_format == "jwt" and client.public and client.redirect_uris == (uri,)
