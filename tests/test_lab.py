"""The lab facade: start/stop/reset, one lab per process, loopback, isolation, secrets at rest."""
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import requests

import apisec_lab
from apisec_lab.lab import Lab

from .conftest import bearer, code_flow


def lab_threads():
    return [t for t in threading.enumerate() if t.name.startswith("apisec-lab-")]


def port_of(url):
    return int(url.rsplit(":", 1)[1])


def port_is_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine; a listener is not
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_start_is_idempotent_and_replacement_is_clean(lab):
    assert apisec_lab.start() is lab, "a re-run cell gets the same lab"
    before = len(lab_threads())
    for _ in range(3):
        assert apisec_lab.start() is lab
    assert len(lab_threads()) == before


def test_fresh_start_replaces_without_leaking_ports_or_threads(lab):
    first = lab
    threads = len(lab_threads())
    old_ports = [port_of(u) for u in (first.api_url, first.issuer, first.apps_url, first.wiretap.url)]
    second = apisec_lab.start(fresh=True)
    try:
        assert second is not first and not first.healthy() and second.healthy()
        assert all(port_is_free(p) for p in old_ports)
        assert len(lab_threads()) == threads
        assert requests.get(f"{second.api_url}/health").status_code == 200
    finally:
        second.reset()
    assert apisec_lab.start() is second


def test_every_server_binds_loopback(lab):
    for s in lab._servers:
        assert s.server.server_address[0] == "127.0.0.1"
    assert lab.wiretap.server.server_address[0] == "127.0.0.1"
    assert all(t.daemon for t in lab_threads())


def test_another_interface_must_be_asked_for_and_is_warned_about(capsys):
    with pytest.warns(UserWarning, match="not loopback"):
        other = Lab(host="0.0.0.0")
    try:
        assert "WARNING" in capsys.readouterr().err
        assert other._api.server.server_address[0] == "0.0.0.0"
    finally:
        other.stop()


def test_two_labs_do_not_interfere(lab):
    other = Lab().start()
    try:
        assert other.db_path != lab.db_path
        assert {other.api_url, other.issuer}.isdisjoint({lab.api_url, lab.issuer})
        token = code_flow(other, "photoprint", ["photos:read"])
        assert requests.get(f"{other.api_url}/photos", headers=bearer(token)).status_code == 200
        assert requests.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 401
        assert lab.clients["photoprint"].client_secret != other.clients["photoprint"].client_secret
    finally:
        other.stop()


def test_stop_is_fast_frees_ports_and_removes_the_store():
    lab = Lab().start()
    ports = [port_of(u) for u in (lab.api_url, lab.issuer, lab.apps_url, lab.wiretap.url)]
    path = lab.db_path
    lab.stop()
    lab.stop()  # idempotent
    assert not lab.healthy()
    assert all(port_is_free(p) for p in ports)
    assert not path.exists() and not path.parent.exists(), "the store and its directory are gone"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{lab.api_url}/health", timeout=2)


def test_reset_returns_to_the_seed(http, lab):
    token = code_flow(lab, "photoprint", ["photos:read", "photos:write"])
    http.post(f"{lab.api_url}/photos", json={"title": "new"}, headers=bearer(token))
    lab.weaknesses.bola = True
    lab.clock.advance(hours=1)
    lab.add_user("carol", "carol-pass-1")
    secret = lab.clients["photoprint"].client_secret
    lab.reset()
    assert lab.weaknesses.enabled() == [] and lab.clock.offset == 0
    assert lab.store.user("carol") is None
    assert len(lab.store.photos()) == 5
    assert http.get(f"{lab.api_url}/photos", headers=bearer(token)).status_code == 401
    assert lab.clients["photoprint"].client_secret == secret, "apps holding the secret keep working"
    assert code_flow(lab, "photoprint", ["photos:read"])["access_token"]


