"""Notebook 03 helpers: the code flow with a narrower grant, the scope matrix, the picker, the exercises."""
from __future__ import annotations

import os

import pytest

from apisec_lab import DEMO_PASSWORDS
from apisec_lab.book import nb03
from apisec_lab.book.exercises import ____
from apisec_lab.book.widgets import note_html
from apisec_lab.client import flows

FULL = ["profile:read", "photos:read", "photos:write"]


def test_endpoints_in_the_matrix_are_the_user_facing_published_ones():
    rows = [f"{e.method} {e.openapi_path}" for e in nb03.user_endpoints()]
    assert rows == ["GET /me", "GET /photos", "GET /photos/{photo_id}", "POST /photos", "GET /messages",
                    "POST /messages", "GET /payment", "PUT /payment",
                    # notebook 08's account and print shop
                    "PATCH /me", "GET /me/account", "GET /people", "POST /coupons/redeem", "POST /webhooks/test",
                    "POST /prints"]      # not the staff function (its role, not a scope, keeps users out)


def test_client_scopes_table_shows_what_each_app_may_ask_for(lab):
    df = nb03.client_scopes(lab)
    assert list(df.index) == ["PhotoPrint", "PhotoCLI", "ChatPal"]
    assert df.loc["PhotoCLI", "messages:read"] == "yes"
    assert df.loc["PhotoPrint", "messages:read"] == ""
    assert not df[["payment:read", "payment:write"]].eq("yes").any().any()


def test_consent_page_lists_the_asked_scopes_all_ticked(lab):
    df = nb03.consent_page(lab, nb03.authorization_url(lab, "photocli"))
    assert list(df.index) == ["profile:read", "photos:read", "photos:write", "messages:read"]
    assert df["ticked"].all()
    assert df.loc["messages:read", "the page says"] == "Read your private messages"
    assert df.attrs["client_name"] == "PhotoCLI"


def test_connect_with_fewer_scopes_reads_the_granted_scope(lab):
    app = nb03.connect(lab, "photocli", ["photos:read"])
    assert app.asked == ["profile:read", "photos:read", "photos:write", "messages:read"]
    assert app.granted == ["photos:read"]
    assert lab.introspect(app.access_token)["scope"] == "photos:read"
    assert "granted photos:read" in repr(app)
    assert flows.RELAX_ENV not in os.environ      # set for the token request only


def test_connect_confidential_and_public_clients(lab):
    for cid in nb03.USER_APPS:
        app = nb03.connect(lab, cid)
        assert app.call("/me").status_code == 200
        assert app.grant_id is not None
    assert len(lab.connected_apps("alice")) == 3


def test_connect_raises_on_denied_consent_and_wrong_password(lab):
    with pytest.raises(flows.FlowError, match="access_denied"):
        nb03.connect(lab, "photoprint", [])
    from apisec_lab import AuthorizationFailed
    with pytest.raises(AuthorizationFailed):
        nb03.connect(lab, "photoprint", password="wrong")


def test_try_strict_reports_the_warning_and_leaves_no_orphan_grant(lab):
    message = nb03.try_strict(lab, "photocli", FULL)
    assert message == (
        "requests-oauthlib raised Warning('Scope has changed from \"profile:read photos:read photos:write "
        "messages:read\" to \"profile:read photos:read photos:write\".') (The server had already issued tokens; "
        "they were revoked so no orphan grant is left.)")
    assert lab.connected_apps("alice").empty
    assert flows.RELAX_ENV not in os.environ


def test_try_strict_without_a_change_does_not_complain(lab):
    assert nb03.try_strict(lab, "chatpal", None).startswith("No complaint")


def test_relaxed_token_scope_restores_a_previous_value(monkeypatch):
    monkeypatch.setenv(flows.RELAX_ENV, "yes")
    with flows.relaxed_token_scope(False):
        assert flows.RELAX_ENV not in os.environ
    assert os.environ[flows.RELAX_ENV] == "yes"


def test_scope_matrix_for_a_narrow_token(lab):
    app = nb03.connect(lab, "photocli", FULL)
    df = nb03.scope_matrix(lab, app.access_token)
    assert list(df.columns) == ["status", "allowed", "error", "missing scope"]
    assert df["status"].to_dict() == {
        "GET /me": 200, "GET /photos": 200, "GET /photos/{photo_id}": 200, "POST /photos": 400,
        "GET /messages": 403, "POST /messages": 403, "GET /payment": 403, "PUT /payment": 403,
        "PATCH /me": 403, "GET /me/account": 200, "GET /people": 200, "POST /coupons/redeem": 403,
        "POST /webhooks/test": 403, "POST /prints": 403}
    assert df.loc["POST /photos", "allowed"] == "yes (probe: nothing written)"
    assert df.loc["GET /messages", "error"] == "insufficient_scope"
    assert df.loc["GET /messages", "missing scope"] == "messages:read"
    assert df.loc["PUT /payment", "missing scope"] == "payment:write"
    assert df.loc["GET /me", "missing scope"] == ""


