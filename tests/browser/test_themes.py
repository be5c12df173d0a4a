"""Every coloured thing the notebooks show reads in JupyterLab Light and JupyterLab Dark (WCAG 2 contrast).

Notebooks 02, 03, 05, 06, 07 and 08 are run top to bottom in each theme; the test then
measures, in the browser, the contrast ratio between each element's text
colour and the background it is drawn on (the first opaque background up
its ancestors, alpha composited, as WCAG 2.x defines relative luminance) on:
the wire boxes (request and response as they crossed the wire), the flow
stepper (title, notes, storage), the gateway dashboard's banner, counters and
coloured log rows, the scope matrix's coloured rows, notebook 06's tinted tables and exploit server panel,
notebook 07's workbench result and verdict rows,
notebook 05's OWASP table links and notebook 08's tables.  Every ratio must
be at least 4.5 (WCAG AA for normal text).  A screenshot of each notebook's
widget is saved per theme: ``<notebook>-<theme>.png``.
"""

from __future__ import annotations

import json

import pytest

from .jupyter import cell, cell_index, cell_shot, expect, open_notebook, run_all_cells, widget_button

THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
AA = 4.5

#: Measured in the page: for each element matched by a selector, its text colour against its background.
_JS_CONTRAST = """
(selectors) => {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const rgba = (css) => {            // any CSS colour (rgb, color(srgb ...), oklab...) as [r, g, b, a], 0-255 / 0-1
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = '#000'; ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, bottom) => {    // alpha compositing, top over an opaque bottom
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (const layer of layers.reverse()) bg = over(layer, bg);
    return bg;
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map(v => {
      v /= 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const out = [];
  for (const [name, selector] of Object.entries(selectors)) {
    const els = [...document.querySelectorAll(selector)].filter(e => e.offsetParent !== null
                                                                    && e.textContent.trim() !== '');
    let worst = null;
    for (const el of els) {
      const bg = background(el);
      const fg = over(rgba(getComputedStyle(el).color), bg);
      const [l1, l2] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
      const ratio = (l1 + 0.05) / (l2 + 0.05);
      if (worst === null || ratio < worst.ratio)
        worst = {ratio: Math.round(ratio * 100) / 100, text: el.textContent.trim().slice(0, 60),
                 fg: `rgb(${fg.slice(0, 3).map(Math.round)})`, bg: `rgb(${bg.slice(0, 3).map(Math.round)})`};
    }
    out.push({name, count: els.length, worst});
  }
  return out;
}
"""

_JS_THEME = "(theme) => { window.jupyterapp.commands.execute('apputils:change-theme', {theme}); }"
_JS_THEME_IS = "(theme) => document.body.dataset.jpThemeName === theme && document.body.dataset.jpThemeLight !== undefined"

#: What to measure in each notebook, once it has run: a name and a CSS selector of text-bearing elements.
WIRE = {"wire box": ".jp-OutputArea-output .apisec-exchange pre, .apisec-exchange pre",
        "wire box caption": ".apisec-exchange div"}
