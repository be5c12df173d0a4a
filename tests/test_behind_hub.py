"""The lab behind JupyterHub or Binder, and on a shared host, tested on one machine without a hub.

A lab started with ``JUPYTERHUB_SERVICE_PREFIX`` set is what a learner's kernel runs; a request that
carries the server proxy's ``X-Forwarded-Prefix`` is what the learner's browser sends through it.
The real hub, the real proxy and a remote browser are in tests/hub/.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import apisec_lab
from apisec_lab.client.flows import OAuthApp
from apisec_lab.http.owner import REFUSAL

PREFIX = "/user/ann/"
ORIGIN = "https://hub.example.org"


@pytest.fixture
def hub_lab(monkeypatch):
    """A lab as a learner's kernel behind a hub starts it (its own, not the session's)."""
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", PREFIX)
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", f"{ORIGIN}{PREFIX}")
    lab = apisec_lab.Lab().start()
    yield lab
    lab.stop()
    assert lab.errors == []


def port(url: str) -> int:
    return urlsplit(url).port


def through_proxy(lab, url: str, **kwargs) -> requests.Response:
    """What the learner's server proxy does with a browser's request for ``url``: the prefix gone,
    ``X-Forwarded-Prefix`` set, the browser's cookies and the hub's headers passed on."""
    headers = {"X-Forwarded-Prefix": f"{PREFIX}proxy/{port(url)}", "X-Forwarded-Proto": "https",
               "X-Forwarded-Host": "hub.example.org", "Host": "hub.example.org",
               "Cookie": "jupyterhub-user-ann=2|secret-cookie; _xsrf=2|xsrf-value",
               **kwargs.pop("headers", {})}
    with lab.session() as s:
        return s.request(kwargs.pop("method", "GET"), url, headers=headers, allow_redirects=False, timeout=10,
                         **kwargs)


def test_the_kernel_keeps_its_loopback_identities(hub_lab):
    assert hub_lab.issuer.startswith("http://127.0.0.1:")
    assert hub_lab.metadata["issuer"] == hub_lab.issuer
    with hub_lab.session() as s:
        assert s.get(f"{hub_lab.issuer}/.well-known/oauth-authorization-server", timeout=10).json() == \
            hub_lab.metadata


def test_rfc8414_s3_3_the_browser_gets_the_issuer_it_fetched_the_metadata_from(hub_lab):
    public = f"{ORIGIN}{PREFIX}proxy/{port(hub_lab.issuer)}"
    seen = through_proxy(hub_lab, f"{hub_lab.issuer}/.well-known/oauth-authorization-server").json()
    assert seen["issuer"] == public
    assert seen["authorization_endpoint"] == f"{public}/authorize"
    assert seen["token_endpoint"] == f"{public}/token"
    assert {k: v for k, v in seen.items() if not isinstance(v, str) or "://" not in v} == \
        {k: v for k, v in hub_lab.metadata.items() if not isinstance(v, str) or "://" not in v}


def test_the_link_to_the_sign_in_page_is_the_proxied_one(hub_lab):
    url = OAuthApp(hub_lab, "photocli").start_login(["photos:read"])
    link = hub_lab.browser_url(url)
    assert link.startswith(f"{ORIGIN}{PREFIX}proxy/{port(hub_lab.issuer)}/authorize?")
    assert parse_qs(urlsplit(link).query) == parse_qs(urlsplit(url).query)
    assert hub_lab.browser_url("https://example.org/x") == "https://example.org/x"


def test_after_allow_the_browser_is_sent_to_the_apps_proxied_callback(hub_lab):
    app = OAuthApp(hub_lab, "photocli")
    url = app.start_login(["photos:read"])
    page = through_proxy(hub_lab, url, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert f"{ORIGIN}{PREFIX}proxy/{port(hub_lab.apps_url)}/photocli/callback" in page.text
    r = through_proxy(hub_lab, url, method="POST", data={
        "username": "alice", "password": apisec_lab.DEMO_PASSWORDS["alice"], "scope": ["photos:read"],
        "decision": "approve"})
    assert r.status_code == 302, r.text
    location = r.headers["Location"]
    assert location.startswith(f"{ORIGIN}{PREFIX}proxy/{port(hub_lab.apps_url)}/photocli/callback?code="), location
    # The code is bound to the registered (loopback) redirect URI: the app in the kernel redeems it as ever.
    code = parse_qs(urlsplit(location).query)
    assert code["state"] == [app.storage["state"]]
    tokens = app.exchange(app.receive(apisec_lab.Redirect(location, {k: v[0] for k, v in code.items()})))
    assert tokens["access_token"].startswith("at_")


def test_a_request_straight_to_loopback_is_not_rewritten(hub_lab):
    app = OAuthApp(hub_lab, "photocli")
    back = hub_lab.authorize(app.start_login(["photos:read"]), "alice", apisec_lab.DEMO_PASSWORDS["alice"])
    assert back.url.startswith(f"{hub_lab.apps_url}/photocli/callback?")


def test_the_hubs_credentials_never_reach_the_gateways_log(hub_lab):
    hub_token = "0123456789abcdef0123456789abcdef"
    r = through_proxy(hub_lab, f"{hub_lab.gateway_url}/photos", headers={"Authorization": f"token {hub_token}"})
    assert r.status_code == 401
    logged = repr(hub_lab.gateway.records) + hub_lab.gateway.log_frame().to_string() + hub_lab.events().to_string()
    for secret in (hub_token, "secret-cookie", "xsrf-value", "jupyterhub-user", "_xsrf"):
        assert secret not in logged, secret
    assert hub_lab.gateway.records[-1].authorization == ""


def test_the_wiretap_neither_relays_nor_records_the_hubs_credentials(hub_lab):
    with hub_lab.session(tapped=True) as s:
        s.get(f"{hub_lab.api_url}/health", headers={"Authorization": "token abc123hub",
                                                     "Cookie": "jupyterhub-user-ann=c00kie; theme=dark"}, timeout=10)
    raw = hub_lab.wiretap.last().request.raw
    assert b"abc123hub" not in raw and b"c00kie" not in raw and b"Cookie: theme=dark" in raw


def test_on_a_laptop_nothing_changes(lab, http):
    """No JUPYTERHUB_SERVICE_PREFIX: even a request with the proxy's header gets loopback URLs."""
    assert lab.public is None
    seen = http.get(f"{lab.issuer}/.well-known/oauth-authorization-server",
                    headers={"X-Forwarded-Prefix": f"{PREFIX}proxy/{port(lab.issuer)}"}, timeout=10).json()
    assert seen == lab.metadata
    url = OAuthApp(lab, "photocli").start_login(["photos:read"])
    assert lab.browser_url(url) == url


