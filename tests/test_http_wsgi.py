"""The HTTP layer every lab server shares (apisec_lab/http/wsgi.py): framing, protocol errors, bugs, headers.

Each server is reached over a raw socket, so the request can be exactly as broken as a hostile client makes it.
"""
from __future__ import annotations

import base64
import socket
import threading

import pytest

from apisec_lab.http import wsgi
from apisec_lab.http.wsgi import MAX_BODY, BackgroundServer
from apisec_lab.servers.wiretap import Wiretap

from .conftest import bearer, code_flow
from .rawhttp import exchange, request


def ports(lab) -> dict[str, int]:
    return {s.name: s.port for s in lab._servers}


SERVERS = ["api", "issuer", "apps", "gateway", "attacker", "photoprint", "metadata", "partner"]
#: A path each server answers 200 (the attacker's server 404s until a page is written: that is an answer too).
ALIVE = {"api": ("/health", 200), "gateway": ("/health", 200), "attacker": ("/", 404),
         "issuer": ("/.well-known/oauth-authorization-server", 200), "apps": ("/photocli/callback", 200),
         "photoprint": ("/", 200), "metadata": ("/latest/meta-data/", 200), "partner": ("/v1/status", 200)}


def test_every_lab_server_is_tested_here(lab):
    assert sorted(ports(lab)) == sorted(SERVERS)


def assert_json_error(answer, status, error=None):
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.header("Content-Type") == ["application/json"]
    body = answer.json()
    assert isinstance(body["error"], str) and body["error"] and isinstance(body["error_description"], str)
    if error:
        assert body["error"] == error, body


def still_serving(lab):
    for name, port in ports(lab).items():
        path, status = ALIVE[name]
        assert exchange(port, request("GET", path)).status == status, name


# -- RFC 9112 section 3.2: a request target werkzeug cannot split -------------------------------------
UNPARSEABLE_TARGETS = ["http://[::1/", "http://[::1/photos?x=1", "http://[abc]/", "http://a]b/", "https://[127.0.0.1]/"]


@pytest.mark.parametrize("target", UNPARSEABLE_TARGETS)
@pytest.mark.parametrize("server", SERVERS)
def test_rfc9112_s3_2_unparseable_request_target_gets_400_and_nothing_on_stderr(lab, capfd, server, target):
    answer = exchange(ports(lab)[server], request("GET", target))
    assert_json_error(answer, 400, "invalid_request")
    assert "cannot be parsed" in answer.json()["error_description"]
    assert answer.header("X-Content-Type-Options") == ["nosniff"]
    still_serving(lab)
    assert capfd.readouterr().err == ""
    assert lab.errors == []


@pytest.mark.parametrize("target", ["http://127.0.0.1:99999/", "http://127.0.0.1:65536/health",
                                    "http://127.0.0.1:abc/", "http://[::1/"])
def test_rfc9112_s3_2_wiretap_answers_a_target_it_cannot_parse(lab, capfd, target):
    port = int(lab.wiretap.url.rsplit(":", 1)[1])
    answer = exchange(port, request("GET", target))
    assert_json_error(answer, 400, "invalid_request")
    assert answer.header("X-Content-Type-Options") == ["nosniff"]
    assert capfd.readouterr().err == ""


def test_wiretap_answers_502_when_its_target_does_not(lab):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]          # closed when the block ends: nothing listens there
    lab.wiretap.targets[dead] = "ghost"
    try:
        answer = exchange(int(lab.wiretap.url.rsplit(":", 1)[1]), request("GET", f"http://127.0.0.1:{dead}/"))
    finally:
        del lab.wiretap.targets[dead]
    assert_json_error(answer, 502, "bad_gateway")


@pytest.mark.parametrize("lengths", [["5", "6"], ["5_0"], ["+5"], ["\xb2"]], ids=["two values", "underscore",
                                                                                     "plus sign", "superscript"])
def test_rfc9112_s6_3_wiretap_refuses_an_invalid_content_length(lab, lengths):
    headers = [("Content-Length", v) for v in lengths]
    answer = exchange(int(lab.wiretap.url.rsplit(":", 1)[1]),
                      request("POST", f"{lab.api_url}/photos", headers, body=b"hello"))
    assert_json_error(answer, 400, "invalid_request")


