"""Property: whatever a client sends, every lab server answers, below 500, with an RFC-style JSON error on a 4xx.

Hypothesis builds requests for every route of every server, read from the servers' own route tables (the
API's and the gateway's from :data:`apisec_lab.servers.endpoints.ENDPOINTS`, the authorization server's and
the apps' from their werkzeug maps), so a new route is covered without touching this file.  Each request
varies its request line (method, target in origin or absolute form, version), its headers (Authorization
valid or not, Content-Type, Origin, Host, anything else) and its body (form parameters named by the OAuth
RFCs, JSON shaped by the route's schema, raw bytes; by Content-Length or chunked), and goes over a raw
socket, straight to each server, through the gateway and through the wiretap.  For every answer:

- there is one (never a dropped connection), and its status is below 500;
- a 4xx carries ``{"error": ..., "error_description": ...}`` as JSON (RFC 6749 section 5.2, RFC 6750
  section 3), except the sign-in page's own HTML, which a person reads;
- it carries ``X-Content-Type-Options: nosniff`` exactly once;
- ``lab.errors`` stays empty, and nothing reaches stderr.

The examples are derandomized (the same every run, so the suite cannot flake) and bounded: about
:data:`EXAMPLES` per server.  ``APISEC_PROPERTIES=explore`` draws ten times as many, at random.
"""
from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from urllib.parse import quote, quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import apisec_lab
from apisec_lab.lab import Lab
from apisec_lab.servers.api import ResourceAPI
from apisec_lab.servers.attacker import AttackerServer
from apisec_lab.servers.endpoints import ENDPOINTS, RULE_PARAM
from apisec_lab.servers.gateway import Gateway

from .rawhttp import exchange

EXAMPLES = 300
ORIGIN = "http://127.0.0.1:8000"      # allowed by the lab under test, so CORS answers are exercised too
settings.register_profile("apisec", max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck), print_blob=True)
settings.register_profile("apisec-explore", max_examples=10 * EXAMPLES, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck), print_blob=True)
PROFILE = settings.get_profile("apisec-explore" if os.environ.get("APISEC_PROPERTIES") == "explore" else "apisec")

#: Parameters the OAuth RFCs name (RFC 6749 s4.1, s4.4, s6; RFC 7636 s4; RFC 7009 s2.1; RFC 7662 s2.1),
#: the sign-in form's fields, and parameters that must never be accepted (credentials in a URL).
OAUTH_PARAMS = ["response_type", "client_id", "redirect_uri", "scope", "state", "code", "code_verifier",
                "code_challenge", "code_challenge_method", "grant_type", "refresh_token", "client_secret",
                "token", "token_type_hint", "response_mode", "username", "password", "decision",
                "access_token", "error", "remember", "to"]       # the last two: the sign-in page, PhotoPrint's links
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]
CONTENT_TYPES = [None, "application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "text/plain", "application/json; charset=latin-1", ";;",
                 "application/x-www-form-urlencoded; charset=utf-16"]
BROKEN_TARGETS = ["*", "http://[::1/", "http://[abc]/x", "https://[127.0.0.1]/", "http://127.0.0.1:99999/",
                  "http://a]b/", "//", "/%", "/%zz", "/\x7f", "http://evil.example/me", "?", "/?&&=&="]
VERSIONS = ["HTTP/1.0", "HTTP/2.0", "HTTP/9.9", "HTTP/1.1x", "http/1.1", "HTTP/", "1.1", "HTTP/1.1 HTTP/1.1"]


@dataclass
class Server:
    name: str
    port: int
    routes: list[tuple[str, tuple[str, ...], dict | None]]   # (werkzeug rule, methods, JSON body schema)


# -- the lab under test ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world():
    """A lab allowing ORIGIN, tokens to use in it, and its servers with their route tables."""
    lab = Lab(cors_origins=[ORIGIN]).start()
    try:
        yield _world(lab)
    finally:
        lab.stop()


