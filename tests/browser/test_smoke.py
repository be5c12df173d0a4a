"""Smoke test of the browser infrastructure: lab, kernel, widgets, screenshots."""

from __future__ import annotations

import json
import shutil
import sys
import uuid

import pytest

from .jupyter import (
    assert_no_kernel_errors,
    cell_output,
    expect,
    open_notebook,
    run_all_cells,
    shot,
    widget_button,
)

SMOKE_CELLS = [
    "import sys\nprint(sys.executable)",
    "import ipywidgets as widgets\n"
    "from IPython.display import display\n"
    "\n"
    "label = widgets.Label('not clicked')\n"
    "label.add_class('smoke-label')\n"
    "button = widgets.Button(description='Click me')\n"
    "\n"
    "def on_click(_):\n"
    "    label.value = 'clicked'\n"
    "\n"
    "button.on_click(on_click)\n"
    "display(widgets.VBox([button, label]))",
]


def _notebook(cells: list[str]) -> dict:
    """A minimal nbformat 4 notebook with the given code cells."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                           "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "source": source,
             "outputs": [], "execution_count": None}
            for i, source in enumerate(cells)
        ],
    }


@pytest.fixture
def smoke_notebook(jupyter_server):
    """Write the smoke notebook under ``test-artifacts/`` and remove it after."""
    folder = jupyter_server.root / "test-artifacts" / f"smoke-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    path = folder / "smoke.ipynb"
    path.write_text(json.dumps(_notebook(SMOKE_CELLS), indent=1))
    try:
        yield path.relative_to(jupyter_server.root).as_posix()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_button_click_updates_label(page, jupyter_server, smoke_notebook, screenshot_dir):
    open_notebook(page, jupyter_server, smoke_notebook)
    state = run_all_cells(page, timeout=120_000)

    assert [c["count"] for c in state["cells"]] == [1, 2]
    # The kernel runs the interpreter that runs pytest.
    expect(cell_output(page, 0)).to_contain_text(sys.executable)

    label = page.locator(".smoke-label")
    expect(label).to_have_text("not clicked")
    widget_button(page, "Click me").click()
    expect(label).to_have_text("clicked")
    assert_no_kernel_errors(page)

    path = shot(page, screenshot_dir, "smoke-button-clicked")
    assert path.stat().st_size > 0
