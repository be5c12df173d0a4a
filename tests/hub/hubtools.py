"""A real JupyterHub on this machine, for the hub tests and ``benchmarks/bench_hub.py``.

What it drives, and where it lives (``.ci/run`` installs it; see :func:`missing`):

- ``.hub/venv``: a venv made from ``/usr/bin/python3`` (not a Python under root's home, which other
  accounts cannot read) holding JupyterHub, jupyter-server-proxy and the workbook's own requirements
  (the repository installed editable, so learners' kernels import this checkout). The hub and every
  single-user server run from it. ``$APISEC_HUB_DIR`` names another folder.
- ``.hub/node_modules``: configurable-http-proxy, JupyterHub's default proxy, from
  ``tests/hub/package.json`` and its lock file.
- Real OS accounts made with ``useradd`` (:func:`ensure_account`); the hub's ``localprocess`` spawner
  starts each learner's server under the learner's own uid, as The Littlest JupyterHub does.

:class:`Hub` starts ``jupyterhub`` with a service token that drives its REST API (users, servers,
tokens). :class:`Kernel` runs code in a learner's kernel over the kernel's websocket, as JupyterLab
does; :func:`run_notebook` runs a committed notebook that way and judges it as nbval does (its own
comparison, with ``tests/sanitize.cfg``). :data:`CHROMIUM_REMOTE_ARGS` make Chromium a learner on
another machine: it reaches the hub only by its public name and cannot reach this host's loopback.
"""
from __future__ import annotations

import difflib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_DIR = Path(os.environ.get("APISEC_HUB_DIR", REPO_ROOT / ".hub"))
VENV = HUB_DIR / "venv"
JUPYTERHUB = VENV / "bin" / "jupyterhub"
SINGLEUSER = VENV / "bin" / "jupyterhub-singleuser"
CHP = HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
SANITIZE = REPO_ROOT / "tests" / "sanitize.cfg"

#: The name a remote learner's browser uses for the hub (mapped to 127.0.0.1 inside Chromium only).
PUBLIC_HOST = "hub.test"
#: The shared password of :class:`Hub`'s learners (``SharedPasswordAuthenticator`` wants 8+ characters).
LEARNER_PASSWORD = "workshop-" + secrets.token_hex(4)


def chromium_remote_args(public_host: str = PUBLIC_HOST) -> list[str]:
    """Chromium flags that make it a browser on another machine.

    ``public_host`` resolves to 127.0.0.1 inside Chromium; every other name, and 127.0.0.1 itself
    (``<-loopback>`` drops the implicit bypass), goes to a proxy where nothing listens. So the hub's
    public URL works and a ``http://127.0.0.1:PORT`` link fails, as on a learner's laptop.
    """
    return [f"--host-resolver-rules=MAP {public_host} 127.0.0.1", "--proxy-server=http://127.0.0.1:9",
            f"--proxy-bypass-list={public_host};<-loopback>"]


CHROMIUM_REMOTE_ARGS = chromium_remote_args()