def test_register_client_and_add_user(http, lab):
    lab.add_user("carol", "carol-pass-1")
    app = lab.register_client("My Gallery", redirect_uris=["http://127.0.0.1:9999/cb"], scopes=["photos:read"])
    assert app.client_id.startswith("my-gallery-") and app.client_secret
    assert "***" in repr(app) and app.client_secret not in repr(app)
    url = (f"{lab.metadata['authorization_endpoint']}?response_type=code&client_id={app.client_id}"
           f"&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&scope=photos%3Aread&state=abc"
           f"&code_challenge={'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'}&code_challenge_method=S256")
    back = lab.authorize(url, "carol", "carol-pass-1")
    r = http.post(lab.metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                  data={"grant_type": "authorization_code", "code": back.code, "redirect_uri": "http://127.0.0.1:9999/cb",
                        "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"})  # RFC 7636 appendix B
    assert r.status_code == 200
    assert http.get(f"{lab.api_url}/photos", headers=bearer(r.json())).json() == []
    public = lab.register_client("CLI", redirect_uris=["http://127.0.0.1:9999/cb"], scopes=["photos:read"], public=True)
    assert public.client_secret is None
    machine = lab.register_client("Cron", scopes=["reports:read"])
    t = http.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                  auth=(machine.client_id, machine.client_secret))
    assert t.status_code == 200
    with pytest.raises(ValueError):
        lab.register_client("Bad", scopes=["root"])
    with pytest.raises(ValueError):
        lab.register_client("Bad", scopes=["reports:read"], public=True)


def test_no_plaintext_secret_in_the_store(http, lab):
    lab.add_user("carol", "carol-pass-1")
    extra = lab.register_client("Extra", scopes=["reports:read"])
    token = code_flow(lab, "photoprint", ["photos:read"])
    refreshed = http.post(lab.metadata["token_endpoint"], data={"grant_type": "refresh_token",
                                                                "refresh_token": token["refresh_token"]},
                          auth=(lab.clients["photoprint"].client_id, lab.clients["photoprint"].client_secret)).json()
    cc = http.post(lab.metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                   auth=(extra.client_id, extra.client_secret)).json()
    code = lab.inbox.latest("photoprint").code      # the code the browser brought to PhotoPrint's callback
    secrets = [*apisec_lab.DEMO_PASSWORDS.values(), "carol-pass-1", extra.client_secret, code,
               *(c.client_secret for c in lab.clients.values() if c.client_secret),
               token["access_token"], token["refresh_token"], refreshed["access_token"],
               refreshed["refresh_token"], cc["access_token"]]
    db = sqlite3.connect(f"file:{lab.db_path}?mode=ro", uri=True)     # read-only: the test only looks
    dump = "\n".join(db.iterdump())
    codes = [digest for (digest,) in db.execute("SELECT digest FROM codes")]
    raw = lab.db_path.read_bytes()
    db.close()
    for secret in secrets:
        assert secret not in dump and secret.encode() not in raw, f"{secret[:6]}... stored in clear"
    assert dump.count("scrypt$") == 3  # alice, bob, carol
    assert codes and all(len(d) == 64 for d in codes)


def test_events_and_connected_apps_frames(http, lab):
    token = code_flow(lab, "photoprint", ["photos:read"])
    http.get(f"{lab.api_url}/photos", headers=bearer(token))
    apps = lab.connected_apps("alice")
    assert list(apps.columns) == ["client_id", "app", "scopes", "granted", "last_used"]
    assert apps.iloc[0]["app"] == "PhotoPrint" and apps.iloc[0]["last_used"] is not None
    grant_id = int(apps.index[0])
    events = lab.events(grant_id)
    assert list(events["event"]) == ["consent", "issued", "used"]
    assert events.iloc[0]["detail"] == "asked: photos:read; granted: photos:read"
    assert "code" not in events.columns, "the code's digest stays inside the store"
    assert lab.revoke_grant(grant_id) and not lab.revoke_grant(grant_id)
    assert list(lab.events(grant_id)["event"]) == ["consent", "issued", "used", "revoked"]
    assert set(lab.endpoints()["scope"]) >= {"photos:read", "payment:write", "(none)"}


