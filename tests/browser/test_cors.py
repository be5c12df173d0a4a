"""Cross-origin use of the lab from a real browser: what Swagger UI on another loopback port does.

A page served from its own loopback origin (a port of its own, so another origin than every lab server)
fetches the authorization server's metadata, gets a client-credentials token from the token endpoint
(HTTP Basic, so the browser asks first in a preflight) and calls the API and the gateway with it
(a Bearer header: another preflight).  With the page's origin on the lab's allow-list
(``cors_origins``), Chromium lets the page read every answer; from an origin not on it, Chromium
blocks each one and says so ("blocked by CORS policy"); the authorization endpoint is never readable
cross-origin, even from the allowed origin (RFC 9700 section 2.6).  No JupyterLab is needed, so these
tests use test_authorization_page.py's plain page (``signin_page``), which keeps the console log.
"""

from __future__ import annotations

import pytest
from werkzeug.wrappers import Response

from apisec_lab.http.wsgi import BackgroundServer, stop_all
from apisec_lab.lab import Lab

from . import test_authorization_page
from .jupyter import shot

#: A plain browser page that keeps its console log (Chromium reports CORS refusals there).
signin_page = test_authorization_page.signin_page

PAGE = "<!doctype html><html lang=en><head><meta charset=utf-8><title>Another origin</title></head>" \
       "<body><h1>A page on another origin</h1><pre id=out></pre></body></html>"

#: What the page's script does, step by step; each step's outcome is kept, a failure does not stop the others.
STEPS = """
async ({metadataUrl, clientId, clientSecret, api, gateway}) => {
  const out = {};
  const step = async (name, run) => {
    try { out[name] = await run(); } catch (e) { out[name] = {error: String(e)}; }
  };
  await step("metadata", async () => {
    const r = await fetch(metadataUrl);
    const m = await r.json();
    return {status: r.status, token_endpoint: m.token_endpoint, authorization_endpoint: m.authorization_endpoint};
  });
  const tokenEndpoint = metadataUrl.replace("/.well-known/oauth-authorization-server", "/token");
  await step("token", async () => {
    const r = await fetch(tokenEndpoint, {method: "POST",
      headers: {"Authorization": "Basic " + btoa(clientId + ":" + clientSecret),
                "Content-Type": "application/x-www-form-urlencoded"},
      body: "grant_type=client_credentials&scope=reports%3Aread"});
    return {status: r.status, body: await r.json()};
  });
  const token = out.token.body ? out.token.body.access_token : "at_from_nowhere";
  for (const [name, base] of [["api", api], ["gateway", gateway]]) {
    await step(name, async () => {
      const r = await fetch(base + "/reports/usage", {headers: {"Authorization": "Bearer " + token}});
      return {status: r.status, body: await r.json(), challenge: r.headers.get("WWW-Authenticate")};
    });
    await step(name + " without a token", async () => {
      const r = await fetch(base + "/reports/usage");
      return {status: r.status, challenge: r.headers.get("WWW-Authenticate")};
    });
  }
  await step("authorize", async () => {
    const r = await fetch(metadataUrl.replace("/.well-known/oauth-authorization-server", "/authorize") +
                          "?response_type=code&client_id=photocli");
    return {status: r.status};
  });
  document.getElementById("out").textContent = JSON.stringify(out, null, 1);
  return out;
}
"""


@pytest.fixture(scope="module")
def origins():
    """Two page servers on their own loopback ports: ``{"allowed": url, "other": url}``."""
    servers = {name: BackgroundServer(lambda environ, start_response: Response(PAGE, mimetype="text/html")(
        environ, start_response), f"page-{name}").start() for name in ("allowed", "other")}
    yield {name: s.url for name, s in servers.items()}
    stop_all(servers.values())


@pytest.fixture(scope="module")
def cors_lab(origins):
    """A lab that lets the "allowed" page in, and no other."""
    lab = Lab(cors_origins=[origins["allowed"]]).start()
    yield lab
    errors = list(lab.errors)
    lab.stop()
    assert errors == [], errors[0]["traceback"]


def run_steps(page, lab, origin):
    bot = lab.clients["backup-bot"]
    page.goto(origin + "/", wait_until="domcontentloaded")
    return page.evaluate(STEPS, {"metadataUrl": f"{lab.issuer}/.well-known/oauth-authorization-server",
                                 "clientId": bot.client_id, "clientSecret": bot.client_secret,
                                 "api": lab.api_url, "gateway": lab.gateway_url})


def test_fetch_cors_a_page_on_the_allowed_origin_uses_the_lab(signin_page, cors_lab, origins, screenshot_dir):
    out = run_steps(signin_page, cors_lab, origins["allowed"])
    shot(signin_page, screenshot_dir, "cors-allowed-origin")
    assert out["metadata"] == {"status": 200, "token_endpoint": f"{cors_lab.issuer}/token",
                               "authorization_endpoint": f"{cors_lab.issuer}/authorize"}
    assert out["token"]["status"] == 200 and out["token"]["body"]["token_type"] == "Bearer"
    assert out["token"]["body"]["scope"] == "reports:read"
    for name in ("api", "gateway"):
        assert out[name]["status"] == 200 and out[name]["body"]["generated_for"] == "backup-bot", out[name]
        anonymous = out[f"{name} without a token"]
        assert anonymous["status"] == 401 and anonymous["challenge"].startswith("Bearer "), anonymous  # exposed
    # RFC 9700 s2.6: the authorization endpoint is navigated to, never fetched, even from an allowed origin.
    assert out["authorize"] == {"error": "TypeError: Failed to fetch"}
    assert any("blocked by CORS policy" in m and "/authorize" in m for m in signin_page.console_log)


def test_fetch_cors_a_page_on_another_origin_is_blocked_by_the_browser(signin_page, cors_lab, origins,
                                                                        screenshot_dir):
    out = run_steps(signin_page, cors_lab, origins["other"])
    shot(signin_page, screenshot_dir, "cors-other-origin")
    steps = ["metadata", "token", "api", "api without a token", "gateway", "gateway without a token", "authorize"]
    assert {name: out[name] for name in steps} == {name: {"error": "TypeError: Failed to fetch"} for name in steps}
    blocked = [m for m in signin_page.console_log if "blocked by CORS policy" in m]
    assert any("oauth-authorization-server" in m for m in blocked)
    assert any("/token" in m and "preflight" in m for m in blocked)          # Basic auth: the preflight is refused
    assert any("/reports/usage" in m for m in blocked)
    assert all(origins["other"] in m for m in blocked)
