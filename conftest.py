"""Settings for every test run from the repository root: the unit tests and nbval's notebooks alike."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Exercise checks record progress (apisec_lab/book/progress.py): in the tests never into the developer's
# own record, and never held back by a lock file this machine may have. Notebook kernels inherit both.
_RECORDS = Path(tempfile.mkdtemp(prefix="apisec-test-progress-"))
os.environ["APISEC_PROGRESS_FILE"] = str(_RECORDS / "tests.jsonl")
os.environ["APISEC_LOCK_FILE"] = str(_RECORDS / "no-locks.json")
os.environ.pop("APISEC_PROGRESS_DIR", None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Each notebook nbval runs starts with an empty progress record, so notebook 00's view is stable."""
    if item.__class__.__name__ == "IPyNbCell" and getattr(item, "cell_num", None) == 0:
        os.environ["APISEC_PROGRESS_FILE"] = str(_RECORDS / f"{Path(str(item.fspath)).stem}.jsonl")