# -- bugs outside the app are recorded like bugs inside it, never printed ---------------------------
@pytest.fixture
def own_server():
    """A bare BackgroundServer with its own errors list: ``(server, errors)``."""
    servers = []

    def make(app):
        errors = []
        server = BackgroundServer(app, "test", errors=errors).start()
        servers.append(server)
        return server, errors
    yield make
    wsgi.stop_all(servers)


def test_a_response_that_fails_midway_is_recorded_not_printed(own_server, capfd):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"half"
        raise RuntimeError("the body generator broke")

    server, errors = own_server(app)
    with pytest.raises(AssertionError):       # the answer is cut short (no complete body)
        exchange(server.port, request("GET", "/"))
    assert len(errors) == 1 and "the body generator broke" in errors[0]["traceback"]
    assert capfd.readouterr().err == ""


def test_a_failure_before_the_app_runs_is_recorded_not_printed(own_server, capfd, monkeypatch):
    def broken(self):
        raise RuntimeError("make_environ broke")

    server, errors = own_server(lambda environ, start_response: [])
    monkeypatch.setattr(wsgi._QuietHandler, "make_environ", broken)
    with pytest.raises(AssertionError):
        exchange(server.port, request("GET", "/"))
    assert len(errors) == 1 and "make_environ broke" in errors[0]["traceback"]
    assert capfd.readouterr().err == ""


def test_a_wiretap_bug_is_recorded_not_printed(lab, capfd, monkeypatch):
    errors = []
    tap = Wiretap(lab.clock, {lab._api.port: "api"}, errors=errors).start()
    try:
        monkeypatch.setattr(Wiretap, "_forward", lambda *a: 1 / 0)
        with pytest.raises(AssertionError):
            exchange(int(tap.url.rsplit(":", 1)[1]), request("GET", f"{lab.api_url}/health"))
    finally:
        tap.stop()
    assert len(errors) == 1 and "ZeroDivisionError" in errors[0]["traceback"]
    assert capfd.readouterr().err == ""


# -- RFC 9112 sections 6.1 and 7.1: chunked bodies are read whole or refused --------------------------
def padded_json(size: int) -> bytes:
    """A valid photo body padded with trailing spaces to *size* bytes: a truncated copy parses just as well."""
    body = b'{"title": "padded"}'
    return body + b" " * (size - len(body))


@pytest.fixture
def writer(lab):
    """Bearer header for a token with photos:write."""
    return bearer(code_flow(lab, "photoprint", ["photos:write"]))


@pytest.mark.parametrize("server, path", [("api", "/photos"), ("gateway", "/photos"), ("issuer", "/token"),
                                          ("apps", "/photocli/callback"), ("attacker", "/exploit")])
def test_rfc9112_s7_1_chunked_body_over_the_limit_is_413_not_truncated(lab, writer, server, path):
    if server == "issuer":
        body = b"grant_type=client_credentials&pad=" + b"a" * MAX_BODY
        creds = lab.clients["backup-bot"]
        basic = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"}
    else:
        body = padded_json(MAX_BODY + 1)
        headers = {"Content-Type": "application/json", **writer}
    method = "GET" if server == "apps" else "POST"
    lab.attacker.serve("/exploit", "<p>the learner's page</p>")
    answer = exchange(ports(lab)[server], request(method, path, headers, body, chunked=True))
    assert_json_error(answer, 413, "request_too_large")
    assert not [p for p in lab.store.photos("alice") if p["title"] == "padded"]    # nothing half-read was stored


@pytest.mark.parametrize("server", ["api", "gateway"])
def test_rfc9112_s7_1_chunked_body_within_the_limit_is_read_whole(lab, writer, server):
    size = MAX_BODY if server == "api" else lab.gateway.policy.route("POST /photos").max_body
    answer = exchange(ports(lab)[server], request("POST", "/photos", {"Content-Type": "application/json", **writer},
                                                  padded_json(size), chunked=True))
    assert answer.status == 201, answer.body[:300]
    assert answer.json()["title"] == "padded"


