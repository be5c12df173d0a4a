"""Bad input gets a clear 4xx with an RFC-style JSON error: never a 5xx, and the lab keeps serving."""
import base64
import socket
import threading
import time

import pytest

from .conftest import bearer, code_flow

INJECTION = ["' OR '1'='1", "<script>alert(1)</script>", "../../etc/passwd", "${jndi:ldap://x/a}",
             "%00", "\u202egnp.exe", "a" * 5000]


def api(lab, path="/photos"):
    return f"{lab.api_url}{path}"


def token_endpoint(lab):
    return lab.metadata["token_endpoint"]


def pp(lab):
    c = lab.clients["photoprint"]
    return (c.client_id, c.client_secret)


# (name, method, url(lab), kwargs(lab), expected status, expected error code)
CASES = [
    ("basic without colon", "GET", api, lambda lab: {"headers": {"Authorization": "Basic YWxpY2U="}}, 400, "invalid_request"),
    ("basic invalid base64", "GET", api, lambda lab: {"headers": {"Authorization": "Basic !!!notbase64"}}, 400, "invalid_request"),
    ("basic non-utf8", "GET", api, lambda lab: {"headers": {"Authorization": "Basic /w=="}}, 400, "invalid_request"),
    ("basic empty", "GET", api, lambda lab: {"headers": {"Authorization": "Basic "}}, 400, "invalid_request"),
    ("basic while switched off", "GET", api, lambda lab: {"auth": ("alice", "x")}, 401, "unauthorized"),
    ("bearer empty", "GET", api, lambda lab: {"headers": {"Authorization": "Bearer "}}, 400, "invalid_request"),
    ("bearer garbage chars", "GET", api, lambda lab: {"headers": {"Authorization": "Bearer <script>"}}, 400, "invalid_request"),
    ("bearer two words", "GET", api, lambda lab: {"headers": {"Authorization": "Bearer a b"}}, 400, "invalid_request"),
    ("bearer well-formed unknown", "GET", api, lambda lab: {"headers": {"Authorization": "Bearer abc.def"}}, 401, "invalid_token"),
    ("bearer huge", "GET", api, lambda lab: {"headers": {"Authorization": "Bearer " + "A" * 10000}}, 401, "invalid_token"),
    ("unknown scheme", "GET", api, lambda lab: {"headers": {"Authorization": "Digest x=1"}}, 401, "unauthorized"),
    ("over-long headers", "GET", api, lambda lab: {"headers": {f"X-Pad-{i}": "p" * 4000 for i in range(6)}}, 431,
     "request_header_fields_too_large"),
    ("token in query", "GET", api, lambda lab: {"params": {"access_token": "at_x"}}, 400, "invalid_request"),
    ("huge body", "POST", api, lambda lab: {"data": b"x" * 200_000, "headers": {"Content-Type": "application/json"}},
     413, "request_too_large"),
    ("unknown path", "GET", lambda lab: api(lab, "/photos/not-a-number"), lambda lab: {}, 404, "not_found"),
    ("photo id beyond 64 bits", "GET", lambda lab: api(lab, "/photos/" + "9" * 30),
     lambda lab: {"headers": {"Authorization": "Bearer unknown"}}, 401, "invalid_token"),
    ("token: unknown client", "POST", token_endpoint,
     lambda lab: {"data": {"grant_type": "client_credentials"}, "auth": ("ghost", "x")}, 401, "invalid_client"),
    ("token: wrong secret", "POST", token_endpoint,
     lambda lab: {"data": {"grant_type": "client_credentials"}, "auth": ("backup-bot", "nope")}, 401, "invalid_client"),
    ("token: malformed basic", "POST", token_endpoint,
     lambda lab: {"data": {"grant_type": "client_credentials"}, "headers": {"Authorization": "Basic ???"}}, 401, "invalid_client"),
    ("token: unsupported grant", "POST", token_endpoint,
     lambda lab: {"data": {"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}, "auth": pp(lab)}, 400,
     "unsupported_grant_type"),
    ("token: json body", "POST", token_endpoint,
     lambda lab: {"json": {"grant_type": "client_credentials"}, "auth": pp(lab)}, 400, "invalid_request"),
    ("token: query on POST", "POST", lambda lab: token_endpoint(lab) + "?grant_type=client_credentials",
     lambda lab: {"data": {"grant_type": "client_credentials"}, "auth": pp(lab)}, 400, "invalid_request"),
    ("token: duplicate grant_type", "POST", token_endpoint,
     lambda lab: {"data": "grant_type=authorization_code&grant_type=authorization_code&code=x",
                  "headers": {"Content-Type": "application/x-www-form-urlencoded"}, "auth": pp(lab)}, 400, "invalid_request"),
    ("token: missing PKCE verifier", "POST", token_endpoint,
     lambda lab: {"data": {"grant_type": "authorization_code", "code": "nope"}, "auth": pp(lab)}, 400, "invalid_grant"),
    ("token: huge body", "POST", token_endpoint,
     lambda lab: {"data": {"grant_type": "x" * 100_000}, "auth": pp(lab)}, 413, "request_too_large"),
    ("token: GET", "GET", token_endpoint, lambda lab: {}, 405, "method_not_allowed"),
    ("authorize: bad redirect", "GET", lambda lab: lab.metadata["authorization_endpoint"],
     lambda lab: {"params": {"response_type": "code", "client_id": "photocli", "redirect_uri": "http://evil.example/cb",
                             "code_challenge": "c" * 43, "code_challenge_method": "S256"}}, 400, "invalid_request"),
    ("authorize: unknown client", "GET", lambda lab: lab.metadata["authorization_endpoint"],
     lambda lab: {"params": {"response_type": "code", "client_id": "ghost"}}, 400, "invalid_request"),
    ("authorize: missing client", "GET", lambda lab: lab.metadata["authorization_endpoint"],
     lambda lab: {"params": {"response_type": "code"}}, 400, "invalid_request"),
    ("authorize: raw invalid chars", "GET", lambda lab: lab.metadata["authorization_endpoint"] + "?client_id=a b<>\"",
     lambda lab: {}, 400, None),
    ("revoke: no token", "POST", lambda lab: lab.metadata["revocation_endpoint"],
     lambda lab: {"data": {}, "auth": pp(lab)}, 400, "invalid_request"),
    ("introspect: unauthenticated", "POST", lambda lab: lab.metadata["introspection_endpoint"],
     lambda lab: {"data": {"token": "x"}}, 401, "invalid_client"),
    ("callback: wrong method", "POST", lambda lab: f"{lab.apps_url}/photocli/callback", lambda lab: {}, 405,
     "method_not_allowed"),
]


@pytest.mark.parametrize("name, method, url, kwargs, status, error", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_gets_a_clear_4xx(http, lab, name, method, url, kwargs, status, error):
    if name.startswith("basic ") and "switched off" not in name:
        lab.weaknesses.basic_auth = True  # otherwise any Basic header is refused before it is parsed
    r = http.request(method, url(lab), timeout=10, **kwargs(lab))
    assert r.status_code == status, r.text[:300]
    body = r.json()
    assert set(body) <= {"error", "error_description", "state"} and body["error"]
    if error:
        assert body["error"] == error
    assert http.get(f"{lab.api_url}/health").status_code == 200


@pytest.mark.parametrize("value", INJECTION, ids=range(len(INJECTION)))
def test_injection_looking_strings_in_every_parameter(http, lab, value):
    """Each parameter of each endpoint gets hostile text; answers are 2xx-4xx, never 5xx."""
    pp_id, pp_secret = pp(lab)
    auth_ep = lab.metadata["authorization_endpoint"]
    base = {"response_type": "code", "client_id": "photocli", "scope": "photos:read", "state": "s",
            "redirect_uri": f"{lab.apps_url}/photocli/callback", "code_challenge": "c" * 43,
            "code_challenge_method": "S256"}
    for key in base:
        r = http.get(auth_ep, params={**base, key: value}, allow_redirects=False)
        assert r.status_code < 500, (key, r.status_code)
        r = http.post(auth_ep, params=base, data={"username": value, "password": value, "scope": value,
                                                  "decision": "approve"}, allow_redirects=False)
        assert r.status_code in (302, 403, 429), r.status_code   # 429: sign-in throttling after 5 failures
    for data in ({"grant_type": value}, {"grant_type": "authorization_code", "code": value, "code_verifier": value,
                                         "redirect_uri": value}, {"grant_type": "refresh_token", "refresh_token": value},
                 {"grant_type": "client_credentials", "scope": value}):
        r = http.post(lab.metadata["token_endpoint"], data=data, auth=(pp_id, pp_secret))
        assert 400 <= r.status_code < 500 and "error" in r.json()
    for endpoint in ("revocation_endpoint", "introspection_endpoint"):
        r = http.post(lab.metadata[endpoint], data={"token": value, "token_type_hint": value}, auth=(pp_id, pp_secret))
        assert r.status_code < 500
    basic = base64.b64encode(f"{value}:{value}".encode()).decode()
    r = http.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                  headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 401
    token = code_flow(lab, "photoprint", ["photos:read", "photos:write"])
    r = http.post(f"{lab.api_url}/photos", json={"title": value[:200]}, headers=bearer(token))
    assert r.status_code in (201, 400)
    r = http.get(f"{lab.api_url}/photos", params={"q": value}, headers=bearer(token))
    assert r.status_code == 200
    r = http.get(f"{lab.apps_url}/photocli/callback", params={"code": value, "state": value})
    assert r.status_code == 200 and "<script>" not in r.text
    assert http.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 200


def raw_exchange(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("payload, status", [
    (b"GET /health HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
    (b"GET / HTTP/1.1 extra words\r\n\r\n", b"400"),
    (b"GET /health HTTP/9.9\r\n\r\n", b"400"),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", b"414"),
    (b"GET /photos HTTP/1.1\r\nAuthorization: Basic \xff\xfe\r\n\r\n", b"40"),
    (b"GET /photos HTTP/1.1\r\nAuthorization: Bearer \xc3\x28\r\n\r\n", b"40"),
], ids=["header line over 64 KiB", "garbled request line", "unsupported HTTP version", "request line over 64 KiB", "latin-1 basic", "bad utf-8 bearer"])
def test_protocol_level_garbage_gets_a_json_4xx(lab, payload, status):
    port = int(lab.api_url.rsplit(":", 1)[1])
    response = raw_exchange(port, payload)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.split(b" ")[1].startswith(status), head[:100]
    assert b'"error"' in body
    assert raw_exchange(port, b"GET /health HTTP/1.0\r\n\r\n").split(b" ")[1] == b"200"


def test_revocation_under_concurrent_use_is_immediate(lab):
    """Once the revocation request returns, no request with that token succeeds."""
    token = code_flow(lab, "photoprint", ["photos:read"])
    revoked_at = []
    results = []
    stop = threading.Event()

    def hammer():
        with lab.session() as s:
            while not stop.is_set():
                started = time.monotonic()
                status = s.get(f"{lab.api_url}/photos", headers=bearer(token), timeout=10).status_code
                results.append((started, status))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    with lab.session() as s:
        c = lab.clients["photoprint"]
        r = s.post(lab.metadata["revocation_endpoint"], data={"token": token["refresh_token"]},
                   auth=(c.client_id, c.client_secret))
    revoked_at.append(time.monotonic())
    assert r.status_code == 200
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    before = [s for t, s in results if t < revoked_at[0]]
    after = [s for t, s in results if t > revoked_at[0]]
    assert before.count(200) > 5 and len(after) > 5
    assert set(after) == {401}, f"{after.count(200)} requests succeeded after revocation returned"