# JupyterLab user settings each learner gets: no news pop-up or toasts, every cell in the DOM, and
# no autosave (a test must not change the learner's copy of a notebook behind its back).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def missing() -> str | None:
    """Why a real hub cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return "the hub tests need Linux (real accounts, /proc/net/tcp)"
    if os.geteuid() != 0:
        return "the hub tests need root (useradd, and a hub that starts servers as other accounts)"
    if shutil.which("useradd") is None:
        return "useradd not found"
    for path, what in ((JUPYTERHUB, "jupyterhub"), (SINGLEUSER, "jupyterhub-singleuser"),
                       (CHP, "configurable-http-proxy")):
        if not path.exists():
            return f"{what} not found at {path}: run .ci/run (it installs the hub tooling there)"
    if not reachable_by_others(VENV):
        return (f"{VENV} is not searchable by other accounts, so learners cannot run the hub's venv: "
                f"point APISEC_HUB_DIR at a folder they can reach (.ci/run does)")
    return None


def reachable_by_others(path: Path) -> bool:
    """True when every folder from ``/`` down to ``path`` lets other accounts through (o+x)."""
    path = Path(path).resolve()
    return all(os.stat(folder).st_mode & 0o001 for folder in (path, *path.parents))


def sync_package() -> None:
    """Make sure learners import this checkout's ``apisec_lab``.

    The hub's venv has a checkout installed editable (from requirements.txt), which works when other
    accounts can read the checkout; but ``$APISEC_HUB_DIR`` may be another checkout's tooling, whose
    editable install points there. So: where other accounts can read this checkout, the venv gets it
    editable unless it already imports it from here; where they cannot (a checkout under root's home), a
    copy of it is installed.
    """
    here = REPO_ROOT / "apisec_lab"
    pip = [str(VENV / "bin" / "pip"), "install", "--quiet", "--no-deps"]
    if reachable_by_others(here):
        # -I and cwd="/": what a learner's kernel imports, not the checkout this process happens to run in
        found = subprocess.run([str(VENV / "bin" / "python"), "-I", "-c",
                                "import apisec_lab, os; print(os.path.dirname(os.path.abspath(apisec_lab.__file__)))"],
                               capture_output=True, text=True, cwd="/")
        if found.returncode == 0 and Path(found.stdout.strip()) == here.resolve():
            return
        subprocess.run([*pip, "--editable", str(REPO_ROOT)], check=True, capture_output=True)
        return
    subprocess.run([*pip, "--force-reinstall", str(REPO_ROOT)], check=True, capture_output=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- accounts -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Account:
    """A real OS account: ``name``, ``uid``, ``home``."""

    name: str
    uid: int
    gid: int
    home: Path


def account(name: str) -> Account:
    entry = pwd.getpwnam(name)
    return Account(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def ensure_account(name: str) -> Account:
    """The account ``name``, made with ``useradd`` (home folder, own group) unless it exists."""
    try:
        return account(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name],
                       check=True, capture_output=True)
        return account(name)


def remove_account(name: str) -> None:
    """Delete the account and its home; a warning, not an error, if processes still hold it."""
    try:
        account(name)
    except KeyError:
        return
    r = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
    if r.returncode not in (0, 12):     # 12: could not remove the home folder
        print(f"warning: userdel {name}: {r.stderr.strip()}", file=sys.stderr)


def prepare_home(user: Account, notebooks: Path = REPO_ROOT / "notebooks") -> Path:
    """Give the learner a fresh copy of the workbook and quiet JupyterLab settings; return the copy.

    On a real hub nbgitpuller or the image does this; here it is a copy owned by the learner.
    """
    target = user.home / "workbook"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(notebooks, target / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    settings = user.home / ".jupyter" / "lab" / "user-settings"
    for rel, value in LAB_SETTINGS.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2))
    for folder in (target, user.home / ".jupyter"):
        for root, dirs, files in os.walk(folder):
            for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
                os.chown(name, user.uid, user.gid)
        os.chown(folder, user.uid, user.gid)
    return target / "notebooks"


# -- the hub --------------------------------------------------------------------------------------
#: Environment every learner's server (and so kernel) gets, beyond PATH: what the README's workshop
#: configuration sets. Each request thread of a lab that checks a password runs scrypt (N=2**14, r=8:
#: a 16 MiB work buffer); glibc keeps those buffers in per-thread arenas after they are freed, and a
#: kernel that ran notebook 01 or 05 held ~380 MiB instead of ~100 MiB. A fixed mmap threshold makes
#: glibc hand every block over 1 MiB back to the system when it is freed.
WORKSHOP_ENV = {"MALLOC_MMAP_THRESHOLD_": "1048576"}
#: The single-user server's kernels talk to it over Unix sockets in the learner's runtime folder, not over
#: loopback TCP. Measured with 30 learners starting kernels at once: jupyter_client picks a kernel's five TCP
#: ports by binding port 0 and letting go, so two servers on one host can pick the same port; that kernel
#: dies ("Address already in use") or a server's channel reaches another learner's kernel (refused: "Invalid
#: Signature"), and the restarter gives up. A Unix socket's name is the learner's own.
WORKSHOP_ARGS = ["--KernelManager.transport=ipc"]

CONFIG = """\
# Written by tests/hub/hubtools.py: a JupyterHub as a workshop would run it on one machine.
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.public_url = {public_url!r}
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie_secret!r}
c.JupyterHub.pid_file = {pid_file!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allowed_users = set({users!r})
c.JupyterHub.spawner_class = {spawner!r}
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = {spawner_args!r}
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~/workbook"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {environment!r}
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.JupyterHub.services = [{{"name": "apisec-tests", "api_token": {service_token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "apisec-tests",
    "scopes": ["admin:users", "admin:servers", "admin:server_state", "tokens", "access:servers"],
    "services": ["apisec-tests"],
}}]
{extra}
"""


class HubError(RuntimeError):
    pass


@dataclass
class Hub:
    """A running JupyterHub: ``url`` (what this host uses), ``public_url`` (what a learner's browser uses)."""

    workdir: Path
    users: list[str]
    port: int = field(default_factory=free_port)
    spawner: str = "localprocess"
    extra_config: str = ""
    environment: dict = field(default_factory=lambda: dict(WORKSHOP_ENV))
    server_args: list = field(default_factory=lambda: list(WORKSHOP_ARGS))
    password: str = LEARNER_PASSWORD
    service_token: str = field(default_factory=lambda: secrets.token_hex(32))
    process: subprocess.Popen | None = None
    server_pids: dict = field(default_factory=dict)
    started_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def public_url(self) -> str:
        return f"http://{PUBLIC_HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "jupyterhub.log"

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self, timeout: float = 60.0) -> "Hub":
        sync_package()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(CONFIG.format(
            port=self.port, hub_port=free_port(), proxy_api_port=free_port(),
            public_url=self.public_url + "/", db_url=f"sqlite:///{self.workdir / 'jupyterhub.sqlite'}",
            cookie_secret=str(self.workdir / "cookie_secret"), pid_file=str(self.workdir / "jupyterhub.pid"),
            password=self.password, users=sorted(self.users), spawner=self.spawner,
            singleuser=str(SINGLEUSER), chp=str(CHP), service_token=self.service_token,
            spawner_args=["--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
                          "--LabApp.extension_manager=readonly",
                          "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
                          *(["--allow-root"] if self.spawner == "simple" else []), *self.server_args],
            environment={"PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
                         "PYTHONDONTWRITEBYTECODE": "1", **self.environment},
            extra=self.extra_config))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "VIRTUAL_ENV"))}
        env["PATH"] = f"{VENV / 'bin'}:{os.path.dirname(shutil.which('node') or '/usr/bin/node')}:/usr/bin:/bin"
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([str(JUPYTERHUB), "-f", str(config)], cwd=self.workdir, env=env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        while True:
            if self.process.poll() is not None:
                raise HubError(f"jupyterhub exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() - started > timeout:
                raise HubError(f"jupyterhub not answering after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)
        self.started_seconds = time.monotonic() - started
        return self

    # -- REST, as the service ---------------------------------------------------------------------
    def api(self, method: str, path: str, expect=(200, 201, 202, 204), **kwargs) -> requests.Response:
        r = requests.request(method, f"{self.url}/hub/api{path}", timeout=30,
                             headers={"Authorization": f"token {self.service_token}"}, **kwargs)
        if r.status_code not in expect:
            raise HubError(f"{method} /hub/api{path}: HTTP {r.status_code} {r.text[:300]}")
        return r

    def spawn(self, user: str, timeout: float = 120.0) -> float:
        """Start ``user``'s single-user server and wait until it answers; return the seconds it took."""
        started = time.monotonic()
        self.api("POST", f"/users/{user}/server", expect=(201, 202, 400))  # 400: already running
        while True:
            model = self.api("GET", f"/users/{user}").json()
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                pid = (server.get("state") or {}).get("pid")
                if pid:
                    self.server_pids[user] = pid
                return time.monotonic() - started
            if server is None and time.monotonic() - started > 5:
                raise HubError(f"{user}'s server is not starting:\n{self.log_tail()}")
            if time.monotonic() - started > timeout:
                raise HubError(f"{user}'s server not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.25)

    def stop_server(self, user: str) -> None:
        self.api("DELETE", f"/users/{user}/server", expect=(202, 204, 400))

    def token(self, user: str) -> str:
        """A fresh API token for ``user`` (as the learner would make on the hub's token page)."""
        r = self.api("POST", f"/users/{user}/tokens", json={"note": "apisec-lab tests", "expires_in": 3600})
        return r.json()["token"]

    def shutdown_kernels(self, user: str) -> None:
        """Delete every session and kernel in ``user``'s server (the next test starts clean)."""
        base, headers = f"{self.url}/user/{user}/api", {"Authorization": f"token {self.service_token}"}
        for kind in ("sessions", "kernels"):
            for item in requests.get(f"{base}/{kind}", headers=headers, timeout=30).json():
                requests.delete(f"{base}/{kind}/{item['id']}", headers=headers, timeout=30)

    def stop(self) -> None:
        """SIGTERM the hub (it stops every server and its proxy), then make sure they are gone."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        for user, pid in self.server_pids.items():   # servers the hub started for this run, by id
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                time.sleep(1)
            else:
                print(f"warning: {user}'s server (pid {pid}) outlived the hub", file=sys.stderr)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# -- a learner's kernel over its websocket --------------------------------------------------------
class KernelError(RuntimeError):
    pass


@dataclass
class CellRun:
    """What one ``execute_request`` produced: nbformat outputs, the reply's status, the seconds it took."""

    outputs: list
    status: str
    seconds: float

    @property
    def error(self) -> dict | None:
        return next((o for o in self.outputs if o.get("output_type") == "error"), None)


class Kernel:
    """A new kernel in ``user``'s single-user server, driven over ``/api/kernels/<id>/channels``.

    The messages are the Jupyter protocol's JSON form (what JupyterLab sends). Thread-safe per
    instance only in the sense that one thread uses one kernel; each learner gets its own.
    """

    def __init__(self, base_url: str, user: str, token: str, name: str = "python3", timeout: float = 60.0):
        import websocket  # websocket-client, a dependency of jupyter_server

        self.base = f"{base_url}/user/{user}"
        self.headers = {"Authorization": f"token {token}"}
        r = requests.post(f"{self.base}/api/kernels", json={"name": name}, headers=self.headers, timeout=timeout)
        if r.status_code != 201:
            raise KernelError(f"POST {self.base}/api/kernels: HTTP {r.status_code} {r.text[:300]}")
        self.id = r.json()["id"]
        self.session = uuid.uuid4().hex
        ws_url = self.base.replace("http://", "ws://", 1) + f"/api/kernels/{self.id}/channels?session_id={self.session}"
        self._lock = threading.Lock()
        self.ws = None
        try:
            self.ws = websocket.create_connection(ws_url, header=[f"{k}: {v}" for k, v in self.headers.items()],
                                                  suppress_origin=True, timeout=timeout)
            self.execute("pass", timeout=timeout)   # the kernel has started when it answers
        except Exception:
            self.close()                            # a kernel that never answered is not left running
            raise

    def _message(self, msg_type: str, content: dict, channel: str = "shell") -> dict:
        return {"header": {"msg_id": uuid.uuid4().hex, "username": "apisec-tests", "session": self.session,
                           "msg_type": msg_type, "version": "5.3",
                           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                "parent_header": {}, "metadata": {}, "content": content, "channel": channel, "buffers": []}

    def execute(self, code: str, timeout: float = 120.0) -> CellRun:
        """Run ``code``; collect its outputs as nbval does (clear_output and display updates ignored)."""
        from nbformat.v4 import output_from_msg

        msg = self._message("execute_request", {"code": code, "silent": False, "store_history": True,
                                                "user_expressions": {}, "allow_stdin": False,
                                                "stop_on_error": True})
        msg_id = msg["header"]["msg_id"]
        outputs, status, idle = [], None, False
        started = time.monotonic()
        with self._lock:
            self.ws.send(json.dumps(msg))
            while not (idle and status is not None):
                left = timeout - (time.monotonic() - started)
                if left <= 0:
                    raise KernelError(f"no answer within {timeout:.0f} s to {code[:80]!r}")
                self.ws.settimeout(left)
                reply = json.loads(self.ws.recv())
                if reply.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = reply["header"]["msg_type"]
                if kind == "status" and reply["content"]["execution_state"] == "idle":
                    idle = True
                elif kind == "execute_reply":
                    status = reply["content"]["status"]
                elif kind in ("stream", "display_data", "execute_result", "error"):
                    reply["msg_type"] = kind
                    outputs.append(output_from_msg(reply))
        return CellRun(outputs, status, time.monotonic() - started)

    def value(self, expression: str, timeout: float = 60.0):
        """The JSON value of ``expression`` evaluated in the kernel."""
        run = self.execute(f"import json as _j; print(_j.dumps({expression}))", timeout=timeout)
        if run.error:
            raise KernelError(f"{expression}: {run.error['ename']}: {run.error['evalue']}")
        text = "".join(o.get("text", "") for o in run.outputs if o.get("name") == "stdout")
        return json.loads(text)

    def close(self) -> None:
        try:
            if self.ws is not None:
                self.ws.close()
        finally:
            requests.delete(f"{self.base}/api/kernels/{self.id}", headers=self.headers, timeout=30)


# -- a notebook, judged as nbval judges it --------------------------------------------------------
class _Judge:
    """nbval's own output comparison (``IPyNbCell.compare_outputs``), outside a pytest item."""

    def __init__(self, sanitize_file: Path = SANITIZE):
        from nbval import plugin

        self._plugin = plugin
        self.colors = plugin.nocolors
        patterns = OrderedDict(plugin.get_sanitize_patterns(sanitize_file.read_text()))
        skip = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")
        self.parent = type("Parent", (), {"sanitize_patterns": patterns, "skip_compare": skip})()
        self.comparison_traceback = []

    def differs(self, fresh: list, stored: list) -> str | None:
        """None when nbval would pass the cell, else nbval's description of the difference."""
        plugin = self._plugin
        same = plugin.IPyNbCell.compare_outputs(self, plugin.coalesce_streams(list(fresh)),
                                                plugin.coalesce_streams(list(stored)))
        return None if same else "\n".join(str(x) for x in self.comparison_traceback)

    def sanitize(self, s):
        return self._plugin.IPyNbCell.sanitize(self, s)

    def format_output_compare(self, key, left, right):
        """nbval's own asks pytest's assertion hook for the diff, which only a collected item has: a unified diff."""
        lines = difflib.unified_diff(_lines(left), _lines(right),
                                     "committed", "in the hub", lineterm="", n=1)
        self.comparison_traceback.append(f" mismatch '{key}'\n" + "\n".join(lines))


def _lines(output) -> list[str]:
    """An output as lines to diff: text by its lines, an HTML table by its rows too."""
    return re.split(r"\n|(?=<tr)", str(output))


@dataclass
class NotebookRun:
    """One notebook run in a hub kernel: per-cell seconds and every problem found."""

    path: str
    seconds: float
    cell_seconds: list
    problems: list

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def slowest(self) -> tuple[float, int]:
        return max((s, i) for i, s in self.cell_seconds) if self.cell_seconds else (0.0, -1)


def run_notebook(kernel: Kernel, path: Path, cwd: str | None = None, compare: bool = True,
                 cell_timeout: float = 120.0) -> NotebookRun:
    """Run every code cell of the committed notebook ``path`` in ``kernel``, top to bottom, as nbval.

    A cell fails on an error (unless marked NBVAL_RAISES_EXCEPTION) and, with ``compare``, when its
    sanitized outputs differ from the committed ones (unless NBVAL_IGNORE_OUTPUT). ``cwd`` is the
    notebook's folder as the learner's server sees it (the kernel starts in the server's root).
    """
    import nbformat
    from nbval import plugin

    nb = nbformat.read(str(path), as_version=4)
    judge = _Judge()
    if cwd:
        kernel.execute(f"import os; os.chdir({cwd!r})")
    problems, timings = [], []
    started = time.monotonic()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        options = {"check": True, "check_exception": False, "skip": False}
        options.update(plugin.find_comment_markers(cell.source))
        options.update(plugin.find_metadata_tags(cell.metadata))
        if options["skip"]:
            continue
        run = kernel.execute(cell.source, timeout=cell_timeout)
        timings.append((index, run.seconds))
        first = cell.source.strip().splitlines()[0][:70]
        if run.error and not options["check_exception"]:
            problems.append(f"cell {index} `{first}`: {run.error['ename']}: {run.error['evalue']}")
            break
        if compare and options["check"] and cell.execution_count is not None:
            difference = judge.differs(run.outputs, cell.outputs)
            if difference:
                problems.append(f"cell {index} `{first}`: outputs differ\n{difference[:2000]}")
    return NotebookRun(str(path), time.monotonic() - started, timings, problems)


# -- memory -----------------------------------------------------------------------------------------
def pss_mib(pid: int) -> float:
    """Proportional set size of ``pid`` and its descendants, in MiB (shared pages split fairly)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total / 2**20
