"""The API gateway: each policy on and off, over real HTTP against a started lab."""
from __future__ import annotations

import base64
import collections
import secrets
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
from werkzeug.test import Client

import apisec_lab
from apisec_lab.core.clock import LabClock
from apisec_lab.http.wsgi import guard
from apisec_lab.servers.endpoints import ENDPOINTS
from apisec_lab.servers.gateway import (
    CREDENTIAL_PARAMS,
    Gateway,
    Introspector,
    Limit,
    Upstream,
    mask_authorization,
    mask_target,
)
from apisec_lab.servers.gateway.ratelimit import RateWindows

from .conftest import bearer, code_flow

ALICE = ("alice", apisec_lab.DEMO_PASSWORDS["alice"])


@pytest.fixture
def api_hits(lab):
    """Every request that reaches the API server, as (method, raw target)."""
    hits: list[tuple[str, str]] = []
    inner = lab._api.server.app

    def recording(environ, start_response):
        hits.append((environ["REQUEST_METHOD"], environ.get("RAW_URI", "")))
        return inner(environ, start_response)

    lab._api.server.app = recording
    yield hits
    lab._api.server.app = inner


def gw(lab, path):
    return lab.gateway_url + path


def last(lab):
    return lab.gateway.records[-1]


# -- same paths, two doors -------------------------------------------------------------
def test_gateway_serves_the_api_paths(http, lab):
    token = code_flow(lab, "photocli", ["profile:read", "photos:read"])
    for path, headers in [("/health", {}), ("/openapi.json", {}), ("/me", bearer(token)),
                          ("/photos", bearer(token)), ("/photos/1", bearer(token))]:
        direct = http.get(lab.api_url + path, headers=headers)
        via = http.get(gw(lab, path), headers=headers)
        assert (via.status_code, via.json()) == (direct.status_code, direct.json()), path
        assert via.headers["Via"] == "1.1 apisec-lab-gateway"
    assert lab.gateway.counts()["allowed"] == 5


def test_rfc9209_proxy_status_tells_the_gateways_refusals_from_the_apis_answers(http, lab, api_hits):
    token = code_flow(lab, "photocli", ["profile:read"])
    forwarded = [http.get(gw(lab, "/me"), headers=bearer(token)), http.get(gw(lab, "/photos"), headers=bearer(token))]
    # s2.1.3 received-status: what the next hop answered (the API's 403 for a missing scope is the API's own)
    with lab.gateway.policy.changed(introspection=False):
        forwarded.append(http.get(gw(lab, "/photos"), headers=bearer(token)))
    assert [r.status_code for r in forwarded] == [200, 403, 403]
    assert [r.headers["Proxy-Status"] for r in forwarded] == [
        "apisec-lab-gateway; received-status=200", 'apisec-lab-gateway; error=http_request_denied; '
        'details="insufficient_scope"', "apisec-lab-gateway; received-status=403"]
    assert len(api_hits) == 2
    # s2.3: a request the gateway answers itself names the error type and, in details, the policy's reason
    refused = {"credential_in_url": http.get(gw(lab, "/me"), params={"access_token": token["access_token"]}),
               "not_in_allow_list": http.get(gw(lab, "/admin/users")),
               "missing_token": http.get(gw(lab, "/me"))}
    for reason, r in refused.items():
        assert r.headers["Proxy-Status"] == f'apisec-lab-gateway; error=http_request_denied; details="{reason}"'
        assert r.raw.headers.getlist("Proxy-Status") == [r.headers["Proxy-Status"]]     # once
    assert len(api_hits) == 2
    # nothing secret in it: the details are the policy's fixed reason names
    assert token["access_token"] not in "".join(r.headers["Proxy-Status"] for r in refused.values())


def test_rfc9209_proxy_status_error_types_for_what_the_gateway_could_not_do(lab):
    from apisec_lab.servers.gateway.proxy import proxy_status
    assert proxy_status(reason="bad_request") == 'apisec-lab-gateway; error=http_request_error; details="bad_request"'
    assert proxy_status(reason="upstream_unavailable") == ('apisec-lab-gateway; error=destination_unavailable; '
                                                           'details="upstream_unavailable"')
    assert proxy_status(received=502) == "apisec-lab-gateway; received-status=502"


def test_head_keeps_the_get_length(http, lab):
    get, head = http.get(gw(lab, "/openapi.json")), http.head(gw(lab, "/openapi.json"))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == str(len(get.content))


def test_post_and_put_bodies_are_forwarded(http, lab):
    token = code_flow(lab, "photoprint", ["photos:write"])
    r = http.post(gw(lab, "/photos"), json={"title": "Through the gateway"}, headers=bearer(token))
    assert r.status_code == 201 and r.json()["owner"] == "alice"