def test_scope_matrix_probes_write_nothing(lab):
    before = lab.store.counts()
    payment = dict(lab.store.payment("alice"))
    with lab.weaknesses.turned_on(basic_auth=True):
        df = nb03.scope_matrix(lab, auth=("alice", DEMO_PASSWORDS["alice"]))
    assert (df["allowed"].str.startswith("yes")).all()
    assert lab.store.counts() == before
    assert dict(lab.store.payment("alice")) == payment


def test_scope_matrix_without_credentials_is_all_401(lab):
    df = nb03.scope_matrix(lab)
    assert set(df["status"]) == {401}
    assert set(df["allowed"]) == {"no"}


def test_scope_matrix_uses_the_token_owners_photo(lab):
    lab.add_user("carol", "carol-pass-123")
    app = nb03.connect(lab, "photoprint", ["photos:read"], user="carol", password="carol-pass-123")
    assert nb03.scope_matrix(lab, app.access_token).loc["GET /photos/{photo_id}", "status"] == 404
    app = nb03.connect(lab, "photoprint", ["photos:read"], user="bob")
    assert nb03.scope_matrix(lab, app.access_token).loc["GET /photos/{photo_id}", "status"] == 200


def test_show_response_prints_status_header_and_body(lab, capsys):
    app = nb03.connect(lab, "photoprint", ["photos:read"])
    nb03.show_response(app.call("/me"))
    out = capsys.readouterr().out
    assert out.startswith("HTTP 403 FORBIDDEN\nWWW-Authenticate: Bearer realm=\"apisec-lab\", "
                          "error=\"insufficient_scope\"")
    assert 'scope="profile:read"' in out
    assert '"error": "insufficient_scope"' in out


def test_refresh_narrower_then_wider_within_the_grant(lab):
    app = nb03.connect(lab, "photoprint")
    old_refresh = app.refresh_token
    assert nb03.try_refresh(app, ["photos:read"]) == "refreshed: the new access token carries photos:read"
    assert lab.introspect(app.access_token)["scope"] == "photos:read"
    assert lab.introspect(app.refresh_token)["scope"] == "profile:read photos:read photos:write"
    assert app.refresh_token != old_refresh
    assert lab.introspect(old_refresh) == {"active": False}
    assert nb03.try_refresh(app, ["messages:read"]) == "refresh refused: invalid_scope"
    assert app.oauth.scope == ["photos:read"]          # a refused refresh leaves the app as it was
    assert nb03.try_refresh(app, ["photos:read", "photos:write"]).endswith("photos:read photos:write")


def test_matrix_html_colours_rows(lab):
    app = nb03.connect(lab, "photoprint", ["photos:read"])
    page = nb03.matrix_html(nb03.scope_matrix(lab, app.access_token))
    assert page.count("<tr class='apisec-ok'") == 2           # green where allowed
    assert page.count("<tr class='apisec-bad'") == 12         # red where refused
    assert "<td style='padding:2px 8px'>insufficient_scope</td>" in page


# -- the widget -------------------------------------------------------------------
def test_picker_starts_with_every_asked_scope_ticked(lab):
    picker = nb03.ScopePicker(lab)
    assert picker.app.value == "photoprint"
    assert picker.ticked == ["profile:read", "photos:read", "photos:write"]
    assert picker.username.value == "alice" and picker.password.value == DEMO_PASSWORDS["alice"]
    assert picker.grant_button.description == "Grant and test"
    assert picker.token is None
    assert repr(picker) == "ScopePicker(app='photoprint', ticked=['profile:read', 'photos:read', 'photos:write'])"


def test_picker_changing_app_rebuilds_the_checkboxes(lab):
    picker = nb03.ScopePicker(lab)
    picker.app.value = "chatpal"
    assert list(picker.boxes) == ["profile:read", "messages:read", "messages:write"]
    assert list(picker.box_area.children) == list(picker.boxes.values())
    assert picker.boxes["messages:read"].description == "messages:read: Read your private messages"


def test_picker_grant_and_test_shows_the_matrix(lab):
    picker = nb03.ScopePicker(lab)
    picker.tick(["photos:read"])
    picker.grant_button.click()
    assert picker.result.value.startswith(
        "<p><b>PhotoPrint</b> asked for <code>profile:read photos:read photos:write</code>; "
        "you granted <code>photos:read</code>. Introspection: the token carries <code>photos:read</code>.</p>")
    assert "<table class='scope-matrix'" in picker.result.value
    assert picker.matrix.loc["GET /me", "status"] == 403
    assert picker.matrix.loc["GET /photos", "status"] == 200
    assert lab.introspect(picker.token)["scope"] == "photos:read"


