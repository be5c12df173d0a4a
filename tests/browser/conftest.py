"""Fixtures for real-browser tests: a JupyterLab server and headless Chromium.

Fixtures: ``jupyter_server`` (session), ``browser`` (session), ``page``
(function), ``screenshot_dir`` (session), and the autouse ``_patient_expect``
(Playwright's ``expect`` waits ``EXPECT_TIMEOUT``). Chromium or Playwright missing makes
the tests skip, or fail when ``APISEC_REQUIRE_BROWSER=1`` (CI). Every test in
this folder gets the ``browser`` marker (``-m "not browser"`` deselects them).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from .jupyter import EXPECT_TIMEOUT, expect

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("APISEC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}
SERVER_START_TIMEOUT = 120.0

# User settings written into the isolated settings dir of the lab server.
LAB_SETTINGS = {
    # No news / update pop-up, no toasts covering widgets.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
    # Every cell stays in the DOM, however long the notebook.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
        {"windowingMode": "none"},
    # Never write executed outputs back into the repository's notebooks.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings":
        {"autosave": False},
}

_timings: dict[str, float] = {}
_failed_key = pytest.StashKey[bool]()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: drives JupyterLab in headless Chromium (needs chromium, playwright)")


def pytest_collection_modifyitems(items):
    """Mark every test collected under this directory with ``browser``."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember a failed call so ``page`` can save a screenshot of it."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_failed_key] = True
    return report


def pytest_terminal_summary(terminalreporter):
    """Print where the screenshots are and how long the fixtures took."""
    shots = _timings.get("screenshot_dir")
    if shots is None and not _timings:
        return
    terminalreporter.section("browser tests")
    if shots is not None:
        terminalreporter.write_line(f"screenshots: {shots}")
    for key, label in (("server_start", "jupyter server start"),
                       ("browser_start", "browser start")):
        if key in _timings:
            terminalreporter.write_line(f"{label}: {_timings[key]:.1f} s")


@pytest.fixture(autouse=True)
def _patient_expect():
    """Retrying assertions wait up to ``EXPECT_TIMEOUT`` ms; Playwright's default is restored after."""
    if expect is not None:
        expect.set_options(timeout=EXPECT_TIMEOUT)
    yield
    if expect is not None:
        expect.set_options(timeout=None)


def save_failure_screenshot(request, page, screenshot_dir) -> None:
    """If the test failed, save ``FAILED-<test name>.png`` of ``page``; never raises."""
    if not request.node.stash.get(_failed_key, False):
        return
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", request.node.name)
    try:
        page.screenshot(path=str(screenshot_dir / f"FAILED-{name}.png"))
    except Exception as exc:  # the page may be gone; keep the real failure
        print(f"could not save failure screenshot: {exc}")


def _unavailable(reason: str):
    """Skip, or fail when ``APISEC_REQUIRE_BROWSER=1``."""
    if os.environ.get("APISEC_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (APISEC_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class JupyterServer:
    """A running JupyterLab: ``url`` (no trailing slash), ``root`` (repo root)."""

    url: str
    root: Path
    process: subprocess.Popen
    log_path: Path
    home: Path
    startup_seconds: float = field(default=0.0)

    def request(self, method: str, path: str, timeout: float = 10.0) -> bytes:
        """Send a REST request to ``{url}{path}`` and return the body."""
        req = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()

    def shutdown_kernels(self) -> None:
        """Delete every session and kernel, so the next test starts fresh."""
        for s in json.loads(self.request("GET", "/api/sessions")):
            self.request("DELETE", f"/api/sessions/{s['id']}", timeout=30)
        for k in json.loads(self.request("GET", "/api/kernels")):
            self.request("DELETE", f"/api/kernels/{k['id']}", timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        """Last ``lines`` lines of the server log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _prepare_home(home: Path) -> dict[str, str]:
    """Create isolated Jupyter dirs and return the server's environment.

    The only kernel spec on the path first is ``python3`` running
    ``sys.executable``, so kernels use the interpreter that runs pytest.
    """
    settings = home / "settings"
    for rel, value in LAB_SETTINGS.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2))
    (home / "workspaces").mkdir()
    kernel_dir = home / "share" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "metadata": {"debugger": True},
    }, indent=1))
    env = dict(os.environ)
    env.update({
        "JUPYTER_PATH": os.pathsep.join([str(home / "share"),
                                         str(Path(sys.prefix) / "share" / "jupyter")]),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
    })
    return env


@pytest.fixture(scope="package")
def jupyter_server(tmp_path_factory):
    """Start JupyterLab on a free 127.0.0.1 port, rooted at the repository.

    No token, no XSRF check, ``window.jupyterapp`` exposed, isolated settings
    and workspaces, autosave off, windowing off. Waits for ``/api/status``;
    on teardown POSTs ``/api/shutdown`` and kills the process if it lingers.
    """
    home = tmp_path_factory.mktemp("jupyter-home")
    env = _prepare_home(home)
    port = _free_port()
    log_path = home / "server.log"
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--allow-root",
        "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={REPO_ROOT}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = JupyterServer(url=url, root=REPO_ROOT, process=process, log_path=log_path,
                           home=home)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n"
                                   f"{server.log_tail()}")
            try:
                server.request("GET", "/api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() - started > SERVER_START_TIMEOUT:
                raise RuntimeError(f"jupyter lab not answering {url}/api/status after "
                                   f"{SERVER_START_TIMEOUT:.0f} s:\n{server.log_tail()}")
            time.sleep(0.2)
        server.startup_seconds = _timings["server_start"] = time.monotonic() - started
        yield server
    finally:
        _stop_server(server)


def _stop_server(server: JupyterServer) -> None:
    """POST /api/shutdown, then SIGTERM/SIGKILL the process group if needed."""
    process = server.process
    if process.poll() is None:
        try:
            server.request("POST", "/api/shutdown", timeout=5)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(timeout=wait)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue


@pytest.fixture(scope="package")
def browser(_playwright):
    """Headless Debian Chromium launched by Playwright.

    ``/usr/bin/chromium`` unless ``$APISEC_CHROMIUM`` names another binary.
    """
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable("chromium not installed: apt-get install chromium")
    started = time.monotonic()
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                          headless=True)
    _timings["browser_start"] = time.monotonic() - started
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def screenshot_dir():
    """Per-run folder: ``$APISEC_SCREENSHOT_DIR`` or
    ``test-artifacts/screenshots/<YYYYmmdd-HHMMSS>/`` under the repo root."""
    env = os.environ.get("APISEC_SCREENSHOT_DIR")
    path = Path(env) if env else (REPO_ROOT / "test-artifacts" / "screenshots"
                                  / datetime.now().strftime("%Y%m%d-%H%M%S"))
    path.mkdir(parents=True, exist_ok=True)
    _timings["screenshot_dir"] = path
    return path


@pytest.fixture
def page(request, browser, jupyter_server, screenshot_dir):
    """A fresh browser context and page; kernels are shut down afterwards.

    On a failed test a screenshot ``FAILED-<test name>.png`` is saved.
    """
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        yield page
    finally:
        save_failure_screenshot(request, page, screenshot_dir)
        context.close()
        jupyter_server.shutdown_kernels()
