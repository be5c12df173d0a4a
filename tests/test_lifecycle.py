"""Whatever ends a lab, it leaves nothing behind (issue 16).

- ``python -m apisec_lab serve`` catches SIGTERM, SIGINT and SIGHUP before anything starts: a signal at any moment
  of start-up or service stops every server, deletes the store, prints "stopped." and exits 0.
- The store is this account's alone (directory 0700, database 0600).
- A lab killed outright leaves its directory; the next lab to start on the machine removes it, and never a live
  lab's (each live lab holds a lock the kernel drops when the process dies: no process ids, so no id reuse).
"""
import os
import random
import signal
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from apisec_lab import Lab, LabConfig
from apisec_lab.core import storedir

needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/PID/status (Linux)")
needs_flock = pytest.mark.skipif(storedir.fcntl is None, reason="no flock on this platform: nothing is swept")
SERVE = [sys.executable, "-m", "apisec_lab", "serve"]


def catches(pid: int, signum: int) -> bool:
    """Whether process *pid* has a handler for *signum* now (the SigCgt mask of /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:        # already gone
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (signum - 1) & 1)


def serve_in(tmp: Path) -> subprocess.Popen:
    """``serve`` with its own temp folder, so what it leaves behind is exactly what is in *tmp*."""
    tmp.mkdir()
    return subprocess.Popen(SERVE, stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp)})


def until_ready(proc: subprocess.Popen, timeout: float = 60) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, f"serve ended before it was ready: {''.join(lines)!r}"
        lines.append(line)
        if line.startswith("try:"):
            return lines
    raise AssertionError("serve was not ready in time")


@needs_proc
def test_a_signal_at_any_moment_of_start_up_stops_serve_cleanly(tmp_path):
    # How long start-up takes here, so the signals spread over all of it (and a little after it).
    calibration = serve_in(tmp_path / "calibration")
    began = time.monotonic()
    until_ready(calibration)
    ready = time.monotonic() - began
    calibration.send_signal(signal.SIGTERM)
    calibration.communicate(timeout=30)
    rounds = 16
    rng = random.Random(16)
    # Stratified: round i signals at a random moment within the i-th slice of start-up, SIGTERM or SIGINT (Ctrl-C).
    plan = [(i, rng.uniform(i, i + 1) * 1.2 * ready / rounds, rng.choice([signal.SIGTERM, signal.SIGINT]))
            for i in range(rounds)]

    def one_round(i, delay, signum):
        proc = serve_in(tmp_path / f"round-{i}")
        time.sleep(delay)
        # serve's handlers are all in place once SIGTERM and SIGHUP are caught (Python catches SIGINT itself
        # from the start, and serve replaces that first). Once caught, always caught: nothing takes them away.
        caught = catches(proc.pid, signal.SIGTERM) and catches(proc.pid, signal.SIGHUP)
        sent = time.monotonic()
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=30)
        return caught, proc.returncode, out, time.monotonic() - sent, list((tmp_path / f"round-{i}").iterdir())

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda p: one_round(*p), plan))
    for (i, delay, signum), (caught, code, out, took, left) in zip(plan, results, strict=True):
        where = f"round {i}: {signal.Signals(signum).name} after {delay * 1000:.0f} ms"
        assert not left, f"{where} left {left} behind"
        assert took < 20, f"{where}: took {took:.1f} s to stop"
        if caught or code == 0:
            assert code == 0 and out.endswith("stopped.\n"), f"{where}: exit {code}, output ends {out[-80:]!r}"
        else:   # the interpreter itself was still starting: nothing existed yet, Python's defaults apply
            expected = {-signum} if signum == signal.SIGTERM else {-signum, 1}   # 1: KeyboardInterrupt
            assert code in expected and out == "", f"{where}: exit {code}, output {out[:80]!r}"
    assert sum(caught for caught, *_ in results) >= rounds * 3 // 4, "the handlers are installed first of all"


@needs_proc
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_right_after_the_ready_lines_stops_serve_cleanly(tmp_path, signum):
    """The reported bug: a SIGTERM just after the announcement met the default handler (exit -15, no clean-up)."""
    proc = serve_in(tmp_path / "tmp")
    lines = until_ready(proc)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.endswith("stopped.\n")
    assert not list((tmp_path / "tmp").iterdir())
    api = next(ln.split()[2] for ln in lines if "resource API" in ln)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{api}/health", timeout=2)


def test_importing_the_package_loads_no_server_library():
    """Why the window before the handlers is a few milliseconds: ``import apisec_lab`` alone loads nothing heavy."""
    code = ("import sys, apisec_lab; heavy = {'pandas', 'oauthlib', 'werkzeug', 'requests'} & set(sys.modules); "
            "print(sorted(heavy)); print(apisec_lab.LabConfig().access_ttl)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "900"]


def test_the_store_is_this_accounts_alone(tmp_path):
    with Lab(LabConfig(store_root=tmp_path)) as lab:
        assert stat.S_IMODE(lab.db_path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(lab.db_path.stat().st_mode) == 0o600
        assert stat.S_IMODE((lab.db_path.parent / storedir.LOCK).stat().st_mode) == 0o600
        assert lab.db_path.stat().st_size > 0, "SQLite uses the file made for it"
    assert list(tmp_path.iterdir()) == []


def lab_process(root: Path) -> subprocess.Popen:
    """A process (a kernel, say) whose lab keeps its store under *root*; it prints the store's directory."""
    code = ("import sys, apisec_lab; "
            f"lab = apisec_lab.start(config=apisec_lab.LabConfig(store_root={str(root)!r})); "
            "print(lab.db_path.parent, flush=True); sys.stdin.read()")
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


