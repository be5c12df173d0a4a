"""Benchmark notebook 06: its top-to-bottom run, and what one visit of Alice's browser costs.

    python benchmarks/bench_nb06.py [--visits 50] [--runs 3]

Prints: the notebook run top to bottom in a fresh kernel (nbclient, as ``python -m apisec_lab.book.execute``
does; kernel start included) and the sum of its cells' own execution times; then the median latency of
``lab.victim.visit(...)`` for a one-page visit (PhotoPrint's offers page and its partner pixel: two requests of
the browser's) and for Alice's silent sign-in at PhotoPrint (four navigations of the browser's, and behind them
PhotoPrint's own token, ``/me`` and ``/photos`` calls), every request through the wiretap, interleaved so drift
on a busy machine hits both alike.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import apisec_lab  # noqa: E402
from apisec_lab.book import execute  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "06-flow-attacks.ipynb"


def notebook_run() -> tuple[float, float]:
    """(seconds from kernel start to the last cell's reply, seconds the cells themselves took)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    with execute.fresh_records():     # the benchmark's checks stay out of the developer's progress record
        t = time.perf_counter()
        NotebookClient(nb, timeout=execute.CELL_TIMEOUT, kernel_name="python3", record_timing=True,
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
        total = time.perf_counter() - t
    cells = 0.0
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
            cells += (end - start).total_seconds()
    return total, cells


def visits(n: int) -> dict[str, list[float]]:
    lab = apisec_lab.start(fresh=True)
    alice = lab.victim
    kinds = {"one page (offers + pixel)": lab.web_url + "/prints",
             "silent sign-in at PhotoPrint": lab.web_url + "/login"}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for url in kinds.values():   # warm-up
        alice.visit(url)
    for _ in range(n):
        for name, url in kinds.items():
            before = len(alice.history)
            t = time.perf_counter()
            page = alice.visit(url)
            times[name].append(time.perf_counter() - t)
            assert page.status == 200, page
            times.setdefault(f"{name} requests", []).append(len(alice.history) - before)
    assert not lab.errors
    apisec_lab.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    runs = [notebook_run() for _ in range(args.runs)]
    totals, cells = [r[0] for r in runs], [r[1] for r in runs]
    print(f"notebook 06 top to bottom (fresh kernel): median {statistics.median(totals):.1f} s, "
          f"max {max(totals):.1f} s over {len(runs)} runs; its cells alone: median {statistics.median(cells):.1f} s")
    times = visits(args.visits)
    print("lab.victim.visit, median, interleaved:")
    for name in ("one page (offers + pixel)", "silent sign-in at PhotoPrint"):
        values = times[name]
        print(f"  {name:30} {statistics.median(values) * 1000:6.1f} ms  "
              f"({times[name + ' requests'][0]} requests; n={len(values)})")


if __name__ == "__main__":
    main()
