"""CORS (apisec_lab/http/cors.py): off by default; an exact allow-list; never on the authorization endpoint.

What a browser does with these headers is tested in tests/browser/test_cors.py; here, the headers themselves.
"""
from __future__ import annotations

import pytest

import apisec_lab
from apisec_lab.http.cors import ALLOW_HEADERS, Cors, exact_origin, exact_origins
from apisec_lab.lab import Lab

from .conftest import bearer

ORIGIN = "http://127.0.0.1:8000"
OTHER = "http://127.0.0.1:8001"


@pytest.fixture(scope="module")
def cors_lab():
    """A second lab in this process, allowing ORIGIN (the process's own lab stays as it is)."""
    lab = Lab(cors_origins=[ORIGIN]).start()
    yield lab
    errors = list(lab.errors)
    lab.stop()
    assert errors == [], errors[0]["traceback"]


def preflight(session, url, origin=ORIGIN, method="POST", headers="authorization, content-type"):
    return session.options(url, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": headers})


def endpoints(lab) -> dict[str, str]:
    """Every URL CORS must cover, by name."""
    m = lab.metadata
    return {"api": f"{lab.api_url}/me", "api openapi": f"{lab.api_url}/openapi.json",
            "gateway": f"{lab.gateway_url}/photos", "token": m["token_endpoint"],
            "revocation": m["revocation_endpoint"], "introspection": m["introspection_endpoint"],
            "metadata": f"{lab.issuer}/.well-known/oauth-authorization-server"}


# -- the allow-list's spelling -------------------------------------------------------------------------
@pytest.mark.parametrize("origin", ["http://127.0.0.1:8000", "http://localhost:3000", "https://example.org",
                                    "http://[::1]:8080", "http://127.0.0.1"])
def test_exact_origins_are_accepted(origin):
    assert exact_origin(origin) == origin


@pytest.mark.parametrize("origin, hint", [
    ("*", "not an origin the lab will allow"), ("null", "not an origin the lab will allow"),
    ("http://127.0.0.1:8000/", "did you mean 'http://127.0.0.1:8000'"),
    ("http://127.0.0.1:8000/docs", "did you mean 'http://127.0.0.1:8000'"),
    ("HTTP://127.0.0.1:8000", "did you mean 'http://127.0.0.1:8000'"),
    ("http://LOCALHOST:8000", "did you mean 'http://localhost:8000'"),
    ("http://127.0.0.1:80", "did you mean 'http://127.0.0.1'"),
    ("http://user@127.0.0.1:8000", "did you mean 'http://127.0.0.1:8000'"),
    ("127.0.0.1:8000", "write scheme://host:port"), ("ftp://127.0.0.1", "write scheme://host:port"),
    ("http://127.0.0.1:99999", "is not an origin"),
])
def test_anything_but_an_exact_origin_is_refused_with_the_right_spelling(origin, hint):
    with pytest.raises(ValueError, match=hint.replace("(", r"\(").replace("*", r"\*")):
        exact_origin(origin)


def test_origins_keep_their_order_without_repeats():
    assert exact_origins([OTHER, ORIGIN, OTHER]) == (OTHER, ORIGIN)
    assert exact_origins(None) == ()


# -- off by default --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["api", "gateway", "token", "revocation", "introspection", "metadata"])
def test_fetch_cors_off_by_default(http, lab, name):
    url = endpoints(lab)[name]
    r = preflight(http, url)
    assert r.status_code == 405 and "Access-Control-Allow-Origin" not in r.headers
    r = http.get(url, headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in r.headers and "Origin" not in r.headers.get("Vary", "")
    assert lab.cors_origins == ()


# -- on, for the listed origin -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["api", "api openapi", "gateway", "token", "revocation", "introspection",
                                  "metadata"])
def test_fetch_cors_preflight_from_an_allowed_origin(cors_lab, name):
    with cors_lab.session() as s:
        r = preflight(s, endpoints(cors_lab)[name])
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")} >= {
        "authorization", "content-type"}
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in r.headers       # credentials travel in Authorization
    assert "Origin" in r.headers["Vary"]


