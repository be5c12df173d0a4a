"""Notebook 07 helpers: forging tools, the API's records, the workbench, and the exercises' near misses."""
from __future__ import annotations

import jwt
import pytest

from apisec_lab.book import nb07
from apisec_lab.book.exercises import ____


@pytest.fixture
def bob(lab):
    return nb07.connect_bob(lab)


def test_bob_gets_a_jwt_that_reaches_his_data_only(lab, bob):
    assert "typ\": \"at+jwt\"" in nb07.show_token(bob.access_token)
    assert nb07.outcome(bob.call("/me")) == "200 OK"
    assert nb07.outcome(bob.call("/messages")).startswith("403 FORBIDDEN: insufficient_scope")


def test_as_alice_rewrites_sub_and_scope_and_keeps_the_rest(bob):
    claims = nb07.as_alice(bob.access_token)
    original = jwt.decode(bob.access_token, options={"verify_signature": False})
    assert claims["sub"] == "alice" and "messages:read" in claims["scope"].split()
    assert {k: v for k, v in claims.items() if k not in ("sub", "scope")} == \
        {k: v for k, v in original.items() if k not in ("sub", "scope")}


def test_sign_hs256_by_hand_is_what_pyjwt_verifies(bob):
    token = nb07.sign_hs256({"alg": "HS256", "typ": "at+jwt"}, {"sub": "x"}, b"k" * 32)
    assert jwt.decode(token, b"k" * 32, algorithms=["HS256"]) == {"sub": "x"}


def test_the_wordlist_cracks_the_weak_secret_and_nothing_else(lab):
    with lab.weaknesses.turned_on(jwt_weak_secret=True):
        legacy = nb07.connect_bob(lab)
    found = nb07.crack(legacy.access_token)
    assert found.secret == "your-256-bit-secret-change-me-now" and found.guesses == \
        nb07.wordlist().index(found.secret) + 1
    assert repr(found).startswith("secret found: 'your-256-bit-secret-change-me-now' after ")
    assert nb07.crack(nb07.connect_bob(lab).access_token).secret is None, "RS256 tokens have no HMAC secret"


def test_verdict_shows_the_switch_on_the_record_and_the_switch_off(lab, bob):
    forged = jwt.encode(nb07.as_alice(bob.access_token), None, algorithm="none", headers={"typ": "at+jwt"})
    with lab.weaknesses.turned_on(jwt_alg_none=True):
        on = nb07.call(lab, forged)
    off = nb07.call(lab, forged)
    table = nb07.verdict(lab, forged, on, off)
    rows = table["what happened"].to_dict()
    assert rows["switch on"] == "200 OK: 2 items, owner alice"
    assert rows["the API's record"].startswith("accepted_through_flaw  jwt_alg_none: GET /messages as alice")
    assert rows["switch off again"].startswith("401 UNAUTHORIZED: invalid_token: alg 'none' is not accepted")
    assert [table.kind(r) for _, r in table.frame.iterrows()] == ["bad", "bad", "ok"]
    assert "apisec-bad" in table._repr_html_() and "apisec-ok" in table._repr_html_()


def test_evidence_of_a_token_never_let_in(lab, bob):
    assert str(nb07.evidence(lab, bob.access_token)) == "The API has no record of accepting this token through a flaw."


def test_switches_table_lists_the_seven_jwt_switches_off(lab):
    table = nb07.switches(lab)
    assert list(table.index) == ["jwt_alg_none", "jwt_no_verify", "jwt_weak_secret", "jwt_alg_confusion",
                                 "jwt_kid_injection", "jwt_jku", "jwt_claims_unchecked"]
    assert not table["on"].any()


def test_flaw_shows_the_line_of_the_verifier(lab):
    assert str(nb07.flaw("jwt_no_verify")).startswith('jwt.decode(parsed.token, options={"verify_signature": False})')


@pytest.mark.parametrize("signing, switch", [(label, value) for label, value in [
    ("alg none: no signature", "jwt_alg_none"),
    ("keep the original signature", "jwt_no_verify"),
    ("HS256 with the public key (PEM) as secret", "jwt_alg_confusion"),
    ("HS256 with an empty key (kid to /dev/null)", "jwt_kid_injection"),
    ("RS256 with your own key (jku on the attacker's server)", "jwt_jku"),
]])
def test_the_workbench_forges_each_way_and_the_matching_switch_lets_it_in(lab, bob, signing, switch):
    bench = nb07.Workbench(lab, bob.access_token)
    bench.signing.value = signing
    bench.switch.value = switch
    bench.send_button.click()
    token, r = bench.last
    assert r.status_code == 200 and "the API let the forged token in" in bench.result.value
    assert f"{switch}: GET /messages as alice" in bench.result.value
    bench.switch.value = ""
    assert bench.send().status_code == 401 and "the API refused the forged token" in bench.result.value


def test_the_workbench_with_a_cracked_secret(lab):
    with lab.weaknesses.turned_on(jwt_weak_secret=True):
        legacy = nb07.connect_bob(lab)
    bench = nb07.Workbench(lab, legacy.access_token)
    bench.signing.value, bench.switch.value, bench.path.value = "HS256 with a secret", "jwt_weak_secret", "/me"
    bench.secret.value = nb07.crack(legacy.access_token).secret
    assert bench.send().json()["username"] == "alice"


