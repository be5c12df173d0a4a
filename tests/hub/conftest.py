"""Fixtures for the real-hub tests: a JupyterHub with two real learners and a remote learner's browser.

- ``hub`` (session): JupyterHub from ``.hub/venv`` with configurable-http-proxy from
  ``.hub/node_modules`` (both installed by ``.ci/run``), the ``localprocess`` spawner, and two OS
  accounts made with ``useradd``: :data:`ANN` and :data:`BEN`, each with a copy of the workbook.
  Both servers are spawned through the hub's REST API with the service token.
- ``kernel_of``: ``kernel_of(user)`` opens a new kernel in that learner's server, over the websocket.
- ``remote_browser`` (session): Debian's Chromium through Playwright, with the flags that make it a
  browser on another machine (it reaches ``hub.test`` and nothing on this host's loopback).
- ``learner``: a fresh browser context signed in to the hub as :data:`ANN`, on her JupyterLab.

Missing tooling (see :func:`hubtools.missing`) skips these tests with the reason, or fails them when
``APISEC_REQUIRE_HUB=1`` (set by ``.ci/run``). Every test here is also marked ``browser``, so
``-m "not browser"`` leaves the hub out of the quick run.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from ..browser import conftest as browser_conftest
from ..browser.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, save_failure_screenshot
from . import hubtools

# The browser tests' screenshot folder, patient ``expect`` and failure screenshots, here too.
screenshot_dir = browser_conftest.screenshot_dir
_patient_expect = browser_conftest._patient_expect
pytest_runtest_makereport = browser_conftest.pytest_runtest_makereport

ANN, BEN = "hubt-ann", "hubt-ben"
_timings: dict[str, float] = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "hub: drives a real JupyterHub with real OS accounts (needs .ci/run's tooling)")


def pytest_collection_modifyitems(items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here + os.sep):
            item.add_marker(pytest.mark.hub)
            item.add_marker(pytest.mark.browser)


def pytest_terminal_summary(terminalreporter):
    if _timings:
        terminalreporter.section("hub tests")
        for key, value in _timings.items():
            terminalreporter.write_line(f"{key}: {value:.1f} s")


def _unavailable(reason: str):
    if os.environ.get("APISEC_REQUIRE_HUB") == "1":
        pytest.fail(f"{reason} (APISEC_REQUIRE_HUB=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def hub(tmp_path_factory):
    """The running hub, both learners' servers spawned; accounts removed afterwards."""
    reason = hubtools.missing()
    if reason:
        _unavailable(reason)
    started = time.monotonic()
    accounts = {name: hubtools.ensure_account(name) for name in (ANN, BEN)}
    for acct in accounts.values():
        hubtools.prepare_home(acct)
    # The instructor's solution locks: a file root writes and the learners can only read.
    locks = Path(tempfile.mkdtemp(prefix="apisec-hub-locks-"))
    locks.chmod(0o755)
    running = hubtools.Hub(tmp_path_factory.mktemp("jupyterhub"), list(accounts),
                           environment={**hubtools.WORKSHOP_ENV, "APISEC_LOCK_FILE": str(locks / "locks.json")})
    running.accounts = accounts
    running.lock_file = locks / "locks.json"
    try:
        running.start()
        running.api("POST", "/users", json={"usernames": list(accounts)}, expect=(201, 409))
        for name in accounts:
            running.spawn(name)
        running.tokens = {name: running.token(name) for name in accounts}
        _timings["hub up, two servers spawned"] = time.monotonic() - started
        yield running
    finally:
        running.stop()
        for name in accounts:
            hubtools.remove_account(name)
        shutil.rmtree(locks, ignore_errors=True)
        _timings["hub session, all told"] = time.monotonic() - started


@pytest.fixture
def kernel_of(hub):
    """``kernel_of(user)``: a new kernel in that learner's server; all shut down after the test."""
    opened = []

    def open_kernel(user: str) -> hubtools.Kernel:
        kernel = hubtools.Kernel(hub.url, user, hub.tokens[user])
        opened.append(kernel)
        return kernel

    yield open_kernel
    for kernel in opened:
        kernel.close()


@pytest.fixture(scope="package")
def remote_browser(_playwright):
    """Chromium as on a learner's laptop: only the hub's public name works, this host's loopback fails."""
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable("chromium not installed: apt-get install chromium")
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=CHROMIUM_ARGS + hubtools.CHROMIUM_REMOTE_ARGS)
    try:
        yield browser
    finally:
        browser.close()


def sign_in(page, hub, user: str) -> None:
    """Sign in on the hub's own login page, as a learner does; ends on the learner's JupyterLab."""
    page.goto(f"{hub.public_url}/hub/login", wait_until="domcontentloaded")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(hub.password)
    page.locator("#login_submit, input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(f"{hub.public_url}/user/{user}/lab**", timeout=60_000)


@pytest.fixture
def learner(request, hub, remote_browser, screenshot_dir):
    """A fresh browser context signed in to the hub as ANN; its kernels are shut down afterwards."""
    context = remote_browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        sign_in(page, hub, ANN)
        yield page
    finally:
        save_failure_screenshot(request, page, screenshot_dir)
        context.close()
        hub.shutdown_kernels(ANN)
