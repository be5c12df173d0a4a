"""On one host, learners cannot touch each other's labs, and the hub's credentials stay out of every lab.

Two real accounts, ANN and BEN, each with a single-user server spawned by the hub. ANN starts a lab in
her kernel. BEN tries every server of it: from his own kernel straight to ANN's loopback ports, and
through his own server proxy (``/user/<ben>/proxy/<ann's port>/``), which the hub lets him use. Each
try must get a refusal; ANN's own proxy must still reach her lab.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from apisec_lab.http.owner import REFUSAL

from .conftest import ANN, BEN

SERVERS = ("api_url", "issuer", "apps_url", "gateway_url", "wiretap.url")


@pytest.fixture
def ann_lab(kernel_of):
    """ANN's kernel with a running lab; ``.urls`` maps each server to its loopback URL."""
    kernel = kernel_of(ANN)
    kernel.execute("import apisec_lab\nlab = apisec_lab.start()")
    kernel.urls = kernel.value("{" + ", ".join(f"{s!r}: lab.{s}" for s in SERVERS) + "}")
    return kernel


def test_another_learner_is_refused_by_every_server_of_your_lab(hub, ann_lab, kernel_of):
    ben = kernel_of(BEN)
    assert ben.value("__import__('os').getuid()") == hub.accounts[BEN].uid
    urls = ann_lab.urls
    # Straight from BEN's kernel to ANN's loopback ports; her wiretap is asked, as a proxy, for her API.
    ben.execute("import requests\n"
                "def answer(r):\n"
                "    try:\n"
                "        return [r.status_code, r.json().get('error_description', '')]\n"
                "    except ValueError:\n"
                "        return [r.status_code, r.text[:200]]\n"
                f"urls = {urls!r}\n"
                "s = requests.Session(); s.trust_env = False\n"
                "direct = {name: answer(s.get(url + '/', timeout=5)) for name, url in urls.items()\n"
                "          if name != 'wiretap.url'}\n"
                "direct['wiretap.url'] = answer(s.get(urls['api_url'] + '/health', timeout=5,\n"
                "                                     proxies={'http': urls['wiretap.url']}))")
    direct = ben.value("direct")
    assert direct == dict.fromkeys(SERVERS, [403, REFUSAL]), direct
    # Through BEN's own server proxy, which the hub lets him use, to ANN's ports.
    headers = {"Authorization": f"token {hub.tokens[BEN]}"}
    proxied = {}
    for name, url in urls.items():
        r = requests.get(f"{hub.url}/user/{BEN}/proxy/{urlsplit(url).port}/", headers=headers, timeout=10)
        proxied[name] = [r.status_code, r.json().get("error_description", "") if r.status_code == 403 else r.text[:200]]
    assert proxied == dict.fromkeys(SERVERS, [403, REFUSAL]), proxied
    # ANN, through her own server proxy, still reaches her lab.
    mine = requests.get(f"{hub.url}/user/{ANN}/proxy/{urlsplit(ann_lab.urls['issuer']).port}"
                        "/.well-known/oauth-authorization-server",
                        headers={"Authorization": f"token {hub.tokens[ANN]}"}, timeout=10)
    assert mine.status_code == 200, mine.text[:300]


def test_the_hubs_credentials_never_reach_the_labs_records(hub, ann_lab, learner):
    gateway = urlsplit(ann_lab.urls["gateway_url"]).port
    # ANN's browser, signed in to the hub, calls the API through the gateway: it carries her hub cookies.
    learner.goto(f"{hub.public_url}/user/{ANN}/proxy/{gateway}/photos", wait_until="domcontentloaded")
    cookies = {c["name"]: c["value"] for c in learner.context.cookies()}
    hub_cookie = cookies[f"jupyterhub-user-{ANN}"]
    # A script of ANN's, with her hub token, the same way.
    r = requests.get(f"{hub.url}/user/{ANN}/proxy/{gateway}/photos",
                     headers={"Authorization": f"token {hub.tokens[ANN]}"}, timeout=10)
    assert r.status_code == 401, r.text[:300]          # the lab's own answer: no lab token
    recorded = ann_lab.value("repr(lab.gateway.records) + lab.gateway.log_frame().to_string() "
                             "+ lab.events().to_string() + repr(lab.wiretap.records)")
    for secret in (hub_cookie, hub.tokens[ANN], "jupyterhub-user", "_xsrf"):
        assert secret not in recorded, secret
