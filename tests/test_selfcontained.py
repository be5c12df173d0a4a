"""Self-contained JWT access tokens from the outside: the JWT client, the signature-only API, the revocation gap."""
from __future__ import annotations

import jwt
import pytest

from apisec_lab.client import selfcontained


@pytest.fixture
def app(lab):
    return selfcontained.jwt_app(lab, "Gallery JWT", ["photos:read"], lifetime=300)


@pytest.fixture
def api(lab):
    return selfcontained.SignatureOnlyAPI(lab)


def test_jwt_app_carries_rfc9068_claims_on_the_lab_clock(lab):
    lab.clock.advance(hours=2)                       # iat far ahead of the wall clock
    app = selfcontained.jwt_app(lab, "Gallery JWT", ["photos:read"], lifetime=300)
    seen = selfcontained.decode_unverified(app.access_token)
    assert seen["header"] == {"alg": "RS256", "typ": "at+jwt", "kid": lab.signing_keys.kid}
    claims = seen["claims"]
    assert set(claims) == set(selfcontained.REQUIRED_CLAIMS)
    assert (claims["iss"], claims["aud"], claims["sub"], claims["client_id"], claims["scope"]) == \
        (lab.issuer, lab.api_url, "alice", app.client_id, "photos:read")
    assert claims["exp"] - claims["iat"] == 300 == app.last_token_response["expires_in"]
    assert abs(claims["iat"] - lab.clock.now()) < 2
    assert len(claims["jti"]) == 32
    assert selfcontained.verify_signature_only(app.access_token, selfcontained.SignatureOnlyAPI(lab))


def test_the_jwt_is_known_to_introspection_and_the_lab_api(lab, app):
    info = lab.introspect(app.access_token)
    assert info["active"] and info["scope"] == "photos:read" and info["client_id"] == app.client_id
    assert app.call("/photos").status_code == 200
    assert list(lab.events(app.grant_id)["event"]) == ["consent", "issued", "used"]


def test_the_signature_only_api_holds_only_the_public_key(api):
    assert list(api.keys) and not any(hasattr(k, "private_bytes") for k in api.keys.values())


def test_signature_only_keeps_accepting_after_revocation_until_exp(lab, app, api):
    token = app.access_token
    lab.revoke_grant(app.grant_id, "revoked by the user")
    assert lab.introspect(token) == {"active": False}
    assert app.call("/photos").status_code == 401          # the lab's API asks the store
    check = selfcontained.verify_signature_only(token, api)
    assert check.accepted and str(check) == "accepted (signature valid, not expired)"
    slow = selfcontained.verify_with_introspection(token, api)
    assert not slow and slow.reason == "introspection says active: false (revoked)"
    lab.clock.advance(299)
    assert selfcontained.verify_signature_only(token, api)
    lab.clock.advance(2)
    late = selfcontained.verify_signature_only(token, api)
    assert not late and "expired" in late.reason
    assert "expired" in selfcontained.verify_with_introspection(token, api).reason


def test_introspecting_verifier_accepts_an_active_token(app, api):
    check = selfcontained.verify_with_introspection(app.access_token, api)
    assert check.accepted and check.claims["sub"] == "alice"


def test_verifier_uses_the_given_time(app, api):
    exp = selfcontained.decode_unverified(app.access_token)["claims"]["exp"]
    assert selfcontained.verify_signature_only(app.access_token, api, now=exp - 1)
    assert not selfcontained.verify_signature_only(app.access_token, api, now=exp)


def test_signature_only_rejects_forgeries(app, api):
    token = app.access_token
    head, body, sig = token.split(".")
    assert "does not verify" in selfcontained.verify_signature_only(f"{head}.{body}.{sig[:-4]}AAAA", api).reason
    claims = selfcontained.decode_unverified(token)["claims"]
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt"})
    assert "alg 'none' is not accepted" in selfcontained.verify_signature_only(unsigned, api).reason
    hs = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"typ": "at+jwt"})
    assert "RS256 only" in selfcontained.verify_signature_only(hs, api).reason


def test_a_reset_rotates_the_key_so_old_jwts_no_longer_verify(lab, app):
    token = app.access_token
    lab.reset()
    assert not selfcontained.verify_signature_only(token, selfcontained.SignatureOnlyAPI(lab))
    with lab.session() as s:
        r = s.get(lab.api_url + "/photos", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 401 and "kid names no key" in r.json()["error_description"]


def test_check_bool_and_str():
    assert not selfcontained.Check(False, "why")
    assert str(selfcontained.Check(False, "why")) == "rejected (why)"


def test_cost_per_check_is_positive(app, api):
    assert selfcontained.cost_per_check(selfcontained.verify_signature_only, app.access_token, api, rounds=3) > 0
