"""Notebook 02 (token flows) in a real JupyterLab: the flow stepper, step by step, as a learner.

The main widget is ``nb02.FlowStepper`` (``.apisec-flow-stepper``), displayed
once, in the cell ``nb02.FlowStepper(lab)``; every locator is scoped to that
cell (found by its source in the notebook file), so no other output can match.
The consent panel (``.apisec-consent``) lives inside the stepper.

- :func:`test_stepper_walks_the_code_flow`: Deny, then Start over; a wrong
  password, then the right one and Allow; Next step to the end.
- :func:`test_stepper_takes_the_code_from_the_real_sign_in_page`: the
  learner opens the real sign-in page in a new browser tab (served by the
  lab running inside the notebook's kernel), signs in there, lands on the
  app's callback page, comes back to the notebook and hands the code to
  the stepper.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from apisec_lab import DEMO_PASSWORDS

from .jupyter import (
    EXPECT_TIMEOUT,
    PlaywrightTimeoutError,
    assert_no_kernel_errors,
    cell,
    cell_index,
    cell_shot,
    expect,
    open_notebook,
    run_all_cells,
    widget_button,
    widget_checkbox,
    widget_text,
)

NOTEBOOK = "notebooks/02-token-flows.ipynb"
PASSWORD = DEMO_PASSWORDS["alice"]

READY = "Ready: PhotoCLI will ask alice for profile:read photos:read. Press Next step."
STEP_TITLES = {
    1: "Step 1 of 5: Build the authorization URL",
    2: "Step 2 of 5: Alice signs in and consents",
    3: "Step 3 of 5: The code comes back to the app",
    4: "Step 4 of 5: Exchange the code for tokens",
    5: "Step 5 of 5: Call the API",
}
DONE = ("Done: the API answered 200 to the token alone. The password crossed the wire once, "
        "to the authorization server.")
ANSWER_FIRST = ("Answer the consent panel first: Allow or Deny (or sign in on the real page and press "
                "Use the code the browser brought back).")
BROWSER_CODE = "Use the code the browser brought back"


class Stepper:
    """The parts of the flow stepper in cell ``index``."""

    def __init__(self, page, index: int):
        self.page = page
        self.cell = cell(page, index)
        self.root = self.cell.locator(".apisec-flow-stepper")
        self.title = self.root.locator(".apisec-step-title")
        self.detail = self.root.locator(".apisec-step-detail")
        self.storage = self.root.locator(".apisec-app-storage")
        self.consent = self.root.locator(".apisec-consent")
        self.result = self.consent.locator(".apisec-consent-result")

    def press(self, description: str) -> None:
        widget_button(self.cell, description).click()

    def expect_step(self, n: int) -> None:
        expect(self.title.locator("b").first).to_have_text(STEP_TITLES[n])

    def start_fresh(self) -> None:
        """Start over (run-all leaves the widget as displayed; this is the learner's clean start)."""
        self.press("Start over")
        expect(self.title).to_have_text(READY)
        expect(self.consent).to_have_count(0)
        expect(self.detail).to_have_text("")
        expect(self.storage.locator("tr")).to_have_count(1)     # only the client_id
        expect(self.storage).to_contain_text(re.compile(r"client_id\s*photocli"))

    def build_url(self) -> None:
        """Next step from the start: step 1, the consent panel appears."""
        self.press("Next step")
        self.expect_step(1)
        expect(self.consent).to_have_count(1)
        expect(self.consent).to_contain_text("PhotoCLI wants to access your account")
        expect(self.detail).to_contain_text("Now answer the consent panel above as Alice (step 2).")
        expect(self.storage).to_contain_text("code_verifier")
        expect(self.storage).to_contain_text("state")

    def finish(self, done_shot=None) -> None:
        """Next step from step 2 to the end, checking each step's title, detail and the app's storage.

        ``done_shot``: where to save a screenshot of the cell at the end of the flow.
        """
        self.press("Next step")
        self.expect_step(3)
        expect(self.consent).to_have_count(0)
        expect(self.detail).to_contain_text(
            "PhotoCLI checked the state and holds a code. On its own the code is worth nothing")
        self.press("Next step")
        self.expect_step(4)
        expect(self.detail).to_contain_text("POST /token HTTP/1.1")
        expect(self.detail).to_contain_text(
            "PhotoCLI now holds an access token (scope profile:read photos:read, 900 seconds) "
            "and a refresh token. Press Next step.")
        expect(self.storage).to_contain_text(re.compile(r"access_token\s*at_\S+"))
        self.press("Next step")
        self.expect_step(5)
        expect(self.detail).to_contain_text("GET /photos HTTP/1.1")
        expect(self.detail.locator("mark").first).to_have_text(re.compile(r"^Bearer at_\S+$"))
        expect(self.detail.locator(".apisec-note").last).to_have_text(DONE)
        # What a breach of the app would leak: tokens, never the password.
        expect(self.storage).to_contain_text(re.compile(r"access_token\s*at_\S+"))
        expect(self.storage).to_contain_text(re.compile(r"refresh_token\s*rt_\S+"))
        expect(self.storage).to_contain_text(re.compile(r"scope\s*profile:read photos:read"))
        expect(self.storage).not_to_contain_text(PASSWORD)
        expect(self.storage).not_to_contain_text("password")
        expect(self.storage).not_to_contain_text("code_verifier")
        if done_shot is not None:
            cell_shot(self.page, self.cell, done_shot)
        # The flow is over: one more press says so and changes nothing.
        self.press("Next step")
        expect(self.detail.locator(".apisec-note").first).to_have_text(
            "The flow is over. Press Start over to run it again.")
        self.expect_step(5)


@pytest.fixture
def stepper(page, jupyter_server):
    """Notebook 02 run top to bottom, its stepper started over and the authorization URL built."""
    open_notebook(page, jupyter_server, NOTEBOOK)
    run_all_cells(page)
    s = Stepper(page, cell_index(jupyter_server, NOTEBOOK, "nb02.FlowStepper(lab)"))
    expect(s.root).to_have_count(1)
    s.start_fresh()
    s.build_url()
    return s


def test_stepper_walks_the_code_flow(page, stepper, screenshot_dir):
    s = stepper
    expect(s.detail).to_contain_text("code_challenge_method")
    expect(s.detail).to_contain_text("S256")
    # Next step before answering the consent panel: the stepper says what to do, stays at step 1.
    s.press("Next step")
    expect(s.detail.locator(".apisec-note").first).to_have_text(ANSWER_FIRST)
    s.expect_step(1)

    # Deny: the browser goes back to the app with an error, and the flow cannot go on.
    s.press("Deny")
    expect(s.result).to_have_text(
        "The browser goes back to PhotoCLI with error=access_denied: The user denied the request.")
    s.expect_step(2)
    s.press("Next step")
    expect(s.detail.locator(".apisec-note").last).to_have_text(
        "the authorization server sent back error=access_denied: The user denied the request. "
        "Press Start over.")
    expect(s.storage).not_to_contain_text("access_token")

    # Start over, and this time sign in.
    s.start_fresh()
    s.build_url()
    consent = s.consent
    # Widget helpers need a root holding whole outputs (the cell); and_() keeps each one in the panel.
    expect(widget_text(s.cell, "Username").and_(consent.locator("input"))).to_have_value("alice")
    password = widget_text(s.cell, "Password").and_(consent.locator("input"))
    expect(password).to_have_attribute("type", "password")
    for scope in ("profile:read", "photos:read"):
        expect(widget_checkbox(s.cell, scope).and_(consent.locator("input[type=checkbox]"))).to_be_checked()
    real_page = consent.locator("a.apisec-real-page")
    expect(real_page).to_have_text("Open the real sign-in page")
    expect(real_page).to_have_attribute("target", "_blank")

    # A wrong password: refused by the authorization server, the stepper stays at step 1.
    password.fill("not-" + PASSWORD)
    password.dispatch_event("change")
    s.press("Allow")
    expect(s.result).to_have_text("The authorization server refused (HTTP 403): Wrong username or password. "
                                  "Nothing was sent to PhotoCLI.")
    expect(s.detail).to_contain_text("POST /authorize")
    expect(s.detail.locator("mark").first).to_have_text("not-" + PASSWORD)
    s.expect_step(1)

    # The right password, every box left ticked: Allow.
    password.fill(PASSWORD)
    password.dispatch_event("change")
    s.press("Allow")
    expect(s.result).to_have_text("Allowed. The authorization server redirects the browser to PhotoCLI with "
                                  "a one-time code; PhotoCLI never sees the password.")
    s.expect_step(2)
    # The password went to the authorization server, in the form body, and nowhere else.
    expect(s.detail).to_contain_text("POST /authorize")
    expect(s.detail).to_contain_text("HTTP/1.1 302 FOUND")
    expect(s.detail.locator("mark").first).to_have_text(PASSWORD)
    expect(s.detail).to_contain_text("The password went to the authorization server, in this one request.")
    expect(s.storage).not_to_contain_text(PASSWORD)
    cell_shot(page, s.cell, screenshot_dir / "nb02-stepper-step2-allowed.png")

    s.finish(done_shot=screenshot_dir / "nb02-stepper-done.png")
    assert_no_kernel_errors(page)


def test_stepper_takes_the_code_from_the_real_sign_in_page(page, stepper, screenshot_dir):
    s = stepper
    link = s.consent.locator("a.apisec-real-page")
    href = link.get_attribute("href")
    # The link points at the authorization server that runs inside the kernel, on loopback.
    assert re.match(r"^http://127\.0\.0\.1:\d+/authorize\?", href), href
    query = parse_qs(urlsplit(href).query)
    assert query["client_id"] == ["photocli"] and query["code_challenge_method"] == ["S256"], query
    assert query["scope"] == ["profile:read photos:read"], query

    # Pressing the button before signing in on the page: the only arrival at PhotoCLI's
    # redirect URI is the one section 2 of the notebook made (run-all ran it), for another sign-in.
    s.press(BROWSER_CODE)
    expect(s.result).to_have_text(
        "The newest arrival at the redirect URI belongs to another sign-in (its state does not match "
        "this one): open the link from this panel.")
    s.expect_step(1)

    # The learner clicks the link: a new tab with the authorization server's own page.
    with page.context.expect_page() as opened:
        link.click()
    real = opened.value
    console = []   # what the page's console said (a blocked form post is reported only there)
    real.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    real.wait_for_load_state("domcontentloaded")
    assert real.url == href
    expect(real.locator("#client-name")).to_have_text("PhotoCLI")
    expect(real.locator("h1")).to_have_text("PhotoCLI wants to access your account")
    expect(real.locator("input[name=scope]:checked")).to_have_count(2)
    real.locator("input[name=username]").fill("alice")
    real.locator("input[name=password]").fill("not-" + PASSWORD)
    real.locator("#approve").click()
    expect(real.locator("#error")).to_have_text("Wrong username or password.")
    real.locator("input[name=password]").fill(PASSWORD)
    real.locator("#approve").click()

    # The browser lands on PhotoCLI's callback, on the apps' web server.
    try:
        real.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/photocli/callback\?"), timeout=EXPECT_TIMEOUT)
    except PlaywrightTimeoutError:
        raise AssertionError(f"Allow on the real sign-in page did not bring the browser to PhotoCLI's "
                             f"callback; still at {real.url}; console: {console}") from None
    landed = parse_qs(urlsplit(real.url).query)
    assert landed["state"] == query["state"], (landed, query)
    assert landed["code"][0], landed
    expect(real.locator("#outcome")).to_contain_text("PhotoCLI received an authorization code")
    expect(real.locator("#outcome")).to_contain_text("your password never reached it")
    real.screenshot(path=str(screenshot_dir / "nb02-real-callback-page.png"))
    real.close()

    # Back in the notebook tab: hand the stepper what the browser brought back.
    page.bring_to_front()
    s.press(BROWSER_CODE)
    expect(s.result).to_have_text("Your browser brought back a code for PhotoCLI (the state matches this sign-in).")
    s.expect_step(2)
    expect(s.detail).to_have_text("You signed in on the real page in your browser; that request did not go "
                                  "through the wiretap, so there is nothing to show here. Press Next step.")
    cell_shot(page, s.cell, screenshot_dir / "nb02-stepper-browser-code.png")

    s.finish(done_shot=screenshot_dir / "nb02-stepper-browser-done.png")
    assert_no_kernel_errors(page)


# -- the sequence diagrams (lab.wiretap.sequence) --------------------------------------------------------
#: Read in the page from one rendered diagram: JupyterLab shows Mermaid's SVG as an <img>; the SVG is parsed
#: and put in the page (off screen) so that its own stylesheet resolves the colours the theme gave it.
_JS_DIAGRAM = """
(img) => {
  const svgText = decodeURIComponent(img.getAttribute('src').split(',', 2)[1]);
  const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
  const host = document.createElement('div');
  host.style.cssText = 'position:absolute;left:-20000px;top:0';
  host.appendChild(document.importNode(doc.documentElement, true));
  document.body.appendChild(host);
  const svg = host.querySelector('svg');
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const rgba = (css) => {
    ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = '#000'; ctx.fillStyle = css; ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  let bg = [255, 255, 255, 1];
  const layers = [];
  for (let e = img; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) layers.push(c);
    if (c[3] >= 1) break;
  }
  for (const layer of layers.reverse()) bg = over(layer, bg);
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (fg, back) => { const [a, b] = [lum(fg), lum(back)].sort((x, y) => y - x); return (a + 0.05) / (b + 0.05); };
  const actors = [...svg.querySelectorAll('text.actor')].map(t => [parseFloat(t.getAttribute('x')), t.textContent.trim()]);
  const lanes = [...new Set(actors.sort((a, b) => a[0] - b[0]).map(a => a[1]))];     // left to right
  const texts = [...svg.querySelectorAll('text.messageText')];
  const arrows = {solid: svg.querySelectorAll('.messageLine0').length, dashed: svg.querySelectorAll('.messageLine1').length};
  const bands = [...new Set([...svg.querySelectorAll('rect.rect')].map(r => r.getAttribute('fill')))];
  const ink = rgba(getComputedStyle(texts[0]).fill);
  const grounds = [bg, ...bands.map(b => over(rgba(b), bg))];
  const worst = Math.min(...grounds.map(g => ratio(over(ink, g), g)));
  const result = {lanes, arrows, bands, worst: Math.round(worst * 100) / 100,
                  alt: img.getAttribute('alt'), title: (svg.querySelector('title') || {}).textContent};
  host.remove();
  return result;
}
"""
DIAGRAMS = {
    'lab.wiretap.sequence(title="The authorization code flow with PKCE")':
        ("The authorization code flow with PKCE", ["Browser", "PhotoCLI", "Authorization server", "API"], 4),
    'lab.wiretap.sequence(last=mark - 1, title="The password grant: QuickPrint")':
        ("The password grant: QuickPrint", ["QuickPrint", "Authorization server", "API"], 2),
    'lab.wiretap.sequence(first=mark, title="The code flow: PhotoPrint")':
        ("The code flow: PhotoPrint", ["Browser", "PhotoPrint", "Authorization server", "API"], 4),
    "picture = nb02.morning(lab)":
        ("A morning of sign-ins", ["Browser", "PhotoCLI", "QuickPrint", "Nightly Reports Bot", "PhotoPrint Classic",
                                   "ChatPal", "SnapFrame", "Authorization server", "API"], 13),
}


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_wiretaps_sequence_diagrams_render_as_svg_with_their_lanes(page, jupyter_server, screenshot_dir, theme):
    from .test_themes import _JS_THEME, _JS_THEME_IS, AA, THEMES
    open_notebook(page, jupyter_server, NOTEBOOK)
    page.evaluate(_JS_THEME, THEMES[theme])
    page.wait_for_function(_JS_THEME_IS, arg=THEMES[theme], timeout=30_000)
    run_all_cells(page)
    for source, (title, lanes, requests) in DIAGRAMS.items():
        output = cell(page, cell_index(jupyter_server, NOTEBOOK, source)).locator(".jp-RenderedMermaid")
        img = output.locator("figure img")
        expect(img).to_be_visible()
        expect(img).to_have_attribute("src", re.compile(r"^data:image/svg\+xml,"))
        expect(img).to_have_attribute("alt", title)                           # Mermaid's accTitle
        drawn = img.evaluate(_JS_DIAGRAM)
        # one lane per party, left to right; one solid arrow per request, one dashed arrow back per answer
        assert (drawn["title"], drawn["lanes"]) == (title, lanes), drawn
        assert drawn["arrows"] == {"solid": requests, "dashed": requests}, drawn
        assert drawn["bands"], "a credential crosses in every one of these flows"
        assert drawn["worst"] >= AA, f"{theme}: message text over a band or the page at {drawn}"
        img.scroll_into_view_if_needed()
        name = title.split(":")[0].replace(" ", "-")
        cell_shot(page, output, screenshot_dir / f"sequence-{name}-{theme}.png")
    # no diagram of the notebook failed to render (JupyterLab shows the source and the error instead)
    expect(page.locator(".jp-RenderedMermaid.jp-mod-warning")).to_have_count(0)
    assert page.locator(".jp-RenderedMermaid figure img").count() == len(DIAGRAMS)