def test_picker_wrong_password_and_nothing_ticked(lab):
    picker = nb03.ScopePicker(lab, "chatpal")
    picker.password.value = "nope"
    picker.grant_button.click()
    assert picker.result.value == note_html("Sign-in failed (HTTP 403): wrong username or password. "
                                            "Nothing was granted.", "error")
    assert picker.token is None and picker.matrix is None
    picker.password.value = DEMO_PASSWORDS["alice"]
    picker.tick([])
    picker.grant_button.click()
    assert picker.result.value == note_html("ChatPal got <b>error=access_denied</b>: "
                                            "The user granted no scopes. No token was issued.", "error")
    assert lab.connected_apps("alice").empty


def test_picker_tick_refuses_scopes_the_app_did_not_ask_for(lab):
    with pytest.raises(ValueError, match="does not ask for"):
        nb03.ScopePicker(lab).tick(["messages:read"])


def test_picker_after_success_then_failure_forgets_the_token(lab):
    picker = nb03.ScopePicker(lab)
    picker.grant_button.click()
    assert picker.token
    picker.password.value = "nope"
    picker.grant_button.click()
    assert picker.token is None


# -- exercises ------------------------------------------------------------------------
@pytest.mark.parametrize("exercise", [nb03.q1, nb03.q2, nb03.q3], ids=["q1", "q2", "q3"])
def test_exercise_fails_on_placeholder_and_passes_with_solution(lab, exercise):
    verdict = exercise.evaluate(____)
    assert not verdict and "replace ____" in verdict.message
    assert exercise.evaluate(exercise.reference_answer())


@pytest.mark.parametrize("answer, message", [
    ("messages:write", "send"),
    ("messages", "two parts"),
    ("photos:read", "WWW-Authenticate"),
    (42, "as a string"),
])
def test_q1_wrong_answers_say_why(answer, message):
    verdict = nb03.q1.evaluate(answer)
    assert not verdict and message in verdict.message


def test_q1_accepts_surrounding_spaces():
    assert nb03.q1.evaluate(" messages:read ")


@pytest.mark.parametrize("scopes, message", [
    (["photos:read", "photos:write"], "more than printing needs"),
    (["profile:read", "photos:read"], "untick profile:read"),
    (["profile:read"], "cannot even list the photos"),
])
def test_q2_wrong_tokens_say_why(lab, scopes, message):
    app = nb03.connect(lab, "photoprint", scopes)
    verdict = nb03.q2.evaluate(app.access_token)
    assert not verdict and message in verdict.message


def test_q2_accepts_the_picker_and_a_connected_app(lab):
    picker = nb03.ScopePicker(lab)
    assert "click 'Grant and test' first" in nb03.q2.evaluate(picker).message
    picker.tick(["photos:read"])
    picker.grant_button.click()
    assert nb03.q2.evaluate(picker)
    assert nb03.q2.evaluate(picker.connected)


def test_q2_rejects_revoked_and_odd_answers(lab):
    app = nb03.connect(lab, "photoprint", ["photos:read"])
    lab.revoke_app("alice", "photoprint")
    assert "not active" in nb03.q2.evaluate(app.access_token).message
    assert "access token" in nb03.q2.evaluate(["photos:read"]).message


def test_q2_refuses_the_token_a_demo_cell_got_before_the_exercise_was_posed(lab):
    demo = nb03.ScopePicker(lab)                      # section 5: the notebook's own cell clicks
    demo.tick(["photos:read"])
    demo.grant_button.click()
    lab.clock.advance(1)
    assert not nb03.q2.evaluate(____)                 # the exercise cell's first run poses it
    verdict = nb03.q2.evaluate(demo.token)
    assert not verdict and "issued before this exercise was posed" in verdict.message
    demo.grant_button.click()                         # the learner's own click
    assert nb03.q2.evaluate(demo)


def test_q3_refuses_the_refresh_section_6_made(lab):
    wide = nb03.connect(lab, "photoprint")
    nb03.try_refresh(wide, ["photos:read"])
    lab.clock.advance(1)
    assert not nb03.q3.evaluate(____)
    assert "issued before this exercise was posed" in nb03.q3.evaluate(wide.access_token).message
    wide2 = nb03.connect(lab, "photoprint")
    wide2.refresh(scopes=["photos:read"])
    assert nb03.q3.evaluate(wide2.access_token)


def test_q3_wants_a_refreshed_narrow_token(lab):
    direct = nb03.connect(lab, "photoprint", ["photos:read"])
    assert "did not come from refreshing" in nb03.q3.evaluate(direct.access_token).message
    wide = nb03.connect(lab, "photoprint")
    assert "ask for just photos:read" in nb03.q3.evaluate(wide.access_token).message
    assert "not an access token" in nb03.q3.evaluate(wide.refresh_token).message
    wide.refresh(scopes=["photos:read"])
    assert nb03.q3.evaluate(wide.access_token)