def _world(lab) -> dict:
    from requests_oauthlib import OAuth2Session

    scopes = sorted({e.scope for e in ENDPOINTS if e.scope and e.for_user})
    creds = lab.register_client("Property tester", redirect_uris=[f"{lab.apps_url}/tester/callback"], scopes=scopes)
    oauth = OAuth2Session(creds.client_id, redirect_uri=f"{lab.apps_url}/tester/callback", scope=scopes, pkce="S256")
    oauth.trust_env = False
    url, _ = oauth.authorization_url(lab.metadata["authorization_endpoint"])
    back = lab.authorize(url, "alice", apisec_lab.DEMO_PASSWORDS["alice"])
    user = oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=back.url,
                             client_secret=creds.client_secret)
    bot = lab.clients["backup-bot"]
    jwt_bot = lab.register_client("JWT tester", scopes=["reports:read"], token_format="jwt")
    with lab.session() as s:
        machine = s.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                         auth=(bot.client_id, bot.client_secret)).json()
        signed = s.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                        auth=(jwt_bot.client_id, jwt_bot.client_secret)).json()["access_token"]
    head, claims, _ = signed.split(".")
    unsigned = f"eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.{claims}."      # {"alg":"none","typ":"at+jwt"}
    lab.attacker.serve("/exploit", "<p>the learner's page</p>")
    servers = {s.name: Server(s.name, s.port, routes(s.server.app.handler)) for s in lab._servers}
    clients = {cid: c for cid, c in lab.clients.items()}
    basic = [base64.b64encode(f"{c.client_id}:{c.client_secret or ''}".encode()).decode() for c in clients.values()]
    values = {
        "client_id": [*clients, "ghost", ""],
        "redirect_uri": [f"{lab.apps_url}/{cid}/callback" for cid in clients] + ["http://evil.example/cb"],
        "scope": [*lab.metadata["scopes_supported"], " ".join(scopes), "admin reports:read", ""],
        "grant_type": [*lab.metadata["grant_types_supported"], "password", "implicit"],
        "response_type": ["code", "token", "code token", "id_token"],
        "code_challenge_method": ["S256", "plain", "s256"],
        "code_challenge": ["E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "c" * 43, "c"],
        "code_verifier": ["dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "v" * 128, "v"],
        "token": [user["access_token"], user["refresh_token"], machine["access_token"], signed, "at_unknown"],
        "refresh_token": [user["refresh_token"], "rt_unknown"],
        "token_type_hint": ["access_token", "refresh_token", "id_token"],
        "username": ["alice", "bob", "ghost"],
        "to": ["alice", "bob", "ghost", "/prints", "//evil.example/x",    # a message's recipient; an exit link's
               "http://127.0.0.1:1/x", "javascript:alert(1)", "/x\r\nSet-Cookie: y=1"],  # target at PhotoPrint
        "password": [apisec_lab.DEMO_PASSWORDS["alice"], "wrong"],
        "decision": ["approve", "deny"],
        "response_mode": ["query", "fragment", "form_post"],
        "code": ["FREEPRINT", "FREEPRINT ", "freeprint", ""],                # a coupon's
        "url": [f"http://127.1:{lab._metadata.port}/latest/meta-data/iam/security-credentials/photo-api-role",
                f"{lab.api_url}/photos", lab.attacker.url + "/exploit",              # a webhook's: internal, public,
                f"http://[::ffff:127.0.0.1]:{lab._partner.port}/v1/status", lab.attacker.url + "/nothing-here",
                "http://evil.example/", "http://10.0.0.1/", "file:///etc/passwd", "http://127.0.0.1:1/",  # outside
                "http://[::1]:80/", "http://127.0.0.1:99999/", "gopher://127.0.0.1/"],
    }
    bearers = [f"Bearer {user['access_token']}", f"Bearer {machine['access_token']}", f"Bearer {signed}"]
    basics = [f"Basic {b}" for b in basic]
    return {"lab": lab, "servers": servers, "values": values, "bearer": bearers, "basic": basics,
            "authorizations": [*bearers, f"Bearer {user['refresh_token']}", f"Bearer {unsigned}",
                               f"Bearer {head}.e30.{'A' * 342}", "Bearer a.b.c", *basics],
            "wiretap": int(lab.wiretap.url.rsplit(":", 1)[1])}


def routes(handler) -> list[tuple[str, tuple[str, ...], dict | None]]:
    """A server's routes, from its own table: ``(werkzeug rule, methods, JSON body schema)``.

    The API's and the gateway's come from ENDPOINTS (with each body's schema, unpublished routes
    included: the gateway must refuse them); a server with a werkzeug ``Map`` gives its rules; the
    attacker's server answers whatever pages the learner wrote, and 404 anywhere else.
    """
    if isinstance(handler, (ResourceAPI, Gateway)):
        return [(e.path, (e.method,), e.body) for e in ENDPOINTS]
    if isinstance(handler, AttackerServer):
        return [(path, tuple(METHODS), None) for path in handler.pages()] + [("/<anything>", tuple(METHODS), None)]
    return [(r.rule, tuple(sorted(r.methods)), None) for r in handler.urls.iter_rules()]


# -- strategies ------------------------------------------------------------------------------------
HEADER_SAFE = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
TEXT = st.text(max_size=30)
#: Any character, lone UTF-16 surrogates included (JSON can carry them as \ud800 escapes; Unicode text cannot).
SURROGATE_OR_NOT = st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
TEXT_WITH_SURROGATES = st.text(SURROGATE_OR_NOT, max_size=20)
#: Nesting depths and number lengths at the edges: the lab's limits (32, 40), json's recursion (~1000),
#: int()'s 4300 digits.
DEPTHS = [32, 33, 999, 1000, 3000]
DIGITS = [19, 40, 41, 4300, 4301, 6000]


def url_encoded(value: st.SearchStrategy) -> st.SearchStrategy[str]:
    """Percent-encode text as UTF-8, or raw bytes as they are (not necessarily UTF-8)."""
    return st.one_of(value.map(lambda v: quote(v, safe="")),
                     st.binary(max_size=20).map(lambda b: quote_from_bytes(b, safe="")))


@st.composite
def path_for(draw, rule: str, values: dict) -> str:
    def fill(match: re.Match) -> str:
        converter, name = match.groups()
        if converter == "int":
            return draw(st.one_of(st.integers(-2**70, 2**70).map(str), st.sampled_from(["1", "01", "1.0", "0x1"])))
        known = values.get(name, [])
        return draw(st.one_of(st.sampled_from(known) if known else st.nothing(), url_encoded(TEXT)))
    return RULE_PARAM.sub(fill, rule)


def param_value(name: str, values: dict) -> st.SearchStrategy[str]:
    """A known-good value for parameter *name* (percent-encoded), or hostile text or bytes."""
    good = values.get(name)
    hostile = url_encoded(TEXT)
    return st.one_of(st.sampled_from(good).map(lambda v: quote(v, safe="")), hostile) if good else hostile


@st.composite
def form(draw, values: dict) -> str:
    """``a=1&b=2``: each OAuth parameter present or not, known-good or hostile, plus unknown or repeated names."""
    known = draw(st.fixed_dictionaries({}, optional={n: param_value(n, values) for n in OAUTH_PARAMS}))
    pairs = [f"{name}={value}" for name, value in known.items()]
    for name in draw(st.lists(st.one_of(st.sampled_from(OAUTH_PARAMS), TEXT), max_size=3)):
        pairs.append(f"{quote(name, safe='')}={draw(param_value(name, values))}")
    return "&".join(draw(st.permutations(pairs)))


def schema_object(schema: dict, values: dict) -> st.SearchStrategy[dict]:
    """An object the route's JSON schema accepts, mostly: its fields, with values of the right shape."""
    def field(name: str, spec: dict) -> st.SearchStrategy:
        if name in values:
            return st.sampled_from(values[name])
        if spec.get("type") == "integer":
            low, high = spec.get("minimum", -2**63), spec.get("maximum", 2**63)
            return st.one_of(st.integers(low, high), st.sampled_from([low, high, low - 1, high + 1, 0]))
        if "pattern" in spec:
            return st.from_regex(spec["pattern"], fullmatch=True)
        size = {"min_size": spec.get("minLength", 0), "max_size": min(spec.get("maxLength", 40), 40)}
        return st.one_of(st.text(**size), st.text(SURROGATE_OR_NOT, **size))
    props = schema.get("properties", {})
    required = schema.get("required", [])
    return st.fixed_dictionaries({k: field(k, props[k]) for k in required},
                                 optional={k: field(k, v) for k, v in props.items() if k not in required})


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT_WITH_SURROGATES)


@st.composite
def json_body(draw, schema: dict | None, known: dict) -> bytes:
    """JSON the route's schema accepts, or shaped by it with any values, deep, huge, broken, or raw bytes."""
    fields = list((schema or {}).get("properties", {}))
    keys = st.one_of(st.sampled_from(fields), TEXT_WITH_SURROGATES) if fields else TEXT_WITH_SURROGATES
    values = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                st.dictionaries(keys, inner, max_size=3)),
                          max_leaves=8)
    kind = draw(st.sampled_from(["valid"] * 4 + ["object"] * 2 + ["deep"] * 2 + ["huge number"] * 2 + ["raw"]))
    if kind == "valid" and schema is not None:
        return json.dumps(draw(schema_object(schema, known)), ensure_ascii=draw(st.booleans())).encode()
    if kind in ("valid", "object"):
        value = draw(st.dictionaries(keys, values, max_size=5))
        text = json.dumps(value, ensure_ascii=draw(st.booleans()))
        return text.encode("utf-8", "surrogatepass")
    if kind == "deep":
        depth = draw(st.one_of(st.integers(1, 40), st.sampled_from(DEPTHS)))
        field = draw(st.sampled_from(fields)) if fields else "x"
        return f'{{"{field}": {"[" * depth}{"]" * depth}}}'.encode()
    if kind == "huge number":
        return f'{{"{draw(st.sampled_from(fields)) if fields else "x"}": {"9" * draw(st.sampled_from(DIGITS))}}}'.encode()
    return draw(st.binary(max_size=200))