def test_the_workbench_says_when_the_json_is_broken(lab, bob):
    bench = nb07.Workbench(lab, bob.access_token)
    bench.claims.value = "{not json"
    assert bench.send() is None and "Not JSON" in bench.result.value
    bench.claims.value = "[1, 2]"
    assert bench.send() is None and "JSON objects" in bench.result.value
    assert repr(bench) == "<Workbench: forge a JWT and send it>"


# -- q1 ---------------------------------------------------------------------------------------------------
def _pose():
    nb07.q1.evaluate(____)


def _forged(bob, scope="payment:read", **changes):
    return jwt.encode(nb07.as_alice(bob.access_token, scope=scope, **changes), None, algorithm="none",
                      headers={"typ": "at+jwt"})


def test_q1_passes_on_a_forgery_the_api_took_on_payment_after_the_pose(lab, bob):
    _pose()
    token = _forged(bob)
    with lab.weaknesses.turned_on(jwt_alg_none=True):
        assert nb07.call(lab, token, "/payment").json()["owner"] == "alice"
    assert nb07.q1.evaluate(token)


@pytest.mark.parametrize("setup, says", [
    ("messages", "on GET /messages: send it to GET /payment"),
    ("off", "no record of accepting it through a flaw"),
    ("no scope", "no payment:read"),
    ("bob", "its sub is 'bob'"),
    ("expired", "its exp has passed"),
    ("before", "before this exercise was posed"),
    ("genuine", "one the authorization server issued"),
    ("junk", "three dot-separated parts"),
])
def test_q1_near_misses_say_what_is_wrong(lab, bob, setup, says):
    token = {"no scope": _forged(bob, scope="profile:read"), "messages": _forged(bob, "messages:read payment:read"),
             }.get(setup) or _forged(bob)
    if setup == "before":
        with lab.weaknesses.turned_on(jwt_alg_none=True):
            nb07.call(lab, token, "/payment")
    _pose()
    if setup == "messages":
        with lab.weaknesses.turned_on(jwt_alg_none=True):
            nb07.call(lab, token, "/messages")
    if setup == "expired":
        lab.clock.advance(hours=1)
    if setup == "genuine":
        token = bob.access_token
    if setup == "junk":
        token = 42
    if setup == "bob":
        token = jwt.encode({**nb07.as_alice(bob.access_token, scope="payment:read"), "sub": "bob"}, None,
                           algorithm="none", headers={"typ": "at+jwt"})
    verdict = nb07.q1.evaluate(token)
    assert not verdict and says in verdict.message, verdict.message


# -- q2 ---------------------------------------------------------------------------------------------------
def test_the_corpus_has_at_least_15_tokens_valid_and_forged(lab):
    cases = nb07.corpus(lab)
    assert len(cases) >= 15 and sum(c.valid for c in cases) >= 4 and sum(not c.valid for c in cases) >= 11
    assert len({c.name for c in cases}) == len(cases) and len({c.token for c in cases}) == len(cases)


def test_the_hardened_api_refuses_every_forgery_of_the_corpus_and_accepts_the_valid_users_token(lab):
    for case in nb07.corpus(lab):
        r = nb07.call(lab, case.token, "/me")
        if not case.valid:
            assert r.status_code == 401, case.name
    assert nb07.call(lab, nb07.corpus(lab)[0].token, "/me").json()["username"] == "alice"


def test_q2_the_solution_shown_is_the_one_that_passes(lab):
    assert nb07.q2.evaluate(nb07.q2.reference_answer())
    assert "def verify_access_token(token, jwks, issuer, audience):" in nb07.q2.solution_text


def _decode_only(token, jwks, issuer, audience):
    return jwt.decode(token, options={"verify_signature": False})


def _pyjwt_without_require_or_typ(token, jwks, issuer, audience):
    key = jwt.PyJWKSet.from_dict(jwks).keys[0]
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=issuer)


def _alg_from_header(token, jwks, issuer, audience):
    header = jwt.get_unverified_header(token)
    key = jwt.PyJWKSet.from_dict(jwks).keys[0]
    if header["alg"] == "none":
        return jwt.decode(token, options={"verify_signature": False})
    return jwt.decode(token, key, algorithms=[header["alg"]], audience=audience, issuer=issuer,
                      options={"require": ["exp"]})


def _refuses_everything(token, jwks, issuer, audience):
    raise ValueError("no")


def _returns_true(token, jwks, issuer, audience):
    return True


@pytest.mark.parametrize("answer, says", [
    (_decode_only, "accepted 'alg none'"),
    (_pyjwt_without_require_or_typ, "accepted 'no exp at all'"),
    (_pyjwt_without_require_or_typ, "accepted 'an ID token, not an access token'"),
    (_alg_from_header, "accepted 'alg none'"),
    (_refuses_everything, "refused 'a user's token'"),
    (_returns_true, "instead of its claims"),
    (lambda token: None, "four arguments"),
    ("verify_access_token", "your function itself"),
])
def test_q2_wrong_verifiers_are_told_which_token_and_why(lab, answer, says):
    verdict = nb07.q2.evaluate(answer)
    assert not verdict and says in verdict.message, verdict.message
    assert "tokens mishandled" in verdict.message or says in ("four arguments", "your function itself")
