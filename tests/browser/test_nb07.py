"""notebooks/07-forged-jwts.ipynb in JupyterLab: a learner forges a token on the workbench, then writes the verifier.

The workbench (section 10) starts from Bob's token with Alice's claims. The learner signs it HS256 with the
public key (algorithm confusion), sends it with that flaw's switch on (Alice's messages come back, and the API's
record names the flaw), then again with no switch (refused). Then they answer q2 by writing verify_access_token
in its cell.
"""

from __future__ import annotations

import re

from .jupyter import (
    assert_no_kernel_errors,
    cell,
    cell_index,
    cell_output,
    expect,
    open_notebook,
    replace_cell_source_and_run,
    run_all_cells,
    widget_button,
    widget_dropdown,
    widget_html,
    widget_textarea,
)

NOTEBOOK = "notebooks/07-forged-jwts.ipynb"
KERNEL_WAIT = 30_000

VERIFIER = '''def verify_access_token(token, jwks, issuer, audience):
    header = jwt.get_unverified_header(token)
    if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        raise jwt.InvalidTokenError("typ")
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=issuer,
                      options={"require": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]})

answer = verify_access_token
nb07.q2.check(answer)'''


def test_forge_on_the_workbench_then_write_the_verifier(page, jupyter_server, screenshot_dir):
    open_notebook(page, jupyter_server, NOTEBOOK)
    run_all_cells(page)
    bench = cell(page, cell_index(jupyter_server, NOTEBOOK, "bench = nb07.Workbench("))
    bench.scroll_into_view_if_needed()
    claims = widget_textarea(bench, "claims")
    expect(claims).to_have_value(re.compile(r'"sub": "alice"'))
    result = widget_html(bench).last
    # The cell below the panel already sent an unsigned token with jwt_alg_none on.
    expect(result).to_contain_text("the API let the forged token in", timeout=KERNEL_WAIT)

    widget_dropdown(bench, "signing").select_option(label="HS256 with the public key (PEM) as secret")
    widget_dropdown(bench, "switch on").select_option(label="jwt_alg_confusion")
    widget_button(bench, "Forge and send").click()
    expect(result).to_contain_text("jwt_alg_confusion: GET /messages as alice", timeout=KERNEL_WAIT)
    expect(result).to_contain_text("200 OK: 2 items, owner alice")
    expect(result.locator(".apisec-bad")).to_have_count(1)
    bench.screenshot(path=str(screenshot_dir / "nb07-workbench-let-in.png"))

    widget_dropdown(bench, "switch on").select_option(label="none (the hardened API)")
    widget_button(bench, "Forge and send").click()
    expect(result).to_contain_text("the API refused the forged token", timeout=KERNEL_WAIT)
    expect(result).to_contain_text("alg 'HS256' is not accepted")
    expect(result.locator(".apisec-ok")).to_have_count(1)
    assert_no_kernel_errors(page)

    q2 = cell_index(jupyter_server, NOTEBOOK, "def verify_access_token(")
    expect(cell_output(page, q2)).to_contain_text("Not yet: replace ____")
    replace_cell_source_and_run(page, q2, VERIFIER, timeout=KERNEL_WAIT)
    expect(cell_output(page, q2)).to_have_text(re.compile(
        r"^\s*q2 \(write the verifier\): Correct: every forgery refused, every valid token accepted"),
        timeout=KERNEL_WAIT)
    assert_no_kernel_errors(page)
    cell(page, q2).screenshot(path=str(screenshot_dir / "nb07-q2-correct.png"))