@needs_flock
def test_the_next_lab_removes_what_a_killed_lab_left_and_never_a_live_labs(tmp_path):
    killed, live = lab_process(tmp_path), lab_process(tmp_path)
    try:
        killed_dir, live_dir = Path(killed.stdout.readline().strip()), Path(live.stdout.readline().strip())
        killed.kill()
        killed.communicate(timeout=10)
        assert killed_dir.is_dir() and (killed_dir / "lab.sqlite3").exists(), "SIGKILL: no clean-up ran"
        with Lab(LabConfig(store_root=tmp_path)) as lab:
            assert not killed_dir.exists(), "the next lab removed the killed lab's directory"
            assert live_dir.is_dir() and (live_dir / "lab.sqlite3").exists(), "a live lab's directory stays"
            assert sorted(tmp_path.iterdir()) == sorted([live_dir, lab.db_path.parent])
        live.communicate(input="", timeout=10)      # the live lab's process ends normally, without calling stop()
        assert live.returncode == 0
        assert not live_dir.exists(), "a process that exits normally takes its store with it"
    finally:
        for proc in (killed, live):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def killed_store_dir(root: Path) -> Path:
    """A store directory under *root* whose process made it and was killed outright."""
    code = ("import os, signal; from apisec_lab.core.storedir import StoreDir; "
            f"held = StoreDir({str(root)!r}); print(held.path, flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL
    return Path(done.stdout.strip())


@needs_flock
def test_the_sweep_leaves_alone_what_it_cannot_prove_dead(tmp_path, monkeypatch):
    dead = killed_store_dir(tmp_path)
    no_lock = tmp_path / f"{storedir.PREFIX}older-version"          # no lock file: a lab we cannot judge
    no_lock.mkdir()
    (no_lock / "lab.sqlite3").write_text("")
    link = tmp_path / f"{storedir.PREFIX}link"                      # a symlink is never followed
    link.symlink_to(dead)
    elsewhere = tmp_path / "someone-elses-program"
    elsewhere.mkdir()
    (elsewhere / storedir.LOCK).write_text("")
    monkeypatch.setattr(storedir.os, "getuid", lambda: os.stat(dead).st_uid + 1)   # as if another account's
    assert storedir.sweep(tmp_path) == [] and dead.is_dir()
    monkeypatch.undo()
    assert storedir.sweep(tmp_path) == [dead]
    assert not dead.exists() and no_lock.is_dir() and link.is_symlink() and elsewhere.is_dir()
