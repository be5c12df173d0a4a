"""``python -m apisec_lab serve`` for a Swagger UI or Postman user: their own clients, their page's origin."""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from requests_oauthlib import OAuth2Session

import apisec_lab

# The lab sets this in its own process; this test is the client side, in another one.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

SWAGGER = "http://127.0.0.1:8000/oauth2-redirect.html"
POSTMAN = "https://oauth.pstmn.io/v1/callback"
ORIGIN = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def served():
    """A ``serve`` process with one confidential and one public client of the caller's, and CORS for ORIGIN."""
    proc = subprocess.Popen([sys.executable, "-m", "apisec_lab", "serve", "--cors", ORIGIN,
                             "--client", f"Swagger UI={SWAGGER}", "--public-client", f"Postman={POSTMAN}"],
                            stdout=subprocess.PIPE, text=True)
    lines = []
    try:
        while not (lines and lines[-1].startswith("try:")):
            line = proc.stdout.readline()
            assert line, "serve exited early:\n" + "".join(lines)
            lines.append(line)
        yield lines
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def printed_client(lines, name):
    """(client_id, secret or None) of the client printed as *name*'s."""
    i = next(i for i, ln in enumerate(lines) if f" {name}): redirect URI " in ln)
    client_id, _, secret = lines[i - 1].split(maxsplit=2)
    return client_id, (None if secret.startswith("(public client") else secret.strip())


def issuer_of(lines):
    return next(ln for ln in lines if "authorization server" in ln).split()[2]


def api_of(lines):
    return next(ln for ln in lines if "resource API" in ln).split()[2]


def sign_in(url):
    """What the user does on the sign-in page: the authorization server's redirect (Location)."""
    query = dict(parse_qsl(urlsplit(url).query))
    r = requests.post(url, data={"username": "alice", "password": apisec_lab.DEMO_PASSWORDS["alice"],
                                 "scope": query["scope"].split(), "decision": "approve"},
                      allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text[:300]
    return r.headers["Location"]


@pytest.mark.parametrize("name, redirect_uri", [("Swagger UI", SWAGGER), ("Postman", POSTMAN)])
def test_serve_client_registers_the_callers_redirect_uri(served, name, redirect_uri):
    client_id, secret = printed_client(served, name)
    assert (secret is None) is (name == "Postman")
    issuer = issuer_of(served)
    oauth = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=["profile:read", "payment:read"], pkce="S256")
    oauth.trust_env = False
    url, state = oauth.authorization_url(f"{issuer}/authorize")
    back = sign_in(url)
    assert back.startswith(redirect_uri + "?") and dict(parse_qsl(urlsplit(back).query))["state"] == state
    extra = {"client_secret": secret} if secret else {"include_client_id": True}
    token = oauth.fetch_token(f"{issuer}/token", authorization_response=back, **extra)
    assert set(token["scope"]) == {"profile:read", "payment:read"}
    me = oauth.get(f"{api_of(served)}/me", timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "alice"


def test_serve_client_is_exact_about_its_redirect_uri(served):
    client_id, _ = printed_client(served, "Swagger UI")
    oauth = OAuth2Session(client_id, redirect_uri=SWAGGER + "/evil", scope=["profile:read"], pkce="S256")
    url, _ = oauth.authorization_url(f"{issuer_of(served)}/authorize")
    r = requests.get(url, timeout=10, allow_redirects=False)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_serve_cors_allows_the_origin_it_was_given(served):
    r = requests.options(f"{issuer_of(served)}/token", headers={"Origin": ORIGIN,
                                                                "Access-Control-Request-Method": "POST"}, timeout=10)
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert any(ln.startswith("CORS: ") and ORIGIN in ln for ln in served)


@pytest.mark.parametrize("option, value, message", [
    ("--client", "no-equals-sign", "NAME=REDIRECT_URI"),
    ("--client", "x=/relative/callback", "absolute"),
    ("--public-client", "x=http://127.0.0.1:8000/cb#fragment", "#fragment"),
    ("--cors", "http://127.0.0.1:8000/", "did you mean 'http://127.0.0.1:8000'"),
    ("--cors", "*", "not an origin the lab will allow"),
])
def test_serve_refuses_malformed_options(option, value, message):
    from apisec_lab.__main__ import _origin, client_option

    parse = _origin if option == "--cors" else lambda v: client_option(v, public=option == "--public-client")
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
        parse(value)


def test_serve_exits_2_on_a_malformed_option_before_starting_a_lab():
    bad = subprocess.run([sys.executable, "-m", "apisec_lab", "serve", "--cors", "http://127.0.0.1:8000/"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "did you mean 'http://127.0.0.1:8000'" in bad.stderr
    assert "apisec-lab is running" not in bad.stdout
