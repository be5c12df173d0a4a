"""Benchmark the lab engine; every figure comes from this one run.

    python benchmarks/bench_lab.py [--samples 300]

Prints: start() to first 200 OK, a repeated start(), stop(), and the median
latency of an unauthenticated GET, a Bearer GET and a Basic (scrypt) GET on
the same server, the last two as ratios to the first.  Requests are
interleaved round-robin so drift on a busy machine hits all three alike.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

t0 = time.perf_counter()
import apisec_lab  # noqa: E402
from apisec_lab.client import flows  # noqa: E402
from apisec_lab.lab import Lab  # noqa: E402

IMPORT_S = time.perf_counter() - t0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def start_to_first_200(runs: int) -> tuple[list[float], list[float], list[float]]:
    starts, again, stops = [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        lab = apisec_lab.start(fresh=True)
        with requests.Session() as s:
            s.trust_env = False
            assert s.get(f"{lab.api_url}/health", timeout=5).status_code == 200
        starts.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert apisec_lab.start() is lab
        again.append(time.perf_counter() - t)
        t = time.perf_counter()
        apisec_lab.stop()
        stops.append(time.perf_counter() - t)
    return starts, again, stops


def bearer_token(lab: Lab) -> str:
    """Alice signs in to PhotoCLI (code flow + PKCE); the access token."""
    return flows.code_flow(lab, "photocli", "alice", apisec_lab.DEMO_PASSWORDS["alice"],
                           ["profile:read"])["access_token"]


def latencies(samples: int, basic_every: int) -> dict[str, list[float]]:
    lab = apisec_lab.start(fresh=True)
    lab.weaknesses.basic_auth = True
    token = bearer_token(lab)
    kinds = {
        "unauthenticated GET /health": dict(url=f"{lab.api_url}/health"),
        "Bearer GET /me": dict(url=f"{lab.api_url}/me", headers={"Authorization": f"Bearer {token}"}),
        "Basic (scrypt) GET /me": dict(url=f"{lab.api_url}/me", auth=("alice", apisec_lab.DEMO_PASSWORDS["alice"])),
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    with requests.Session() as s:
        s.trust_env = False
        for kw in kinds.values():  # warm-up
            s.get(timeout=10, **kw).raise_for_status()
        for i in range(samples):
            for name, kw in kinds.items():
                if name.startswith("Basic") and i % basic_every:
                    continue
                t = time.perf_counter()
                r = s.get(timeout=10, **kw)
                times[name].append(time.perf_counter() - t)
                assert r.status_code == 200, (name, r.status_code)
    assert not lab.errors
    apisec_lab.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--starts", type=int, default=7)
    args = parser.parse_args()

    starts, again, stops = start_to_first_200(args.starts)
    print(f"import apisec_lab:                 {ms(IMPORT_S)} (once per kernel; not part of start())")
    print(f"start() to first 200 OK:           median {ms(statistics.median(starts))}, "
          f"max {ms(max(starts))} over {len(starts)} starts   (target < 100 ms)")
    print(f"repeated start() (lab running):    median {ms(statistics.median(again))}   (target < 5 ms)")
    print(f"stop():                            median {ms(statistics.median(stops))}, max {ms(max(stops))}"
          f"   (target < 100 ms)")

    times = latencies(args.samples, basic_every=6)
    base = statistics.median(times["unauthenticated GET /health"])
    print("median latency, same server, interleaved:")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  {name:30} {ms(med):>9}  {med / base:5.2f}x  (n={len(values)})")
    bearer = statistics.median(times["Bearer GET /me"]) / base
    print(f"Bearer / unauthenticated = {bearer:.2f}x (target <= 1.10x)")


if __name__ == "__main__":
    main()