def chance(draw, percent: int) -> bool:
    """True *percent* times in a hundred: most requests are nearly right, so they get past the first check."""
    return draw(st.integers(0, 99)) < percent


@st.composite
def headers(draw, world: dict, port: int, credentials: list[str], content_type: str | None) -> list[tuple[str, str]]:
    out = [("Host", f"127.0.0.1:{port}" if chance(draw, 85) else draw(st.text(HEADER_SAFE, max_size=20)))]
    if chance(draw, 70):
        authorization = credentials[0] if chance(draw, 80) else draw(st.sampled_from(credentials))
    else:
        authorization = draw(st.one_of(
            st.none(), st.sampled_from(world["authorizations"]),
            st.tuples(st.sampled_from(["Bearer", "Basic", "bearer", "Digest", "", "Bearer\t"]),
                      st.text(HEADER_SAFE, max_size=40)).map(" ".join),
            st.tuples(TEXT, TEXT).map(lambda up: "Basic " + base64.b64encode(f"{up[0]}:{up[1]}".encode()).decode())))
    if authorization is not None:
        out.append(("Authorization", authorization))
        if chance(draw, 5):
            out.append(("Authorization", authorization))          # sent twice
    if not chance(draw, 70):
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type:
        out.append(("Content-Type", content_type))
    if chance(draw, 30):
        out.append(("Origin", draw(st.sampled_from([ORIGIN, ORIGIN, "http://127.0.0.1:8001", "null", "*"]))))
        if chance(draw, 50):
            out.append(("Access-Control-Request-Method", draw(st.sampled_from(METHODS))))
    if chance(draw, 30):
        out.append(("Accept", draw(st.sampled_from(["text/html", "application/json", "*/*", "x"]))))
    if chance(draw, 30):
        names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,15}", fullmatch=True)
        out += draw(st.lists(st.tuples(st.one_of(names, st.sampled_from(["Expect", "Cookie", "X-Forwarded-For",
                                                                         "Transfer-Encoding", "Content-Length"])),
                                       st.text(HEADER_SAFE, max_size=30)), min_size=1, max_size=3))
    return out


