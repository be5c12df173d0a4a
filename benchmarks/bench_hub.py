"""A room of learners on one machine: a real JupyterHub, every learner running notebooks 01 to 05 at once.

    python benchmarks/bench_hub.py --learners 30      # as root, with .ci/run's hub tooling in .hub/

Each learner is a real OS account (``useradd``) with a copy of the workbook; the hub spawns every
learner's server (``localprocess``: under the learner's own uid), then all learners at the same time
run notebooks 01 to 05 top to bottom, each notebook in a fresh kernel of their own server, cell by
cell over the kernel's websocket as JupyterLab does, and every cell is judged as nbval judges it
(errors, and outputs against the committed ones with ``tests/sanitize.cfg``).

Prints: spawn time; memory per learner (peak proportional set size of the learner's server and
kernel, sampled every second while the notebooks run); the slowest cell's latency under the load
and the median cell; total wall time; and every notebook that did not pass. Exit status 1 if any
failed. The accounts are removed afterwards (``--keep-accounts`` keeps them).
"""
from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hub import hubtools  # noqa: E402

NOTEBOOKS = ["01-basic-auth.ipynb", "02-token-flows.ipynb", "03-scopes.ipynb", "04-revocation.ipynb",
             "05-gateway.ipynb"]


class MemoryWatch:
    """Samples, every ``interval`` seconds, the PSS of each learner's server with its kernels; keeps the peak."""

    def __init__(self, hub: hubtools.Hub, interval: float = 1.0):
        self.hub, self.interval = hub, interval
        self.peak: dict[str, float] = {}
        self.peak_kernel: dict[str, float] = {}
        self.peak_server: dict[str, float] = {}
        self.most_kernels = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.wait(self.interval):
            for user, pid in list(self.hub.server_pids.items()):
                try:
                    server = psutil.Process(pid)
                    own = server.memory_full_info().pss / 2**20
                    kids = [k.memory_full_info().pss / 2**20 for k in server.children(recursive=True)]
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                self.peak[user] = max(self.peak.get(user, 0.0), own + sum(kids))
                self.peak_server[user] = max(self.peak_server.get(user, 0.0), own)
                self.peak_kernel[user] = max(self.peak_kernel.get(user, 0.0), *kids, 0.0)
                self.most_kernels = max(self.most_kernels, len(kids))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