def test_rfc9112_s7_1_chunked_token_request_is_read_whole(lab):
    creds = lab.clients["backup-bot"]
    body = f"grant_type=client_credentials&client_id={creds.client_id}&client_secret={creds.client_secret}".encode()
    answer = exchange(ports(lab)["issuer"], request("POST", "/token", {
        "Content-Type": "application/x-www-form-urlencoded"}, body, chunked=True))
    assert answer.status == 200, answer.body
    assert answer.json()["token_type"] == "Bearer"


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("name, headers, body", [
    ("Content-Length with chunked", [("Transfer-Encoding", "chunked"), ("Content-Length", "3")], b"3\r\nabc\r\n0\r\n\r\n"),
    ("gzip coding", [("Transfer-Encoding", "gzip"), ("Content-Length", "3")], b"abc"),
    ("chunked then gzip", [("Transfer-Encoding", "chunked, gzip")], b"3\r\nabc\r\n0\r\n\r\n"),
    ("broken chunk size", [("Transfer-Encoding", "chunked")], b"zz\r\nabc\r\n0\r\n\r\n"),
    ("chunk shorter than announced", [("Transfer-Encoding", "chunked")], b"ff\r\nabc"),
])
def test_rfc9112_s6_1_unframeable_bodies_get_400(lab, server, name, headers, body):
    # The head as request() ends it, then the body exactly as the case frames it.
    data = request("POST", "/photos", [("Content-Type", "application/json"), *headers]) + body
    answer = exchange(ports(lab)[server], data)
    assert_json_error(answer, 400, "invalid_request")


# -- X-Content-Type-Options: nosniff, once, on every answer -------------------------------------------
def test_owasp_secure_headers_nosniff_once_on_every_kind_of_answer(lab, writer):
    p = ports(lab)
    cases = {
        "api 200": (p["api"], request("GET", "/health")),
        "api 401": (p["api"], request("GET", "/me")),
        "api 404": (p["api"], request("GET", "/nowhere")),
        "api 201": (p["api"], request("POST", "/photos", {"Content-Type": "application/json", **writer},
                                      b'{"title": "t"}')),
        "issuer metadata": (p["issuer"], request("GET", "/.well-known/oauth-authorization-server")),
        "issuer page": (p["issuer"], request("GET", "/")),
        "issuer token error": (p["issuer"], request("POST", "/token", {"Content-Type":
                                                                       "application/x-www-form-urlencoded"}, b"x=1")),
        "apps page": (p["apps"], request("GET", "/photocli/callback?code=x")),
        "attacker 404": (p["attacker"], request("GET", "/")),
        "gateway 200 (forwarded)": (p["gateway"], request("GET", "/health")),
        "gateway 401 (forwarded)": (p["gateway"], request("GET", "/me", {"Authorization": "Bearer at_x"})),
        "gateway 201 (forwarded)": (p["gateway"], request("POST", "/photos", {"Content-Type": "application/json",
                                                                               **writer}, b'{"title": "t"}')),
        "gateway 404 (its own)": (p["gateway"], request("GET", "/admin/users")),
        "protocol error": (p["api"], b"GET / HTTP/1.1 extra words\r\n\r\n"),
        "wiretap's own error": (int(lab.wiretap.url.rsplit(":", 1)[1]), request("GET", "http://example.org/")),
        "through the wiretap": (int(lab.wiretap.url.rsplit(":", 1)[1]), request("GET", f"{lab.api_url}/health")),
    }
    for name, (port, data) in cases.items():
        answer = exchange(port, data)
        assert answer.header("X-Content-Type-Options") == ["nosniff"], (name, answer.headers)


def test_servers_keep_serving_while_bad_requests_arrive(lab):
    """Bad request lines in parallel with good requests: every good one is answered."""
    p = ports(lab)
    statuses = []

    def bad():
        for _ in range(20):
            exchange(p["api"], request("GET", "http://[::1/"))

    thread = threading.Thread(target=bad)
    thread.start()
    for _ in range(20):
        statuses.append(exchange(p["api"], request("GET", "/health")).status)
    thread.join()
    assert statuses == [200] * 20