CASES = {
    "notebooks/02-token-flows.ipynb": {
        **WIRE,
        "stepper title": ".apisec-flow-stepper .apisec-step-title div, .apisec-flow-stepper .apisec-step-title span",
        "stepper notes": ".apisec-flow-stepper .apisec-note",
        "stepper storage": ".apisec-flow-stepper .apisec-app-storage td, .apisec-flow-stepper .apisec-app-storage div",
        "consent panel": ".apisec-consent .widget-html-content div, .apisec-consent .widget-html-content span",
        "wire marks": ".apisec-exchange mark",
    },
    "notebooks/03-scopes.ipynb": {
        "matrix rows": "table.scope-matrix tbody td",
        "matrix head": "table.scope-matrix thead th",
        "picker result": ".apisec-scope-picker .widget-html-content p",
    },
    "notebooks/05-gateway.ipynb": {
        "dashboard banner": ".apisec-gw-status .widget-html-content div",
        "dashboard counters": ".apisec-gw-counters td",
        "log rows": ".apisec-gw-log tbody td",
        "tables": ".jp-OutputArea-output table tbody td",
        "table links": ".jp-OutputArea-output table tbody td a",
    },
    "notebooks/08-owasp-top-10.ipynb": {
        "tables": ".jp-OutputArea-output table tbody td",
        "table heads": ".jp-OutputArea-output table thead th",
    },
    "notebooks/06-flow-attacks.ipynb": {
        "tinted rows (a code that leaked)": ".jp-OutputArea-output table tbody tr.apisec-bad td",
        "tables": ".jp-OutputArea-output table tbody td",
        "exploit server status": ".apisec-exploit-status .widget-html-content p",
        "exploit server log": ".apisec-exploit-server table.apisec-log td",
        "exploit server addresses": ".apisec-exploit-urls",
    },
    "notebooks/07-forged-jwts.ipynb": {
        "workbench result": ".apisec-workbench .widget-html-content div",
        "verdict rows": ".jp-OutputArea-output tr.apisec-bad td, .jp-OutputArea-output tr.apisec-ok td",
    },
}
#: The cell whose widget the screenshot shows, what to click first so that it shows its colours, and what to wait
#: for after the clicks.
WIDGET = {
    "notebooks/02-token-flows.ipynb": ("nb02.FlowStepper(lab)", ["Next step"], ".apisec-step-detail pre"),
    "notebooks/03-scopes.ipynb": ("picker = nb03.ScopePicker(lab)", [], None),
    "notebooks/05-gateway.ipynb": ("dash = nb05.Dashboard(lab)", [], None),
    "notebooks/06-flow-attacks.ipynb": ("server = nb06.ExploitServer(lab)", ["Store"],
                                        ".apisec-exploit-status .widget-html-content p"),
    "notebooks/07-forged-jwts.ipynb": ("bench = nb07.Workbench(", [], None),
    "notebooks/08-owasp-top-10.ipynb": ("nb08.scorecard(lab)", [], None),
}


def measure(page, selectors: dict) -> list[dict]:
    return page.evaluate(_JS_CONTRAST, selectors)


@pytest.mark.parametrize("theme", list(THEMES))
@pytest.mark.parametrize("notebook", list(CASES), ids=[n.split("/")[1][:2] for n in CASES])
def test_wcag_contrast_in_both_themes(page, jupyter_server, screenshot_dir, notebook, theme):
    open_notebook(page, jupyter_server, notebook)
    page.evaluate(_JS_THEME, THEMES[theme])
    page.wait_for_function(_JS_THEME_IS, arg=THEMES[theme], timeout=30_000)
    run_all_cells(page)
    source, clicks, ready = WIDGET[notebook]
    widget = cell(page, cell_index(jupyter_server, notebook, source))
    for label in clicks:
        widget_button(widget, label).click()
    if ready:
        expect(widget.locator(ready).first).to_be_visible()
    # Every cell is in the DOM (windowing off): scroll through so each output is laid out.
    widget.scroll_into_view_if_needed()
    results = measure(page, CASES[notebook])
    (screenshot_dir / f"contrast-{notebook.split('/')[1][:2]}-{theme}.json").write_text(json.dumps(results, indent=1))
    cell_shot(page, widget, screenshot_dir / f"{notebook.split('/')[1][:2]}-{theme}.png")
    missing = [r["name"] for r in results if r["count"] == 0]
    assert not missing, f"nothing found to measure for {missing}"
    low = [r for r in results if r["worst"]["ratio"] < AA]
    assert not low, (f"{theme}: contrast below {AA}:\n"
                     + "\n".join(f"  {r['name']}: {r['worst']}" for r in low)
                     + "\nall: " + json.dumps({r["name"]: r["worst"]["ratio"] for r in results}))