def test_policy_routes_are_derived_from_the_api_table(lab):
    routes = {(r.method, r.path): r.scope for r in lab.gateway.policy.routes}
    assert routes == {(e.method, e.path): e.scope for e in ENDPOINTS if e.published}
    assert ("GET", "/admin/users") not in routes
    assert set(lab.gateway.policy.switches()) == {"introspection", "rate_limit", "credential_placement",
                                                  "size_limits", "allow_list", "log_masking"}
    assert all(lab.gateway.policy.switches().values())
    assert lab.gateway.policy.route("POST /photos").max_body > 0
    assert lab.gateway.policy.route("GET", "/me").max_body == 0
    with pytest.raises(KeyError):
        lab.gateway.policy.route("DELETE /me")


def test_the_wiretap_knows_the_gateway(lab):
    with lab.session(tapped=True) as s:
        assert s.get(gw(lab, "/health")).status_code == 200
    assert lab.wiretap.last().server == "gateway"


# -- allow-list ---------------------------------------------------------------------------
def test_unpublished_admin_route_never_reaches_the_api(http, lab, api_hits):
    lab.weaknesses.open_admin_route = True
    assert http.get(lab.api_url + "/admin/users").status_code == 200      # the careless API answers anyone
    api_hits.clear()
    r = http.get(gw(lab, "/admin/users"))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert last(lab).reason == "not_in_allow_list" and api_hits == []


def test_allow_list_off_passes_unknown_paths_through(http, lab, api_hits):
    lab.weaknesses.open_admin_route = True
    with lab.gateway.policy.changed(allow_list=False):
        r = http.get(gw(lab, "/admin/users"))
    assert r.status_code == 200 and {u["username"] for u in r.json()} >= {"alice", "bob"}
    assert api_hits == [("GET", "/admin/users")] and last(lab).reason == "allowed"


def test_admin_route_stays_closed_without_the_weakness(http, lab):
    with lab.gateway.policy.changed(allow_list=False):
        assert http.get(gw(lab, "/admin/users")).status_code == 404      # the API's unknown-path answer


def test_method_not_on_the_allow_list_is_405_with_allow(http, lab, api_hits):
    r = http.delete(gw(lab, "/me"))
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, PATCH" and r.json()["error"] == "method_not_allowed"
    assert api_hits == []


# -- token validation at the edge ---------------------------------------------------------------
@pytest.mark.parametrize("on", [True, False])
def test_unknown_token(http, lab, api_hits, on):
    with lab.gateway.policy.changed(introspection=on):
        r = http.get(gw(lab, "/me"), headers=bearer("at_" + "B" * 43))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert (api_hits == []) is on                 # on: refused at the edge; off: the API refuses it
    assert last(lab).reason == ("token_inactive" if on else "allowed")


@pytest.mark.parametrize("on", [True, False])
def test_scope_checked_at_the_edge(http, lab, api_hits, on):
    token = code_flow(lab, "photocli", ["profile:read"])
    with lab.gateway.policy.changed(introspection=on):
        r = http.get(gw(lab, "/photos"), headers=bearer(token))
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    assert 'scope="photos:read"' in r.headers["WWW-Authenticate"]
    assert (api_hits == []) is on


def test_client_credentials_token_on_user_route_and_on_its_own(http, lab):
    bot = lab.clients["backup-bot"]
    tok = http.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                    auth=(bot.client_id, bot.client_secret)).json()
    assert http.get(gw(lab, "/reports/usage"), headers=bearer(tok)).status_code == 200
    assert last(lab).client == "backup-bot" and last(lab).user is None
    r = http.get(gw(lab, "/me"), headers=bearer(tok))
    assert r.status_code == 403 and last(lab).reason == "insufficient_scope"


def test_no_token_and_odd_schemes(http, lab, api_hits):
    r = http.get(gw(lab, "/me"))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith('Bearer realm="apisec-lab"')
    assert last(lab).reason == "missing_token"
    r = http.get(gw(lab, "/me"), headers={"Authorization": "Digest x=1"})
    assert r.status_code == 401 and last(lab).reason == "unsupported_scheme"
    r = http.get(gw(lab, "/me"), headers={"Authorization": "Bearer <script>"})
    assert r.status_code == 400 and last(lab).reason == "malformed_token"
    assert api_hits == []


def test_introspection_is_cached_and_staleness_after_revocation_is_measured(http, lab, api_hits):
    token = code_flow(lab, "photocli", ["profile:read"])
    ttl = lab.gateway.policy.cache_ttl
    assert ttl == 5.0
    assert http.get(gw(lab, "/me"), headers=bearer(token)).status_code == 200
    assert http.get(gw(lab, "/me"), headers=bearer(token)).status_code == 200
    assert lab.gateway.introspections == 1 and "cached" in last(lab).detail
    assert lab.revoke_app("alice", "photocli") == 1
    # Stale: the gateway still lets the revoked token through; the API behind refuses it itself.
    api_hits.clear()
    r = http.get(gw(lab, "/me"), headers=bearer(token))
    assert r.status_code == 401 and last(lab).reason == "allowed" and len(api_hits) == 1
    stale = 0.0
    while last(lab).reason == "allowed":
        lab.clock.advance(0.5)
        stale += 0.5
        http.get(gw(lab, "/me"), headers=bearer(token))
        assert stale <= ttl + 1
    assert last(lab).reason == "token_inactive" and stale == pytest.approx(ttl, abs=0.5)


