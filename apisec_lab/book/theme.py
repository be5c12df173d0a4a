"""Colours that read in JupyterLab Light and JupyterLab Dark alike.

Every colour the book puts on a page is built from JupyterLab's own theme
variables (``--jp-content-font-color0``, ``--jp-layout-color0``,
``--jp-success-color1``...), so text and background change together when the
learner switches theme: a tinted background is the theme's signal colour
mixed into the theme's page background, tinted text is the signal colour
mixed with the theme's text colour.  Each ``var()`` carries a light-theme
fallback for front ends without JupyterLab's variables.  The one fixed pair
is the highlighter mark (black on yellow), which reads on any page.
``tests/browser/test_themes.py`` measures the WCAG contrast of each in both themes.
"""
from __future__ import annotations

FG = "var(--jp-content-font-color0, #000)"
BG = "var(--jp-layout-color0, #fff)"
_SIGNAL = {"ok": "var(--jp-success-color1, #4caf50)", "bad": "var(--jp-error-color1, #f44336)",
           "warn": "var(--jp-warn-color1, #ff9800)", "info": FG}


def tint(kind: str) -> str:
    """Background and text for a row or banner of *kind* (``ok``, ``bad``, ``warn``)."""
    return f"background:color-mix(in srgb, {_SIGNAL[kind]} 16%, {BG});color:{FG}"


def ink(kind: str) -> str:
    """Text of *kind* (``ok``, ``bad``, ``warn``, ``info``) on the page's background."""
    return f"color:color-mix(in srgb, {_SIGNAL[kind]} 60%, {FG})"


#: Secondary text (captions, explanations).
MUTED = f"color:color-mix(in srgb, {FG} 72%, {BG})"
#: A box of raw bytes (a request or response as it crossed the wire).
PRE = (f"background:var(--jp-layout-color2, #eee);color:{FG};border:1px solid var(--jp-border-color1, #bdbdbd)")
#: A highlighted secret inside a wire box.
MARK = "background:#ffd33d;color:#000"
BORDER = "1px solid var(--jp-border-color1, #bdbdbd)"
