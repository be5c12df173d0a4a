"""Re-execute the workbook's notebooks in place, cleaned for committing.

    python -m apisec_lab.book.execute                 # every notebook in notebooks/
    python -m apisec_lab.book.execute notebooks/03-scopes.ipynb

Each notebook runs top to bottom in a fresh kernel with nbclient (as nbval
does, from the notebooks folder), then:

- every widget view is dropped from the outputs, leaving the widget's
  ``text/plain`` repr, which tells a reader who opens the notebook without a
  kernel to run the cell (a stored view would show a blank, or "Error
  displaying widget: model not found", until then);
- ``nbstripout --keep-output --keep-count`` cleans the rest: no per-cell
  timing metadata (``cell.metadata.execution``), no widget state
  (``metadata.widgets``), cell ids numbered in order.

So re-executing a notebook changes its file only where its outputs changed
(and those volatile values, ports, tokens, times, are what
``tests/sanitize.cfg`` masks for nbval).
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from . import progress

#: The MIME type of a stored widget view: a reference to a model that only a live kernel holds.
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CELL_TIMEOUT = 120


def drop_widget_views(nb) -> int:
    """Remove every widget view from *nb*'s outputs (their ``text/plain`` stays); return how many."""
    dropped = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if WIDGET_VIEW in output.get("data", {}):
                del output["data"][WIDGET_VIEW]
                dropped += 1
    return dropped


@contextlib.contextmanager
def fresh_records():
    """Within: kernels started from this process record progress in an empty file of their own, under no lock.

    As under nbval (``conftest.py``): notebook 00 shows the progress record, and a notebook executed for
    committing, re-run by a test or timed by a benchmark must show neither, nor add to, the progress of
    whoever runs it.  Yields the record's path; the environment is restored on the way out.
    """
    saved = {k: os.environ.get(k) for k in (progress.PROGRESS_FILE_ENV, progress.LOCK_FILE_ENV)}
    with tempfile.TemporaryDirectory(prefix="apisec-execute-") as records:
        os.environ[progress.PROGRESS_FILE_ENV] = os.path.join(records, "progress.jsonl")
        os.environ[progress.LOCK_FILE_ENV] = os.path.join(records, "no-locks.json")
        try:
            yield Path(os.environ[progress.PROGRESS_FILE_ENV])
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def execute(path: Path, *, timeout: int = CELL_TIMEOUT):
    """Run the notebook at *path* top to bottom in a fresh kernel; return the executed notebook (not written)."""
    nb = nbformat.read(path, as_version=4)
    with fresh_records():
        NotebookClient(nb, timeout=timeout, kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    drop_widget_views(nb)
    return nb


def strip(path: Path) -> None:
    """``nbstripout --keep-output --keep-count`` on *path*, in place."""
    subprocess.run([sys.executable, "-m", "nbstripout", "--keep-output", "--keep-count", str(path)], check=True)


def execute_in_place(path: Path) -> None:
    """Execute *path* and write it back, cleaned."""
    nbformat.write(execute(path), path)
    strip(path)


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        print(f"executing {path}", flush=True)
        execute_in_place(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
