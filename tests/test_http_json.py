"""JSON request bodies (apisec_lab/http/jsonbody.py): RFC 8259 with limits, on every body route, direct and gatewayed."""
from __future__ import annotations

import json

import pytest

import apisec_lab
from apisec_lab.http.jsonbody import MAX_DEPTH, MAX_NUMBER_CHARS, InvalidJSON, parse_json
from apisec_lab.servers.endpoints import ENDPOINTS

from .conftest import bearer, code_flow

BODY_ROUTES = [e for e in ENDPOINTS if e.body is not None]


def nested(depth: int) -> list:
    """``[[...[]...]]``, *depth* lists deep."""
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_every_body_route_is_covered():
    assert {(e.method, e.path) for e in BODY_ROUTES} == {
        ("POST", "/photos"), ("POST", "/messages"), ("PUT", "/payment"), ("PATCH", "/me"), ("POST", "/support/credits"),
        ("POST", "/coupons/redeem"), ("POST", "/webhooks/test"), ("POST", "/prints")}


# -- the parser ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [
    ('{"title": "x"}', {"title": "x"}),
    ('{"a": [1, 2.5, -0, 1e3, true, false, null]}', {"a": [1, 2.5, 0, 1000.0, True, False, None]}),
    ('"\\ud83d\\ude00"', "\U0001F600"),                                     # a surrogate *pair* is one character
    ('"caf\u00e9 \\u0000"', "caf\u00e9 \x00"),
    ("[" * MAX_DEPTH + "]" * MAX_DEPTH, nested(MAX_DEPTH)),
    ("9" * MAX_NUMBER_CHARS, int("9" * MAX_NUMBER_CHARS)),
])
def test_rfc8259_valid_json_within_the_limits_parses(text, value):
    assert parse_json(text.encode()) == value


@pytest.mark.parametrize("data, reason", [
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper"),                  # s9: depth
    (b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), "nested deeper"),
    (b"[" * 100_000, "nested deeper"),                                                    # RecursionError inside json
    (b"[" * 50_000 + b"]" * 50_000, "nested deeper"),
    (b"9" * 5000, "characters is over the limit"),                                        # s9: int() refuses > 4300
    (b"9" * (MAX_NUMBER_CHARS + 1), "characters is over the limit"),
    (b"0." + b"1" * 5000, "characters is over the limit"),
    (b"1e400", "out of range"),                                                           # overflows a double
    (b"-1e400", "out of range"),
    (b"NaN", "not a JSON value"),                                                         # s6
    (b"[Infinity]", "not a JSON value"),
    (b'{"t": -Infinity}', "not a JSON value"),
    (b'"\\ud800"', "lone UTF-16 surrogate"),                                              # s8.2
    (b'{"title": "\\udfff"}', "lone UTF-16 surrogate"),
    (b'{"\\ud800": 1}', "lone UTF-16 surrogate"),
    (b'["\\ude00\\ud83d"]', "lone UTF-16 surrogate"),                                    # a pair in the wrong order
    (b'{"a": 1, "a": 2}', "appears twice"),                                               # s4
    (b'[{"x": {"a": 1, "b": 2, "a": 3}}]', "appears twice"),
    (b'"\xff"', "not UTF-8"),                                                             # s8.1
    (b'"\xed\xa0\x80"', "not UTF-8"),                                                     # a surrogate encoded in UTF-8
    (b"\xef\xbb\xbf{}", "not valid JSON"),                                                # a BOM
    (b"", "not valid JSON"),
    (b"{'single': 'quotes'}", "not valid JSON"),
    (b'{"a": 1,}', "not valid JSON"),
])
def test_rfc8259_limits_are_refused_with_a_reason(data, reason):
    with pytest.raises(InvalidJSON, match=reason):
        parse_json(data)


# -- over HTTP, every body route, straight to the API and through the gateway --------------------------
HOSTILE = {
    "deep nesting": lambda field: '{"%s": %s1%s}' % (field, "[" * 5000, "]" * 5000),
    "a 5000-digit integer": lambda field: '{"%s": %s}' % (field, "9" * 5000),
    "a lone surrogate": lambda field: '{"%s": "\\ud800"}' % field,
    "NaN": lambda field: '{"%s": NaN}' % field,
    "a member twice": lambda field: '{"%s": "a", "%s": "b"}' % (field, field),
}


@pytest.fixture
def writer(lab):
    """A token holding every write scope: a client registered for this test, through the real code flow."""
    from requests_oauthlib import OAuth2Session

    scopes = sorted({e.scope for e in BODY_ROUTES})
    creds = lab.register_client("Body tester", redirect_uris=[f"{lab.apps_url}/tester/callback"], scopes=scopes)
    oauth = OAuth2Session(creds.client_id, redirect_uri=f"{lab.apps_url}/tester/callback", scope=scopes,
                          pkce="S256")
    oauth.trust_env = False
    url, _ = oauth.authorization_url(lab.metadata["authorization_endpoint"])
    back = lab.authorize(url, "alice", apisec_lab.DEMO_PASSWORDS["alice"])
    lab.store.update_account("alice", {"role": "staff"})      # so the staff route reads its body too
    return oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=back.url,
                             client_secret=creds.client_secret)


@pytest.mark.parametrize("via", ["api", "gateway"])
@pytest.mark.parametrize("case", list(HOSTILE))
@pytest.mark.parametrize("endpoint", BODY_ROUTES, ids=[f"{e.method} {e.path}" for e in BODY_ROUTES])
def test_rfc8259_hostile_json_gets_400_on_every_body_route(http, lab, writer, endpoint, case, via):
    field = next(iter(endpoint.body["properties"]))
    base = lab.api_url if via == "api" else lab.gateway_url
    r = http.request(endpoint.method, base + endpoint.path, data=HOSTILE[case](field).encode(),
                     headers={**bearer(writer), "Content-Type": "application/json"})
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"] == "invalid_request" and "RFC 8259" in r.json()["error_description"]
    assert lab.errors == []


@pytest.mark.parametrize("via", ["api", "gateway"])
def test_valid_unicode_still_goes_through(http, lab, via):
    token = code_flow(lab, "photoprint", ["photos:write"])
    base = lab.api_url if via == "api" else lab.gateway_url
    title = "Caf\u00e9 \U0001F600"
    r = http.post(f"{base}/photos", data=json.dumps({"title": title}).encode(),       # ASCII with \\u escapes
                  headers={**bearer(token), "Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201 and r.json()["title"] == title


def test_a_body_that_is_not_json_is_415(http, lab):
    token = code_flow(lab, "photoprint", ["photos:write"])
    r = http.post(f"{lab.api_url}/photos", data="title=x", headers={**bearer(token),
                                                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