@pytest.mark.parametrize("name", ["api", "gateway", "token", "metadata"])
def test_fetch_cors_preflight_from_another_origin_is_left_to_fail(cors_lab, name):
    with cors_lab.session() as s:
        for origin in (OTHER, "null", "*", ORIGIN + "/", ORIGIN.upper()):
            r = preflight(s, endpoints(cors_lab)[name], origin=origin)
            assert r.status_code == 405 and "Access-Control-Allow-Origin" not in r.headers, origin


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_rfc9700_s2_6_no_cors_on_the_authorization_endpoint(cors_lab, method):
    authorize = cors_lab.metadata["authorization_endpoint"]
    with cors_lab.session() as s:
        r = preflight(s, authorize, method=method)
        assert r.status_code == 405 and "Access-Control-Allow-Origin" not in r.headers
        r = s.get(authorize, params={"response_type": "code", "client_id": "photocli"}, headers={"Origin": ORIGIN})
        assert "Access-Control-Allow-Origin" not in r.headers
        r = s.get(cors_lab.issuer + "/", headers={"Origin": ORIGIN})      # nor on the server's own page
        assert "Access-Control-Allow-Origin" not in r.headers
        r = s.get(f"{cors_lab.apps_url}/photocli/callback", headers={"Origin": ORIGIN})   # nor on the apps' pages
        assert "Access-Control-Allow-Origin" not in r.headers


def test_fetch_cors_answers_name_the_origin_once(cors_lab):
    """A real client-credentials round: token, API, gateway; each answer names the origin exactly once."""
    bot = cors_lab.clients["backup-bot"]
    with cors_lab.session() as s:
        token = s.post(cors_lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                       auth=(bot.client_id, bot.client_secret), headers={"Origin": ORIGIN})
        assert token.status_code == 200 and token.headers["Access-Control-Allow-Origin"] == ORIGIN
        answers = [token]
        for base in (cors_lab.api_url, cors_lab.gateway_url):
            for headers in (bearer(token.json()), {}):              # a 200 and a 401
                answers.append(s.get(f"{base}/reports/usage", headers={**headers, "Origin": ORIGIN}))
        assert [r.status_code for r in answers] == [200, 200, 401, 200, 401]
        for r in answers:
            raw = r.raw.headers            # urllib3's, where repeated headers stay separate
            assert raw.getlist("Access-Control-Allow-Origin") == [ORIGIN], r.url
            assert raw.getlist("X-Content-Type-Options") == ["nosniff"]
            assert [v.strip() for v in ",".join(raw.getlist("Vary")).split(",")].count("Origin") == 1
            assert "WWW-Authenticate" in r.headers["Access-Control-Expose-Headers"]
        other = s.get(f"{cors_lab.api_url}/health", headers={"Origin": OTHER})
        assert "Access-Control-Allow-Origin" not in other.headers and "Origin" in other.headers["Vary"]


def test_cors_with_no_origins_changes_nothing():
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request, Response

    request = Request(EnvironBuilder(method="OPTIONS", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST"}).get_environ())
    off = Cors(())
    assert off.preflight(request) is None
    response = Response("x")
    off.decorate(request, response)
    assert "Vary" not in response.headers and "Access-Control-Allow-Origin" not in response.headers
    assert set(ALLOW_HEADERS) >= {"Authorization", "Content-Type"}


def test_start_with_other_origins_replaces_the_lab(lab):
    try:
        allowed = apisec_lab.start(cors_origins=[ORIGIN])
        assert allowed is not lab and allowed.cors_origins == (ORIGIN,) and not lab.healthy()
        assert apisec_lab.start(cors_origins=[ORIGIN]) is allowed
        with pytest.raises(ValueError, match="did you mean"):
            apisec_lab.start(cors_origins=[ORIGIN + "/"])
        assert apisec_lab.start(cors_origins=[ORIGIN]) is allowed      # a refused spelling stopped nothing
    finally:
        assert apisec_lab.start().cors_origins == ()