# -- a lab answers only its owner ---------------------------------------------------------------------------
def _system_python():
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if not (sys.platform.startswith("linux") and os.geteuid() == 0 and python):
        pytest.skip("needs Linux, root (to run as another account) and a system python3")
    return python


def test_another_account_is_refused_by_every_server(lab):
    python = _system_python()
    nobody = pwd.getpwnam("nobody").pw_uid
    urls = {"api": lab.api_url, "issuer": lab.issuer, "apps": lab.apps_url, "gateway": lab.gateway_url,
            "attacker": lab.attacker.url}
    script = ("import json, sys, urllib.request, urllib.error\n"
              "urls, tap = json.loads(sys.argv[1]), sys.argv[2]\n"
              "def ask(url, proxy=None):\n"
              "    handlers = [urllib.request.ProxyHandler({'http': proxy} if proxy else {})]\n"
              "    try:\n"
              "        r = urllib.request.build_opener(*handlers).open(url + '/', timeout=5)\n"
              "        return [r.status, '']\n"
              "    except urllib.error.HTTPError as e:\n"
              "        return [e.code, json.loads(e.read()).get('error_description', '')]\n"
              "out = {name: ask(url) for name, url in urls.items()}\n"
              "out['wiretap'] = ask(urls['api'], proxy=tap)\n"
              "print(json.dumps(out))\n")
    import json
    done = subprocess.run([python, "-c", script, json.dumps(urls), lab.wiretap.url], user=nobody, group=nobody,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert answers == {name: [403, REFUSAL] for name in [*urls, "wiretap"]}, answers
    # The owner, meanwhile, is served as ever.
    with lab.session(tapped=True) as s:
        assert s.get(f"{lab.api_url}/health", timeout=10).status_code == 200
