"""The workbook on a real JupyterHub, used by a learner whose browser is on another machine.

- The harness itself: the learner's browser reaches the hub by its public name only; this host's
  loopback, where the lab listens, is out of its reach (else these tests would hide the bug).
- The learner's kernel runs as the learner's OS account, behind the hub, and notebook 00 passes there.
- The sign-in page loads through the learner's server proxy (``/user/<name>/proxy/<port>/``).
- Notebook 02 end to end: sign in to the hub, open the notebook, follow the link to the real sign-in
  page, approve, and the code comes back to the app.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from apisec_lab import DEMO_PASSWORDS

from ..browser.jupyter import EXPECT_TIMEOUT, cell_index, expect, open_notebook, run_all_cells
from . import hubtools
from .conftest import ANN

PASSWORD = DEMO_PASSWORDS["alice"]


def test_remote_browser_reaches_the_hub_and_not_this_hosts_loopback(hub, learner):
    """The premise of every test here: a learner's browser cannot open ``http://127.0.0.1:PORT``."""
    assert learner.url.startswith(f"{hub.public_url}/user/{ANN}/lab"), learner.url
    with pytest.raises(Exception, match="ERR_PROXY_CONNECTION_FAILED"):   # playwright's Error
        learner.goto(f"{hub.url}/hub/api/", timeout=10_000)


def test_learner_kernel_runs_as_the_learner_behind_the_hub(hub, kernel_of):
    kernel = kernel_of(ANN)
    assert kernel.value("__import__('os').getuid()") == hub.accounts[ANN].uid
    assert kernel.value("__import__('os').environ.get('JUPYTERHUB_SERVICE_PREFIX')") == f"/user/{ANN}/"
    # the workshop's setting (hubtools.WORKSHOP_ARGS): the kernel listens on Unix sockets, not loopback ports
    assert kernel.value("__import__('ipykernel.kernelapp').kernelapp.IPKernelApp.instance().transport") == "ipc"
    notebooks = hub.accounts[ANN].home / "workbook" / "notebooks"
    run = hubtools.run_notebook(kernel, notebooks / "00-start-here.ipynb", cwd=str(notebooks))
    assert run.passed, "\n\n".join(run.problems)


def _start_login(kernel) -> str:
    kernel.execute("import apisec_lab\nfrom apisec_lab.client.flows import OAuthApp\n"
                   "lab = apisec_lab.start()\napp = OAuthApp(lab, 'photocli')\n"
                   "url = app.start_login(['photos:read'])")
    return kernel.value("url")


def test_sign_in_page_loads_through_the_server_proxy(hub, kernel_of, learner):
    url = _start_login(kernel_of(ANN))
    port = urlsplit(url).port
    proxied = f"{hub.public_url}/user/{ANN}/proxy/{port}" + url.split(str(port), 1)[1]
    response = learner.goto(proxied, wait_until="domcontentloaded")
    assert response.status == 200, response.status
    expect(learner.locator("#client-name")).to_have_text("PhotoCLI")


def test_notebook_02_code_comes_back_through_the_hub(hub, learner, screenshot_dir):
    server = type("LearnerServer", (), {"url": f"{hub.public_url}/user/{ANN}",
                                        "root": hub.accounts[ANN].home / "workbook"})()
    notebook = "notebooks/02-token-flows.ipynb"
    open_notebook(learner, server, notebook)
    run_all_cells(learner)
    index = cell_index(server, notebook, "nb02.FlowStepper(lab)")
    from ..browser.test_nb02 import Stepper

    s = Stepper(learner, index)
    s.start_fresh()
    s.build_url()
    link = s.consent.locator("a.apisec-real-page")
    href = link.get_attribute("href")
    # The notebook links to the sign-in page through the learner's own server proxy, on the hub's public URL.
    assert re.match(rf"^{re.escape(hub.public_url)}/user/{ANN}/proxy/\d+/authorize\?", href), href
    state = parse_qs(urlsplit(href).query)["state"]
    with learner.context.expect_page() as opened:
        link.click()
    real = opened.value
    real.wait_for_load_state("domcontentloaded")
    expect(real.locator("#client-name")).to_have_text("PhotoCLI")
    real.locator("input[name=username]").fill("alice")
    real.locator("input[name=password]").fill(PASSWORD)
    real.locator("#approve").click()
    real.wait_for_url(re.compile(rf"^{re.escape(hub.public_url)}/user/{ANN}/proxy/\d+/photocli/callback\?"),
                      timeout=EXPECT_TIMEOUT)
    assert parse_qs(urlsplit(real.url).query)["state"] == state
    expect(real.locator("#outcome")).to_contain_text("PhotoCLI received an authorization code")
    real.screenshot(path=str(screenshot_dir / "hub-nb02-callback.png"))
    real.close()
    s.press("Use the code the browser brought back")
    s.expect_step(2)
    s.finish()