def test_cache_ttl_zero_sees_revocation_at_once(http, lab):
    token = code_flow(lab, "photocli", ["profile:read"])
    lab.gateway.policy.cache_ttl = 0
    assert http.get(gw(lab, "/me"), headers=bearer(token)).status_code == 200
    lab.revoke_app("alice", "photocli")
    assert http.get(gw(lab, "/me"), headers=bearer(token)).status_code == 401
    assert last(lab).reason == "token_inactive" and lab.gateway.introspections == 2


def test_expiry_is_honoured_even_from_the_cache(http, lab):
    token = code_flow(lab, "photocli", ["profile:read"])
    lab.gateway.policy.cache_ttl = 3600
    assert http.get(gw(lab, "/me"), headers=bearer(token)).status_code == 200
    lab.clock.advance(minutes=16)
    assert http.get(gw(lab, "/me"), headers=bearer(token)).status_code == 401
    assert last(lab).reason == "token_inactive" and lab.gateway.introspections == 1


# -- rate limits ---------------------------------------------------------------------------------------
def test_per_client_limit_answers_429_with_retry_after(http, lab):
    token = code_flow(lab, "photocli", ["profile:read"])
    lab.gateway.policy.per_client = Limit(5, 60)
    statuses = [http.get(gw(lab, "/me"), headers=bearer(token)).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    r = http.get(gw(lab, "/me"), headers=bearer(token))
    assert r.status_code == 429 and r.json()["error"] == "too_many_requests"
    assert 1 <= int(r.headers["Retry-After"]) <= 60 and "photocli" in r.json()["error_description"]
    # Another app of the same user is not punished for photocli's flood ...
    other = code_flow(lab, "chatpal", ["profile:read"])
    assert http.get(gw(lab, "/me"), headers=bearer(other)).status_code == 200
    # ... and photocli may go again once the window has passed (lab clock).
    lab.clock.advance(int(r.headers["Retry-After"]))
    assert http.get(gw(lab, "/me"), headers=bearer(token)).status_code == 200


def test_per_user_limit_spans_the_users_apps(http, lab):
    a = code_flow(lab, "photocli", ["profile:read"])
    b = code_flow(lab, "chatpal", ["profile:read"])
    lab.gateway.policy.per_user = Limit(3, 60)
    statuses = [http.get(gw(lab, "/me"), headers=bearer(t)).status_code for t in (a, b, a, b)]
    assert statuses == [200, 200, 200, 429] and "user alice" in last(lab).detail


def test_per_address_limit_throttles_basic_guessing(http, lab, api_hits):
    lab.weaknesses.basic_auth = True
    lab.gateway.policy.route("GET /me").basic = True       # a legacy exception: Basic allowed here
    lab.gateway.policy.per_address = Limit(3, 60)
    statuses = [http.get(gw(lab, "/me"), auth=("alice", f"guess-{i}")).status_code for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429] and len(api_hits) == 3
    assert "Retry-After" in http.get(gw(lab, "/me"), auth=ALICE).headers     # even the right one must wait


def test_rate_limit_off_lets_the_flood_through(http, lab):
    token = code_flow(lab, "photocli", ["profile:read"])
    lab.gateway.policy.per_client = Limit(2, 60)
    with lab.gateway.policy.changed(rate_limit=False):
        assert {http.get(gw(lab, "/me"), headers=bearer(token)).status_code for _ in range(5)} == {200}


# -- credential placement ----------------------------------------------------------------------------
@pytest.mark.parametrize("param", sorted(CREDENTIAL_PARAMS))
def test_credentials_in_the_query_are_refused(http, lab, api_hits, param):
    r = http.get(gw(lab, "/health"), params={param: "secret-value"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request" and param in r.json()["error_description"]
    assert last(lab).reason == "credential_in_url" and api_hits == []
    assert "secret-value" not in str(lab.gateway.log_frame().to_dict())


def test_token_in_url_passes_only_with_the_check_off_and_the_api_weak(http, lab):
    token = code_flow(lab, "photocli", ["profile:read"])["access_token"]
    lab.weaknesses.token_in_query = True
    assert http.get(gw(lab, "/me"), params={"access_token": token}).status_code == 400
    with lab.gateway.policy.changed(credential_placement=False):
        r = http.get(gw(lab, "/me"), params={"access_token": token})
    assert r.status_code == 200 and r.json()["username"] == "alice"


@pytest.mark.parametrize("on", [True, False])
def test_basic_on_a_token_only_route(http, lab, api_hits, on):
    lab.weaknesses.basic_auth = True
    with lab.gateway.policy.changed(credential_placement=on):
        r = http.get(gw(lab, "/me"), auth=ALICE)
    if on:
        assert r.status_code == 401 and "only Bearer" in r.json()["error_description"] and api_hits == []
        assert last(lab).reason == "basic_refused" and last(lab).user == "alice"
    else:
        assert r.status_code == 200 and r.json()["username"] == "alice" and len(api_hits) == 1


def test_two_credentials_in_one_request_are_refused(http, lab):
    r = http.get(gw(lab, "/me"), headers={"Authorization": "Bearer a, Bearer b"})   # what a repeated header becomes
    assert r.status_code == 400 and last(lab).reason == "duplicate_authorization"


# -- size limits ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("on", [True, False])
def test_size_limits(http, lab, on):
    token = code_flow(lab, "photoprint", ["photos:write"])
    big_header = {"X-Padding": "p" * 10_000}                   # over the gateway's 8 KiB, under the API's 16 KiB
    with lab.gateway.policy.changed(size_limits=on):
        headers = http.get(gw(lab, "/health"), headers=big_header)
        url = http.get(gw(lab, "/health"), params={"q": "x" * 3000})
        body = http.post(gw(lab, "/photos"), json={"title": "t" * 20_000}, headers=bearer(token))
        get_body = http.get(gw(lab, "/health"), data=b"unexpected")
    if on:
        assert (headers.status_code, url.status_code, body.status_code, get_body.status_code) == (431, 414, 413, 413)
        assert "accepts at most 16384" in body.json()["error_description"]
        assert "takes no body" in get_body.json()["error_description"]
    else:   # the API's own, looser limits and checks apply
        assert (headers.status_code, url.status_code, body.status_code, get_body.status_code) == (200, 200, 400, 200)


# -- the access log ------------------------------------------------------------------------------------------
def test_log_masks_secrets(http, lab):
    token = code_flow(lab, "photocli", ["profile:read"])["access_token"]
    http.get(gw(lab, "/me"), headers=bearer(token))
    http.get(gw(lab, "/me"), params={"access_token": token, "page": "2"})
    http.get(gw(lab, "/me"), auth=ALICE)
    frame = lab.gateway.log_frame()
    text = frame.to_string() + str(frame.to_dict())
    assert token not in text and ALICE[1] not in text
    assert base64.b64encode(f"{ALICE[0]}:{ALICE[1]}".encode()).decode() not in text
    assert list(frame["authorization"]) == ["Bearer at_…(masked)", "", "Basic …(masked)"]
    assert frame["path"].iloc[1] == "/me?access_token=***&page=2"
    assert list(frame.columns[:6]) == ["at", "method", "path", "status", "decision", "reason"]


def test_log_unmasked_keeps_the_secret(http, lab):
    token = code_flow(lab, "photocli", ["profile:read"])["access_token"]
    with lab.gateway.policy.changed(log_masking=False):
        http.get(gw(lab, "/me"), params={"access_token": token})
        http.get(gw(lab, "/me"), headers=bearer(token))
    frame = lab.gateway.log_frame()
    assert token in frame["path"].iloc[0] and frame["authorization"].iloc[1] == f"Bearer {token}"


@pytest.mark.parametrize("raw, masked", [
    ("Bearer at_abcdefghijklmnop", "Bearer at_…(masked)"),
    ("Bearer opaque", "Bearer …(masked)"),
    ("Basic YWxpY2U6eA==", "Basic …(masked)"),
    ("Bearer", "Bearer"),
    ("", ""),
])
def test_mask_authorization(raw, masked):
    assert mask_authorization(raw) == masked


@pytest.mark.parametrize("raw, masked", [
    ("/me?access_token=abc&x=1", "/me?access_token=***&x=1"),
    ("/me?PASSWORD=hunter2", "/me?PASSWORD=***"),
    ("/me?access%5Ftoken=abc", "/me?access%5Ftoken=***"),
    ("/photos/at_abcdefghijklmnopqrstu", "/photos/at_…(masked)"),
    ("/me?q=a%20b&token", "/me?q=a%20b&token"),
])
def test_mask_target(raw, masked):
    assert mask_target(raw) == masked


def test_counters_by_reason(http, lab):
    http.get(gw(lab, "/health"))
    http.get(gw(lab, "/nope"))
    http.get(gw(lab, "/me"))
    http.get(gw(lab, "/health"), params={"token": "x"})
    assert lab.gateway.counts() == {"allowed": 1, "rejected": 3, "not_in_allow_list": 1,
                                    "credential_in_url": 1, "missing_token": 1}
    frame = lab.gateway.counters()
    assert frame.loc["allowed", "requests"] == 1 and frame.loc["missing_token", "status"] == 401
    assert "Gateway" in repr(lab.gateway) and "1 allowed, 3 rejected" in repr(lab.gateway)


def test_reset_restores_the_policy_and_empties_the_log(http, lab):
    lab.gateway.policy.rate_limit = False
    lab.gateway.policy.route("GET /me").basic = True
    http.get(gw(lab, "/health"))
    lab.reset()
    assert all(lab.gateway.policy.switches().values()) and not lab.gateway.policy.route("GET /me").basic
    assert lab.gateway.records == [] and lab.gateway.counts() == {"allowed": 0, "rejected": 0}


def test_policy_changed_rejects_unknown_settings(lab):
    with pytest.raises(AttributeError):
        with lab.gateway.policy.changed(firewall=True):
            pass
    with pytest.raises(ValueError):
        Limit(0, 60)
    assert "cache_ttl" in lab.gateway.policy.table().index


# -- bad input: a clear 4xx, never a 5xx, and the gateway keeps serving ------------------------------------
def _raw(lab, data: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", lab._gateway.port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    status_line = out.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), out


MALFORMED = [
    # (name, raw request, expected status)
    ("garbage request line", b"HELLO\r\n\r\n", 400),
    ("unknown HTTP version", b"GET /health HTTP/9.9\r\n\r\n", 400),
    ("header line over 64 KiB", b"GET /health HTTP/1.1\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    ("unknown method", b"FOO /health HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    ("OPTIONS", b"OPTIONS /me HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    ("path traversal", b"GET /photos/../admin/users HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ("double slash", b"GET //admin/users HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ("absolute URI to elsewhere", b"GET http://evil.example/admin/users HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ("bad percent-encoding", b"GET /photos/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ("NUL in path", b"GET /health%00 HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ("non-UTF-8 path", b"GET /ph\xf6tos HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ("photo id over 64 bits", b"GET /photos/99999999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ("control character in a header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400),
    ("control character in Host (never forwarded)", b"GET /health HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 200),
    ("Digest with commas", b"GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Digest a=1, b=2\r\n\r\n", 401),
    ("Bearer not a token", b"GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xe9\r\n\r\n", 400),
    ("Bearer empty", b"GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \r\n\r\n", 400),
    ("two Authorization headers", b"GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n"
                                  b"Authorization: Bearer b\r\n\r\n", 400),
    ("Basic not base64", b"GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\n\r\n", 401),
    ("chunked body on a GET", b"GET /me HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"5\r\nhello\r\n0\r\n\r\n", 413),
    ("broken chunk size", b"POST /photos HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("chunked body over the limit", b"POST /photos HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    b"8000\r\n" + b"a" * 0x8000 + b"\r\n0\r\n\r\n", 413),
    ("Content-Length over the limit", b"POST /photos HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n", 413),
    ("body shorter than Content-Length", b"POST /photos HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", 400),
    ("Content-Length not a number", b"POST /photos HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 401),
    ("credentials in the query", b"GET /health?password=hunter2 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("URL over the limit", b"GET /health?q=" + b"x" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("no Host header", b"GET /health HTTP/1.1\r\n\r\n", 200),
    ("HTTP/1.0", b"GET /health HTTP/1.0\r\n\r\n", 200),
    ("HEAD", b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    ("non-ASCII query", b"GET /health?q=\xff HTTP/1.1\r\nHost: x\r\n\r\n", 200),
]


@pytest.mark.parametrize("name, data, expected", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_a_clear_answer(http, lab, name, data, expected):
    lab.gateway.policy.per_address = Limit(1000, 60)
    status, raw = _raw(lab, data)
    assert status == expected, raw[:300]
    assert status < 500
    if status >= 400:
        assert b'"error"' in raw and b'"error_description"' in raw
    assert http.get(gw(lab, "/health")).status_code == 200     # and the gateway keeps serving


def test_upstream_down_is_502_not_a_crash(http, lab):
    with socket.socket() as s:            # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    real = lab.gateway.upstream
    lab.gateway.upstream = Upstream("127.0.0.1", dead_port)
    try:
        r = http.get(gw(lab, "/health"))
    finally:
        lab.gateway.upstream = real
    assert r.status_code == 502 and r.json()["error"] == "bad_gateway" and last(lab).reason == "upstream_unavailable"
    assert http.get(gw(lab, "/health")).status_code == 200


def test_a_dead_spare_connection_is_replaced(http, lab):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        dead = socket.create_connection(listener.getsockname())
        listener.accept()[0].close()                  # the other side hangs up: the spare reads EOF
    with lab.gateway.upstream._lock:
        previous, lab.gateway.upstream._spare = lab.gateway.upstream._spare, (dead, time.monotonic())
    if previous is not None:
        previous[0].close()
    assert http.get(gw(lab, "/health")).status_code == 200
    assert dead.fileno() == -1                        # closed, not used


def test_stopping_a_lab_closes_its_spare_connection():
    lab = apisec_lab.Lab().start()
    try:
        with lab.session() as s:
            assert s.get(lab.gateway_url + "/health").status_code == 200
        deadline = time.monotonic() + 2     # the spare opens once the answer has left, off the request's clock
        while lab.gateway.upstream._spare is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lab.gateway.upstream._spare is not None
    finally:
        lab.stop()
    assert lab.gateway.upstream._spare is None and lab.errors == []


# -- concurrency ----------------------------------------------------------------------------------------------
def test_concurrent_clients(lab):
    token = code_flow(lab, "photocli", ["profile:read", "photos:read"])
    lab.gateway.policy.per_client = lab.gateway.policy.per_user = Limit(10_000, 60)
    statuses: list[int] = []
    lock = threading.Lock()

    def client():
        with lab.session() as s:
            for i in range(15):
                r = s.get(gw(lab, "/me" if i % 2 else "/photos"), headers=bearer(token))
                with lock:
                    statuses.append(r.status_code)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert statuses == [200] * 120
    records = lab.gateway.records
    assert len(records) == 120 and len({r.id for r in records}) == 120
    assert lab.gateway.counts()["allowed"] == 120 and lab.gateway.introspections <= 8


# -- issue 9: the hardened default holds ----------------------------------------------------------------------------
@pytest.fixture
def introspection_calls(lab):
    """Every request that reaches the authorization server's introspection endpoint."""
    calls: list[str] = []
    inner = lab._issuer.server.app
    path = urlsplit(lab.metadata["introspection_endpoint"]).path

    def recording(environ, start_response):
        if environ["PATH_INFO"] == path:
            calls.append(environ["REQUEST_METHOD"])
        return inner(environ, start_response)

    lab._issuer.server.app = recording
    yield calls
    lab._issuer.server.app = inner


def _head(port: int, request: bytes) -> tuple[int, list[tuple[str, str]]]:
    """Status and header lines, exactly as sent (requests would merge repeated headers)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    lines = out.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return int(lines[0].split()[1]), [tuple(p.strip() for p in line.split(":", 1)) for line in lines[1:]]


def _garbage() -> str:
    return "at_" + secrets.token_urlsafe(32)


def test_rfc9110_s5_3_forwarded_answers_repeat_no_header(lab):
    token = code_flow(lab, "photoprint", ["profile:read", "photos:read", "photos:write"])["access_token"]
    auth = f"Authorization: Bearer {token}\r\n"
    photo = 'Content-Type: application/json\r\nContent-Length: 14\r\n\r\n{"title": "t"}'
    for method, path, extra in [("GET", "/health", ""), ("GET", "/me", auth), ("HEAD", "/openapi.json", ""),
                                ("GET", "/photos/5", auth), ("POST", "/photos", auth + photo)]:
        request = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}"
        request = (request if "Content-Length" in extra else request + "\r\n").encode()
        status, via = _head(lab._gateway.port, request)
        direct_status, direct = _head(lab._api.port, request)
        assert status == direct_status == (201 if method == "POST" else 404 if path == "/photos/5" else 200), via
        names = collections.Counter(k.lower() for k, _ in via)
        direct_names = collections.Counter(k.lower() for k, _ in direct)
        assert names["content-type"] == 1, (path, via)                          # not the gateway's default as well
        assert dict(via)["Content-Type"] == dict(direct)["Content-Type"] and names["via"] == 1
        for name in ("x-content-type-options", "cache-control", "www-authenticate", "date", "server"):
            assert names[name] == direct_names[name] <= 1, (path, name, via, direct)
    status, own = _head(lab._gateway.port, b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 404 and all(n <= 1 for n in collections.Counter(k.lower() for k, _ in own).values())


def test_owasp_api4_garbage_tokens_are_limited_per_address_before_introspection(http, lab, api_hits,
                                                                             introspection_calls):
    lab.gateway.policy.per_address = Limit(5, 60)
    statuses = [http.get(gw(lab, "/me"), headers=bearer(_garbage())).status_code for _ in range(20)]
    assert statuses == [401] * 5 + [429] * 15
    assert len(introspection_calls) == 5 == lab.gateway.introspections       # not 20: no amplification
    assert last(lab).reason == "rate_limited" and "address 127.0.0.1" in last(lab).detail and api_hits == []
    r = http.get(gw(lab, "/me"))                                              # no token at all: the same window
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    lab.clock.advance(61)
    assert http.get(gw(lab, "/me"), headers=bearer(_garbage())).status_code == 401


def test_owasp_api4_requests_without_a_token_are_limited_per_address(http, lab, api_hits):
    lab.gateway.policy.per_address = Limit(3, 60)
    statuses = [http.get(gw(lab, "/me"), headers=h).status_code
                for h in ({}, {"Authorization": "Digest x=1"}, {}, {}, {"Authorization": "Bearer <script>"})]
    assert statuses == [401, 401, 401, 429, 429] and api_hits == []


def test_valid_tokens_do_not_spend_the_address_window(http, lab):
    token = code_flow(lab, "photocli", ["profile:read"])
    lab.gateway.policy.per_address = Limit(2, 60)
    lab.gateway.policy.cache_ttl = 0                         # every request asks the authorization server
    assert [http.get(gw(lab, "/me"), headers=bearer(token)).status_code for _ in range(8)] == [200] * 8
    assert lab.gateway.introspections == 8
    assert [http.get(gw(lab, "/me")).status_code for _ in range(3)] == [401, 401, 429]


def test_a_flooded_address_still_serves_a_token_the_cache_knows(http, lab, introspection_calls):
    token = code_flow(lab, "photocli", ["profile:read"])
    assert http.get(gw(lab, "/me"), headers=bearer(token)).status_code == 200      # cached as active
    lab.gateway.policy.per_address = Limit(3, 60)
    for _ in range(6):
        http.get(gw(lab, "/me"), headers=bearer(_garbage()))
    assert last(lab).reason == "rate_limited"
    assert http.get(gw(lab, "/me"), headers=bearer(token)).status_code == 200      # no introspection call needed
    assert len(introspection_calls) == 1 + 3


SECRET_TOKEN = "at_" + "Zq8" * 14                       # shaped like the lab's tokens
OPAQUE = "kT4mW9pXv2LqR7sN3bYc8HdF6gJ1aE5u"             # someone else's token: no prefix at all
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSIsInNjb3BlIjoicGhvdG9zIn0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
BASIC = base64.b64encode(b"alice:" + ALICE[1].encode()).decode()
LEAKY = [
    # (how, raw header lines or target)
    ("tab after the scheme", b"Authorization: Bearer\t" + SECRET_TOKEN.encode()),
    ("non-breaking space (latin-1)", b"Authorization: Bearer\xa0" + OPAQUE.encode()),
    ("non-breaking space (UTF-8)", b"Authorization: Bearer\xc2\xa0" + OPAQUE.encode()),
    ("no scheme", b"Authorization: " + OPAQUE.encode()),
    ("no scheme, lab token", b"Authorization: " + SECRET_TOKEN.encode()),
    ("glued to the scheme", b"Authorization: Bearer" + OPAQUE.encode()),
    ("unknown scheme", b"Authorization: Token " + OPAQUE.encode()),
    ("Basic with a tab", b"Authorization: Basic\t" + BASIC.encode()),
    ("bare Basic credentials", b"Authorization: " + BASIC.encode()),
    ("a JWT", b"Authorization: Bearer " + JWT.encode()),
    ("two headers", b"Authorization: Bearer " + OPAQUE.encode() + b"\r\nAuthorization: Bearer " + JWT.encode()),
]
LEAKY_TARGETS = [
    f"/me?q={OPAQUE}", f"/me?debug={JWT}", f"/me?session={ALICE[1]}", f"/me?code={OPAQUE}",
    f"/me?x=at%5F{SECRET_TOKEN[3:]}", f"/me?access%5Ftoken={OPAQUE}", f"/photos/{OPAQUE}", f"/{SECRET_TOKEN}",
    f"/me?{OPAQUE}", f"/me?h=Bearer%20{OPAQUE}", f"/me?pwd={ALICE[1]}&next=/photos",
]


def _leaks(text: str) -> list[str]:
    """Any 10-character stretch of a secret found in *text* (catches partial and prefix-cut leaks)."""
    found = []
    for secret in (SECRET_TOKEN[3:], OPAQUE, JWT, BASIC, ALICE[1]):
        found += [secret[i:i + 10] for i in range(len(secret) - 9) if secret[i:i + 10] in text]
    return found


@pytest.mark.parametrize("introspection", [True, False])
def test_owasp_api8_no_secret_reaches_any_log_while_masking_is_on(lab, introspection):
    lab.gateway.policy.per_address = Limit(1000, 60)
    lab.gateway.policy.introspection = introspection
    for _, header in LEAKY:
        _head(lab._gateway.port, b"GET /me HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n")
    for target in LEAKY_TARGETS:
        _head(lab._gateway.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert len(lab.gateway.records) == len(LEAKY) + len(LEAKY_TARGETS)
    frame = lab.gateway.log_frame()
    logs = "\n".join([repr(lab.gateway.records), frame.to_string(), str(frame.to_dict()), frame.to_html(),
                      lab.gateway.counters().to_string(), str(lab.gateway.counts()), repr(lab.gateway)])
    assert _leaks(logs) == []


def test_masking_keeps_what_a_reader_needs(lab):
    lab.gateway.policy.per_address = Limit(1000, 60)
    for _, header in LEAKY[:3]:
        _head(lab._gateway.port, b"GET /me HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n")
    assert [r.authorization for r in lab.gateway.records] == ["Bearer at_…(masked)", "Bearer …(masked)",
                                                               "Bearer …(masked)"]
    with lab.gateway.policy.changed(log_masking=False):       # the switch off really shows the secret
        _head(lab._gateway.port, b"GET /me HTTP/1.1\r\nHost: x\r\n" + LEAKY[0][1] + b"\r\nConnection: close\r\n\r\n")
    assert last(lab).authorization == f"Bearer\t{SECRET_TOKEN}"


def test_rfc6749_s1_5_a_refresh_token_is_not_a_bearer_credential(http, lab, api_hits):
    token = code_flow(lab, "photoprint", ["profile:read"])
    assert lab.introspect(token["refresh_token"])["active"] is True          # introspection alone says "active"
    for _ in range(2):                                                         # fresh, then from the cache
        r = http.get(gw(lab, "/me"), headers=bearer(token["refresh_token"]))
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        assert last(lab).reason == "not_an_access_token"
    assert api_hits == [] and lab.gateway.introspections == 1
    assert http.get(gw(lab, "/me"), headers=bearer(token)).status_code == 200   # the access token still works


def test_rfc6750_s3_every_insufficient_scope_carries_its_challenge(http, lab):
    cron = lab.register_client("Cron", scopes=["profile:read", "reports:read"])   # a machine client, user scopes
    with lab.session() as s:
        machine = s.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                         auth=(cron.client_id, cron.client_secret)).json()
    narrow = code_flow(lab, "photocli", ["profile:read"])
    lab.weaknesses.basic_auth = True
    answers = [http.get(gw(lab, "/me"), headers=bearer(machine)),                 # gateway: no user
               http.get(lab.api_url + "/me", headers=bearer(machine)),            # API: no user
               http.get(gw(lab, "/photos"), headers=bearer(narrow)),              # gateway: scope
               http.get(lab.api_url + "/photos", headers=bearer(narrow)),         # API: scope
               http.get(lab.api_url + "/reports/usage", auth=ALICE)]              # API: a password has no scope
    for r, scope in zip(answers, ["profile:read", "profile:read", "photos:read", "photos:read", "reports:read"],
                        strict=True):
        assert r.status_code == 403 and r.json()["error"] == "insufficient_scope", r.text
        challenge = r.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="apisec-lab"'), challenge
        assert 'error="insufficient_scope"' in challenge and f'scope="{scope}"' in challenge


@pytest.mark.parametrize("headers, reason, error", [
    ({}, "missing_token", "unauthorized"),
    ({"Authorization": "Digest x=1"}, "unsupported_scheme", "unauthorized"),
    ({"Authorization": f"Bearer\t{SECRET_TOKEN}"}, "unsupported_scheme", "unauthorized"),
    ({"Authorization": OPAQUE}, "unsupported_scheme", "unauthorized"),
    ({"Authorization": f"Basic {BASIC}"}, "basic_refused", "unauthorized"),
    ({"Authorization": f"Bearer {SECRET_TOKEN}"}, "token_inactive", "invalid_token"),
])
def test_rfc6750_s3_1_gateway_401_bodies_name_the_right_error(http, lab, headers, reason, error):
    r = http.get(gw(lab, "/me"), headers=headers)
    assert (r.status_code, r.json()["error"], last(lab).reason) == (401, error, reason)
    challenge = r.headers["WWW-Authenticate"]
    # RFC 6750 s3.1: no error code when the request had no usable Bearer credentials at all.
    assert ('error="invalid_token"' in challenge) is (error == "invalid_token") and "invalid_request" not in challenge
    assert _leaks(r.text) == [], "the answer echoes the credential"


def test_a_gateway_is_built_from_its_parts_not_the_lab(lab):
    """Gateway(clock, upstream, introspector): here a clock of its own, in front of the lab's API."""
    clock, rs = LabClock(), lab.clients["resource-server"]
    api = urlsplit(lab.api_url)
    gateway = Gateway(clock, Upstream(api.hostname, api.port, warm=False),
                      Introspector(lab.metadata["introspection_endpoint"], rs.client_id, rs.client_secret, clock))
    errors: list = []
    client = Client(guard(gateway, errors))
    token = code_flow(lab, "photocli", ["profile:read"])
    assert client.get("/me", headers=bearer(token)).json["username"] == "alice"
    assert gateway.introspections == 1 and lab.gateway.introspections == 0 and errors == []
    clock.advance(minutes=16)                                   # its own clock: the token expired for it alone
    assert client.get("/me", headers=bearer(token)).status_code == 401
    assert gateway.records[-1].reason == "token_inactive"


def test_made_up_tokens_do_not_grow_the_rate_windows_without_end(lab):
    windows, limit = RateWindows(max_keys=100), Limit(5, 60)
    for i in range(1000):                      # introspection off: each token is its own window
        assert windows.take([(("token", str(i)), limit)], now=float(i)) is None
        assert len(windows) <= 100
    assert [windows.take([(("token", "x"), limit)], now=2000.0) is None for _ in range(6)] == [True] * 5 + [False]