def learner_run(hub: hubtools.Hub, user: str, home: Path, notebooks: list[str]) -> list[hubtools.NotebookRun]:
    """One learner: each notebook in a fresh kernel of their own server, top to bottom."""
    token = hub.token(user)
    folder = home / "workbook" / "notebooks"
    runs = []
    for name in notebooks:
        kernel = None
        try:
            kernel = hubtools.Kernel(hub.url, user, token, timeout=300)
            runs.append(hubtools.run_notebook(kernel, hubtools.REPO_ROOT / "notebooks" / name, cwd=str(folder),
                                              cell_timeout=300))
        except Exception as e:       # a dead kernel or websocket is a failed notebook, not a dead benchmark
            runs.append(hubtools.NotebookRun(name, 0.0, [], [f"{type(e).__name__}: {e}"]))
        finally:
            if kernel is not None:
                kernel.close()
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=3, help="how many learners (default 3; the figure: 30)")
    parser.add_argument("--notebooks", nargs="*", default=NOTEBOOKS, help="which notebooks (default 01 to 05)")
    parser.add_argument("--prefix", default="hubb-", help="account names: <prefix>01, <prefix>02, ...")
    parser.add_argument("--keep-accounts", action="store_true")
    parser.add_argument("--glibc-defaults", action="store_true",
                        help=f"leave out the workshop environment {hubtools.WORKSHOP_ENV} (to see what it saves)")
    parser.add_argument("--tcp-kernels", action="store_true",
                        help=f"leave out the server arguments {hubtools.WORKSHOP_ARGS} (kernels on loopback TCP)")
    args = parser.parse_args(argv)
    reason = hubtools.missing()
    if reason:
        print(f"cannot run a hub here: {reason}", file=sys.stderr)
        return 2

    # SIGTERM (a timeout, a kill) ends the run as Ctrl-C does: the hub stops and the accounts go.
    signal.signal(signal.SIGTERM, _interrupted)
    t0 = time.monotonic()
    users = [f"{args.prefix}{i:02d}" for i in range(1, args.learners + 1)]
    accounts = {u: hubtools.ensure_account(u) for u in users}
    for acct in accounts.values():
        hubtools.prepare_home(acct)
    print(f"{len(users)} accounts ready in {time.monotonic() - t0:.1f} s")
    hub = hubtools.Hub(Path(tempfile.mkdtemp(prefix="bench-hub-")), users,
                       environment={} if args.glibc_defaults else dict(hubtools.WORKSHOP_ENV),
                       server_args=[] if args.tcp_kernels else list(hubtools.WORKSHOP_ARGS))
    failures = 0
    try:
        hub.start()
        print(f"hub up in {hub.started_seconds:.1f} s")
        hub.api("POST", "/users", json={"usernames": users}, expect=(201, 409))
        t_spawn = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(users)) as pool:
            spawn = dict(zip(users, pool.map(hub.spawn, users), strict=True))
        spawn_wall = time.monotonic() - t_spawn
        idle = {u: hubtools.pss_mib(hub.server_pids[u]) for u in users if u in hub.server_pids}

        t_run = time.monotonic()
        with MemoryWatch(hub) as watch, ThreadPoolExecutor(max_workers=len(users)) as pool:
            futures = {u: pool.submit(learner_run, hub, u, accounts[u].home, args.notebooks) for u in users}
            results = {u: f.result() for u, f in futures.items()}
        run_wall = time.monotonic() - t_run
        hub_mib = _hub_and_proxy_mib(hub)
    finally:
        hub.stop()
        if not args.keep_accounts:
            for u in users:
                hubtools.remove_account(u)
    total_wall = time.monotonic() - t0

    cells = [(s, u, r.path, i) for u, runs in results.items() for r in runs for i, s in r.cell_seconds]
    passed = sum(r.passed for runs in results.values() for r in runs)
    count = sum(len(runs) for runs in results.values())
    slowest = max(cells) if cells else (0.0, "-", "-", -1)
    peaks = sorted(watch.peak.values())

    print()
    print(f"learners                 {len(users)} on {_cores()} cores, "
          f"notebooks {' '.join(n[:2] for n in args.notebooks)}, environment {hub.environment or 'glibc defaults'}, "
          f"server arguments {hub.server_args or 'none (kernels on TCP)'}")
    print(f"notebooks passed         {passed}/{count}")
    print(f"spawn (all at once)      median {statistics.median(spawn.values()):.1f} s, "
          f"max {max(spawn.values()):.1f} s, all up in {spawn_wall:.1f} s")
    if idle:
        print(f"idle server              median {statistics.median(idle.values()):.0f} MiB")
    if peaks:
        print(f"memory per learner       median {statistics.median(peaks):.0f} MiB, max {peaks[-1]:.0f} MiB "
              f"(peak PSS of server + kernels; server median {statistics.median(watch.peak_server.values()):.0f}, "
              f"largest kernel median {statistics.median(watch.peak_kernel.values()):.0f}; "
              f"at most {watch.most_kernels} kernel process(es) per server at a sample)")
    print(f"hub + proxy              {hub_mib:.0f} MiB")
    if cells:
        print(f"slowest cell             {slowest[0]:.2f} s ({Path(slowest[2]).name} cell {slowest[3]}, {slowest[1]})")
        print(f"median cell              {statistics.median(c[0] for c in cells) * 1000:.0f} ms "
              f"over {len(cells)} cells")
    print(f"notebooks, all learners  {run_wall:.1f} s wall")
    print(f"total wall time          {total_wall:.1f} s (accounts, hub, spawns, notebooks, teardown)")
    for u, runs in sorted(results.items()):
        for r in runs:
            if not r.passed:
                failures += 1
                print(f"FAILED {u} {Path(r.path).name}:\n  " + "\n  ".join(p[:1500] for p in r.problems))
    if failures:
        print(f"the hub's log and config: {hub.workdir}")
    else:
        shutil.rmtree(hub.workdir, ignore_errors=True)
    return 1 if failures else 0


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _hub_and_proxy_mib(hub: hubtools.Hub) -> float:
    """PSS of the hub and its proxy: the hub's process tree less the learners' servers and kernels."""
    import psutil

    servers = set(hub.server_pids.values())
    total, todo = 0, [psutil.Process(hub.process.pid)]
    while todo:
        p = todo.pop()
        try:
            total += p.memory_full_info().pss
            todo += [c for c in p.children() if c.pid not in servers]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total / 2**20


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