def test_the_clock_only_moves_forward(lab):
    t0 = lab.clock.now()
    assert lab.clock.advance(minutes=2) >= t0 + 120
    with pytest.raises(ValueError):
        lab.clock.advance(-1)
    with pytest.raises(AttributeError):
        lab.weaknesses.typo = True


def test_serve_command_runs_the_lab_in_a_terminal():
    proc = subprocess.Popen([sys.executable, "-m", "apisec_lab", "serve"], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("try:"):
                break
        text = "".join(lines)
        api = next(ln.split()[2] for ln in lines if "resource API" in ln)
        assert api.startswith("http://127.0.0.1:")
        assert "alice    wonderland-2026" in text and "hardened" in text
        assert requests.get(f"{api}/health", timeout=5).json() == {"status": "ok"}
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "stopped." in out
    bad = subprocess.run([sys.executable, "-m", "apisec_lab", "serve", "--weak", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown weakness" in bad.stderr


def test_two_kernels_on_one_machine_do_not_interfere():
    """Two processes (as two Jupyter kernels would be) each get their own ports, store and secrets."""
    procs = [subprocess.Popen([sys.executable, "-m", "apisec_lab", "serve"], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    try:
        printed = []
        for proc in procs:
            lines = []
            while not (lines and lines[-1].startswith("try:")):
                lines.append(proc.stdout.readline())
            printed.append("".join(lines))
        apis = [next(w for w in text.split() if w.startswith("http://")) for text in printed]
        issuers = [text.split("authorization server")[1].split()[0] for text in printed]
        secrets = [text.split("backup-bot")[1].split()[1] for text in printed]
        assert apis[0] != apis[1] and issuers[0] != issuers[1] and secrets[0] != secrets[1]
        tokens = []
        for issuer, secret in zip(issuers, secrets, strict=True):
            r = requests.post(f"{issuer}/token", data={"grant_type": "client_credentials"},
                              auth=("backup-bot", secret), timeout=10)
            assert r.status_code == 200
            tokens.append(r.json()["access_token"])
        assert requests.post(f"{issuers[1]}/token", data={"grant_type": "client_credentials"},
                             auth=("backup-bot", secrets[0]), timeout=10).status_code == 401
        for i, api in enumerate(apis):
            own = requests.get(f"{api}/reports/usage", headers=bearer(tokens[i]), timeout=10)
            other = requests.get(f"{api}/reports/usage", headers=bearer(tokens[1 - i]), timeout=10)
            assert own.status_code == 200 and other.status_code == 401
    finally:
        for proc in procs:
            proc.terminate()
            proc.communicate(timeout=10)
    assert [p.returncode for p in procs] == [0, 0]


def test_open_command_starts_jupyterlab_on_the_first_notebook(tmp_path):
    """The README's first command ends in ``python -m apisec_lab open``: JupyterLab on loopback, notebook 00."""
    from apisec_lab.__main__ import jupyter_lab_command

    command = jupyter_lab_command(["--no-browser"], as_root=False)
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert command[3].endswith("notebooks/00-start-here.ipynb") and "--allow-root" not in command
    assert "--ServerApp.ip=127.0.0.1" in command
    assert "--allow-root" in jupyter_lab_command([], as_root=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**__import__("os").environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "apisec_lab", "open", "--no-browser", f"--port={port}",
                             "--IdentityProvider.token=", f"--LabApp.workspaces_dir={tmp_path}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = requests.get(f"http://127.0.0.1:{port}/api/status", timeout=2).status_code
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        assert status == 200, proc.stderr.read() if proc.poll() is not None else "no answer"
        page = requests.get(f"http://127.0.0.1:{port}/lab/tree/00-start-here.ipynb", timeout=10)
        assert page.status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_a_refused_sign_in_shows_as_one_line_in_ipython(lab):
    from apisec_lab.client.flows import OAuthApp

    url = OAuthApp(lab, "photocli").start_login(["photos:read"])
    with pytest.raises(apisec_lab.AuthorizationFailed) as caught:
        lab.authorize(url, "alice", "not her password")
    assert caught.value._render_traceback_() == [f"AuthorizationFailed: HTTP {caught.value.response.status_code} "
                                                  "from the authorization endpoint"]
