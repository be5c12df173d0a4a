"""Self-contained JWT access tokens: issuing, the two verifiers, and the revocation gap."""
from __future__ import annotations

import jwt
import pytest

from apisec_lab.book import nb03
from apisec_lab.client import selfcontained


@pytest.fixture
def grant(lab):
    return nb03.connect(lab, "photoprint", ["photos:read"])


@pytest.fixture
def authority(lab):
    return selfcontained.JWTAuthority.for_lab(lab)


def test_issue_carries_rfc9068_claims_on_the_lab_clock(lab, grant, authority):
    lab.clock.advance(hours=2)                       # iat far ahead of the wall clock
    token = authority.issue(grant.grant_id, lifetime=300)
    seen = selfcontained.decode_unverified(token)
    assert seen["header"] == {"alg": authority.algorithm, "typ": "at+jwt"}
    claims = seen["claims"]
    assert set(claims) == set(selfcontained.REQUIRED_CLAIMS)
    assert (claims["iss"], claims["aud"], claims["sub"], claims["client_id"], claims["scope"]) == \
        (lab.issuer, lab.api_url, "alice", "photoprint", "photos:read")
    assert claims["exp"] - claims["iat"] == 300
    assert abs(claims["iat"] - lab.clock.now()) < 2
    assert len(claims["jti"]) == 32
    assert selfcontained.verify_signature_only(token, authority)


def test_issued_jwt_is_known_to_introspection_and_the_lab_api(lab, grant, authority):
    token = authority.issue(grant.grant_id)
    info = lab.introspect(token)
    assert info["active"] and info["scope"] == "photos:read" and info["client_id"] == "photoprint"
    with lab.session() as s:
        r = s.get(lab.api_url + "/photos", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200
    assert lab.events(grant.grant_id)["detail"].str.contains("JWT access token").any()


def test_default_algorithm_is_rs256_and_the_api_holds_only_the_public_key(lab):
    authority = selfcontained.JWTAuthority.for_lab(lab)
    assert authority.algorithm == "RS256"
    assert not hasattr(authority.verification_key, "private_bytes")


def test_unsupported_algorithm(lab):
    with pytest.raises(ValueError, match="unsupported"):
        selfcontained.JWTAuthority.for_lab(lab, "none")


def test_hs256_on_request(lab, grant):
    authority = selfcontained.JWTAuthority.for_lab(lab, "HS256")
    assert authority.verification_key == authority._signing_key   # the shared-secret trade-off
    assert selfcontained.verify_signature_only(authority.issue(grant.grant_id), authority)


def test_issue_refuses_revoked_unknown_and_machine_grants(lab, grant, authority):
    with pytest.raises(KeyError):
        authority.issue(999)
    bot = lab.clients["backup-bot"]
    with lab.session() as s:
        r = s.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                   auth=(bot.client_id, bot.client_secret), timeout=10)
    machine_grant = lab.store.token(r.json()["access_token"])["grant_id"]
    with pytest.raises(ValueError, match="made by a user"):
        authority.issue(machine_grant)
    lab.revoke_grant(grant.grant_id)
    with pytest.raises(ValueError, match="is revoked"):
        authority.issue(grant.grant_id)


def test_signature_only_keeps_accepting_after_revocation_until_exp(lab, grant, authority):
    token = authority.issue(grant.grant_id, lifetime=600)
    lab.revoke_grant(grant.grant_id, "revoked by the user")
    assert lab.introspect(token) == {"active": False}
    check = selfcontained.verify_signature_only(token, authority)
    assert check.accepted and str(check) == "accepted (signature valid, not expired)"
    slow = selfcontained.verify_with_introspection(token, authority)
    assert not slow and slow.reason == "introspection says active: false (revoked)"
    lab.clock.advance(599)
    assert selfcontained.verify_signature_only(token, authority)
    lab.clock.advance(2)
    late = selfcontained.verify_signature_only(token, authority)
    assert not late and late.reason == "expired: exp has passed"
    assert selfcontained.verify_with_introspection(token, authority).reason == "expired: exp has passed"


def test_introspecting_verifier_accepts_an_active_token(grant, authority):
    check = selfcontained.verify_with_introspection(authority.issue(grant.grant_id), authority)
    assert check.accepted and check.claims["sub"] == "alice"


def test_verifier_uses_the_given_time(grant, authority):
    token = authority.issue(grant.grant_id, lifetime=60)
    exp = selfcontained.decode_unverified(token)["claims"]["exp"]
    assert selfcontained.verify_signature_only(token, authority, now=exp - 1)
    assert not selfcontained.verify_signature_only(token, authority, now=exp)


def _forge(authority, token, key=b"not-the-key" * 3, alg="HS256", headers=None, **changes):
    claims = {**selfcontained.decode_unverified(token)["claims"], **changes}
    return jwt.encode(claims, key, algorithm=alg, headers=headers if headers is not None else {"typ": "at+jwt"})


def test_signature_only_rejects_forgeries_and_wrong_audiences(lab, grant, authority):
    token = authority.issue(grant.grant_id)
    head, body, sig = token.split(".")
    tampered = f"{head}.{body}.{sig[:-4]}AAAA"
    assert "InvalidSignatureError" in selfcontained.verify_signature_only(tampered, authority).reason
    assert not selfcontained.verify_signature_only(_forge(authority, token), authority)
    unsigned = jwt.encode(selfcontained.decode_unverified(token)["claims"], None, algorithm="none")
    assert "InvalidAlgorithmError" in selfcontained.verify_signature_only(unsigned, authority).reason
    key = authority._signing_key          # the genuine signer, with wrong claims
    for changes, error in [({"aud": "http://elsewhere"}, "InvalidAudienceError"),
                           ({"iss": "http://elsewhere"}, "InvalidIssuerError")]:
        check = selfcontained.verify_signature_only(_forge(authority, token, key=key, alg=authority.algorithm,
                                                           **changes), authority)
        assert error in check.reason
    plain_jwt = _forge(authority, token, key=key, alg=authority.algorithm, headers={})
    assert "typ must be at+jwt" in selfcontained.verify_signature_only(plain_jwt, authority).reason
    claims = selfcontained.decode_unverified(token)["claims"]
    del claims["jti"]
    missing = jwt.encode(claims, key, algorithm=authority.algorithm, headers={"typ": "at+jwt"})
    assert "MissingRequiredClaimError" in selfcontained.verify_signature_only(missing, authority).reason


def test_two_authorities_do_not_trust_each_other(lab, grant):
    a, b = selfcontained.JWTAuthority.for_lab(lab), selfcontained.JWTAuthority.for_lab(lab)
    assert not selfcontained.verify_signature_only(a.issue(grant.grant_id), b)


def test_check_bool_and_str():
    assert not selfcontained.Check(False, "why")
    assert str(selfcontained.Check(False, "why")) == "rejected (why)"


def test_cost_per_check_is_positive(grant, authority):
    token = authority.issue(grant.grant_id)
    assert selfcontained.cost_per_check(selfcontained.verify_signature_only, token, authority, rounds=3) > 0
