"""How much latency does the gateway add?  ``python benchmarks/bench_gateway.py``

Measures a Bearer ``GET /me`` straight to the API and the same request
through the gateway, interleaved in one run (so both see the same machine
load), after warming the gateway's introspection cache, and prints both
medians and their ratio.  Target: under 1.5x with the cache warm.

The rate limits are raised for the run (300 requests from one client would
otherwise meet the per-client limit, which is the point of a limit); every
other policy check stays on.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import apisec_lab
from apisec_lab.client import flows
from apisec_lab.servers.gateway import Limit


def access_token(lab) -> str:
    """Alice signs in to PhotoCLI (code flow + PKCE); the access token."""
    return flows.code_flow(lab, "photocli", "alice", apisec_lab.DEMO_PASSWORDS["alice"],
                           ["profile:read"])["access_token"]


def measure(lab, samples: int = 300, path: str = "/me") -> dict:
    """Interleaved timings (seconds) of the same Bearer GET, direct and through the gateway."""
    headers = {"Authorization": f"Bearer {access_token(lab)}"}
    lab.gateway.policy.per_client = lab.gateway.policy.per_user = Limit(10 * samples + 100, 60)
    timings: dict[str, list[float]] = {"direct": [], "gateway": []}
    with lab.session() as s:
        for base in (lab.api_url, lab.gateway_url):            # warm up: connections, caches, the cache entry
            for _ in range(20):
                assert s.get(base + path, headers=headers, timeout=10).status_code == 200
        for i in range(samples):
            order = ("direct", "gateway") if i % 2 == 0 else ("gateway", "direct")
            for name in order:
                base = lab.api_url if name == "direct" else lab.gateway_url
                started = time.perf_counter()
                r = s.get(base + path, headers=headers, timeout=10)
                timings[name].append(time.perf_counter() - started)
                assert r.status_code == 200, (name, r.status_code, r.text)
    # The cache was warm: the whole run needed at most a handful of introspection calls.
    timings["introspections"] = lab.gateway.introspections
    timings["inside"] = [r.latency_ms / 1000 for r in lab.gateway.records[-samples:]]
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args(argv)
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
    lab = apisec_lab.start(fresh=True)
    try:
        t = measure(lab, args.samples)
        direct, via = statistics.median(t["direct"]) * 1000, statistics.median(t["gateway"]) * 1000
        print(f"Bearer GET /me, {args.samples} interleaved samples each, introspection cache warm "
              f"({t['introspections']} introspection call(s) in the run)")
        print(f"  direct to the API   median {direct:.2f} ms")
        print(f"  through the gateway median {via:.2f} ms")
        print(f"  ratio gateway/direct {via / direct:.2f}x (target < 1.5x)")
        print(f"  time inside the gateway, the API's answer included: median "
              f"{statistics.median(t['inside']) * 1000:.2f} ms")
        print(f"  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (client, gateway and API share "
              f"one Python process, as in a notebook)")
        if lab.errors:
            print(f"lab.errors is not empty: {lab.errors[0]['error']}", file=sys.stderr)
            return 1
    finally:
        apisec_lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