@dataclass
class Built:
    data: bytes
    method: str
    path: str
    server: str                # the server it is meant for (through the wiretap too)

    def __repr__(self) -> str:
        return f"Built({self.data[:400]!r}{'...' if len(self.data) > 400 else ''})"


@st.composite
def requests_for(draw, server: Server, world: dict, absolute_host: str | None = None) -> Built:
    """One raw request to *server* (in absolute form for *absolute_host*, as through a proxy).

    Mostly a nearly-right request for one of its routes (its method, a fitting body and credentials), so
    that it reaches the handler; each part is sometimes wrong or hostile.
    """
    values = world["values"]
    # Routes that take a body weigh three times as much: that is where the parsing is.
    rule, methods, schema = draw(st.sampled_from([r for r in server.routes for _ in range(3 if r[2] else 1)]))
    if chance(draw, 85):
        method = draw(st.sampled_from([m for m in methods if m != "OPTIONS"] or methods))
    else:
        method = draw(st.one_of(st.sampled_from(METHODS), st.from_regex(r"[A-Z]{1,8}", fullmatch=True)))
    path = draw(path_for(rule, values))
    if not chance(draw, 40):
        query = ""
    elif server.name in ("issuer", "apps", "photoprint"):
        query = draw(form(values))           # where the OAuth parameters go in a URL
    else:
        query = "&".join(f"{quote(k, safe='')}={v}" for k, v in draw(st.lists(st.tuples(
            st.one_of(TEXT, TEXT, TEXT, st.sampled_from(OAUTH_PARAMS)), url_encoded(TEXT)), max_size=3)))
    target = path + ("?" + query if query else "")
    if absolute_host is not None:
        target = f"http://{absolute_host}{target}"
    if chance(draw, 5):
        target = draw(st.one_of(st.sampled_from(BROKEN_TARGETS),
                                st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), min_size=1,
                                        max_size=40)))
    version = "HTTP/1.1" if not chance(draw, 5) else draw(st.sampled_from(VERSIONS))
    # The body (and its type) the route takes, most of the time.
    if schema is not None and chance(draw, 80):
        body, content_type = draw(json_body(schema, values)), "application/json"
    elif method == "POST" and schema is None and chance(draw, 80):
        body, content_type = draw(form(values)).encode(), "application/x-www-form-urlencoded"
    elif chance(draw, 70):
        body, content_type = b"", None
    else:
        body = draw(st.one_of(form(values).map(str.encode), json_body(schema, values)))
        content_type = None
    credentials = world["bearer"] if server.name in ("api", "gateway") else world["basic"]
    head = draw(headers(world, server.port, credentials, content_type))
    framing = draw(st.sampled_from(["length"] * 15 + ["chunked"] * 3 + ["none", "short"]))
    if framing == "chunked":
        head.append(("Transfer-Encoding", "chunked"))
        body = (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    elif framing == "length" and (body or method in ("POST", "PUT")):
        head.append(("Content-Length", str(len(body))))
    elif framing == "short":
        head.append(("Content-Length", str(len(body) + draw(st.integers(1, 100)))))   # promises more than it sends
    lines = [f"{method} {target} {version}", *(f"{k}: {v}" for k, v in head), "Connection: close"]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
    return Built(data, method, path, server.name)


# -- the property ----------------------------------------------------------------------------------
def check(world: dict, server_name: str, built: Built) -> None:
    lab = world["lab"]
    lab.gateway.clear_rate_windows()       # a limit reached would answer every later example with 429
    answer = exchange(world["wiretap"] if server_name == "wiretap" else world["servers"][server_name].port,
                      built.data, head=built.method == "HEAD")
    assert answer.status < 500, (answer.status, answer.body[:500])
    assert answer.header("X-Content-Type-Options") == ["nosniff"], answer.headers
    if answer.status >= 400 and answer.body:
        content_type = ",".join(answer.header("Content-Type"))
        if content_type.startswith("text/html") and built.path == "/authorize":
            pass        # the sign-in page, re-shown to the person with what went wrong
        elif built.server == "attacker" and content_type.startswith("text/plain"):
            pass        # the attacker's server says in plain words that no page is written there
        elif (built.server == "photoprint" and content_type.startswith("text/html")
              and built.path in {rule for rule, _, _ in world["servers"]["photoprint"].routes}):
            pass        # PhotoPrint's website answers people with pages on its own routes, refusals included
        else:
            assert "application/json" in content_type, (answer.status, content_type, answer.body[:300])
            body = answer.json()
            assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
            assert isinstance(body.get("error_description", ""), str), body
    assert lab.errors == [], lab.errors[0]["traceback"]


def run(world: dict, server_name: str, strategy) -> None:
    @PROFILE
    @given(strategy)
    def prop(built):
        check(world, server_name, built)

    prop()


SERVERS = ["api", "gateway", "issuer", "apps", "attacker", "photoprint", "metadata", "partner"]


def test_every_lab_server_is_covered(world):
    assert sorted(world["servers"]) == sorted(SERVERS)


@pytest.mark.parametrize("name", SERVERS)
def test_rfc6749_s5_2_every_route_answers_4xx_json_never_5xx(world, capfd, name):
    run(world, name, requests_for(world["servers"][name], world))
    assert capfd.readouterr().err == ""


#: Notebook 08's switches: with them on, the API fetches URLs, binds whole bodies, serves whole catalogues.
NOTEBOOK_08 = ("mass_assignment", "excessive_data_exposure", "bfla", "unlimited_page_size", "unlimited_coupon",
               "ssrf", "trust_third_party")
NOTEBOOK_08_HANDLERS = ("update_me", "account", "people", "support_credits", "catalogue", "redeem_coupon",
                        "test_webhook", "order_prints")


#: What the weakened PATCH /me binds: every column of the account (so the examples name them too).
WHOLE_ACCOUNT = {"type": "object", "properties": {
    "display_name": {"type": "string"}, "email": {"type": "string"}, "role": {"type": "string"},
    "plan": {"type": "string"}, "print_credits": {"type": "integer", "minimum": 0, "maximum": 10**6}}}


@pytest.mark.parametrize("name", ["api", "gateway"])
def test_owasp_weaknesses_on_still_answer_4xx_json_never_5xx(world, capfd, name):
    """A weakened API is still never a broken one: with every one of notebook 08's switches on, its routes (and
    only they, so that each gets many examples) answer hostile input with a 4xx. (tests/test_api_top10.py sends
    each weakened route its hostile table, URLs for the fetcher included.)"""
    lab = world["lab"]
    ours = {e.path for e in ENDPOINTS if e.handler in NOTEBOOK_08_HANDLERS}
    server = world["servers"][name]
    focused = Server(server.name, server.port, [(rule, methods, WHOLE_ACCOUNT if (rule, methods) == ("/me", ("PATCH",))
                                                 else schema) for rule, methods, schema in server.routes if rule in ours])
    values = world["values"]
    world["values"] = {**values, "role": ["user", "staff", "admin"], "plan": ["free", "pro", "platinum"]}
    try:
        with lab.weaknesses.turned_on(**dict.fromkeys(NOTEBOOK_08, True)):
            run(world, name, requests_for(focused, world))
    finally:
        world["values"] = values
    assert capfd.readouterr().err == ""


def test_rfc9112_s3_2_2_through_the_wiretap_every_answer_is_an_answer(world, capfd):
    """Absolute-form requests through the wiretap (to each server, or elsewhere): relayed or refused, never dropped."""
    lab = world["lab"]
    servers = list(world["servers"].values())
    strategy = st.sampled_from(servers).flatmap(
        lambda s: requests_for(s, world, absolute_host=f"127.0.0.1:{s.port}"))
    run(world, "wiretap", strategy)
    assert capfd.readouterr().err == ""
    assert lab.wiretap.records, "nothing was relayed"


#: Notebook 06's switches: the code paths they open must hold to the same property.
NOTEBOOK_06 = {"redirect_uri_prefix": True, "open_redirect": True, "client_skips_state": True, "pkce_plain": True,
               "referrer_leak": True, "pkce_optional": True}


@pytest.mark.parametrize("name", ["issuer", "photoprint"])
def test_rfc6749_s5_2_with_notebook_06s_weaknesses_on_still_4xx_never_5xx(world, capfd, name):
    with world["lab"].weaknesses.turned_on(**NOTEBOOK_06):
        run(world, name, requests_for(world["servers"][name], world))
    assert capfd.readouterr().err == ""
