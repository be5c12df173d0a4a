"""Notebook 04 helpers: the connected-apps dashboard, revocation, lifetimes, the timeline, JWT gaps."""
from __future__ import annotations

import time

import pytest

from apisec_lab import DEMO_PASSWORDS
from apisec_lab.book import nb04
from apisec_lab.book.exercises import ____


@pytest.fixture
def apps(lab):
    return nb04.connect_apps(lab)


def _statuses(df):
    return df["status"].to_dict()


def test_connect_apps_makes_three_real_grants(lab, apps):
    assert list(apps) == ["photoprint", "photocli", "chatpal"]
    table = lab.connected_apps("alice")
    assert list(table["client_id"]) == ["photoprint", "photocli", "chatpal"]
    assert list(table["scopes"]) == [" ".join(s) for s in nb04.ALICE_GRANTS.values()]
    assert _statuses(nb04.probe(apps)) == {"PhotoPrint": 200, "PhotoCLI": 200, "ChatPal": 200}


# -- the dashboard --------------------------------------------------------------------
def test_dashboard_has_one_row_and_one_uniquely_named_button_per_app(lab, apps):
    dash = nb04.AppsDashboard(lab, apps)
    assert [b.description for b in dash.buttons.values()] == ["Revoke PhotoPrint", "Revoke PhotoCLI",
                                                             "Revoke ChatPal"]
    assert "Apps connected to alice's account (3)" in dash.header.value
    first = dash.rows.children[0].children[0].value
    assert "<b>PhotoPrint</b> can: <code>profile:read photos:read</code>" in first
    assert "granted just now, last used never" in first
    assert dash.check_button.description == "Check apps now"
    assert repr(dash) == "AppsDashboard(user='alice')"


def test_clicking_revoke_cuts_off_that_app_only(lab, apps):
    dash = nb04.AppsDashboard(lab, apps)
    dash.buttons["photoprint"].click()
    assert dash.status.value.startswith(
        "<p><b>You revoked PhotoPrint</b> (1 grant): it is cut off at once, the others are untouched. "
        "Live check, one API call per app:</p><table")
    assert "<td style='padding:2px 8px'>cut off: The access token was revoked.</td>" in dash.status.value
    assert dash.last_probe["result"].to_dict() == {
        "PhotoPrint": "cut off: The access token was revoked.", "PhotoCLI": "works", "ChatPal": "works"}
    assert "Apps connected to alice's account (2)" in dash.header.value
    shown = [row.children[1].description for row in dash.rows.children]
    assert shown == ["Revoke PhotoCLI", "Revoke ChatPal"]
    assert list(lab.connected_apps("alice")["client_id"]) == ["photocli", "chatpal"]


def test_clicking_revoke_again_says_there_is_nothing_to_revoke(lab, apps):
    dash = nb04.AppsDashboard(lab, apps)
    dash.buttons["chatpal"].click()
    dash.buttons["chatpal"].click()
    assert dash.status.value.startswith("<p>ChatPal held no active grant: nothing to revoke.")


def test_revoking_every_app_empties_the_dashboard(lab, apps):
    dash = nb04.AppsDashboard(lab, apps)
    for cid in list(dash.buttons):
        assert dash.revoke(cid) == 1
    assert "(0)" in dash.header.value
    assert dash.rows.children[0].value == "<i>No app holds a grant from this account.</i>"
    assert set(dash.last_probe["status"]) == {401}


def test_check_apps_now_shows_each_apps_call(lab, apps):
    dash = nb04.AppsDashboard(lab, apps)
    dash.check_button.click()
    assert dash.status.value.startswith("<p>Live check, one API call per app:</p>")
    assert dash.last_probe["call"].to_dict() == {"PhotoPrint": "GET /photos", "PhotoCLI": "GET /photos",
                                                 "ChatPal": "GET /messages"}
    assert "last used just now" in dash.rows.children[0].children[0].value


def test_dashboard_merges_several_grants_of_one_app(lab, apps):
    nb04.connect(lab, "photoprint", ["photos:read", "photos:write"])
    dash = nb04.AppsDashboard(lab, apps)
    assert len(dash.rows.children) == 3
    row = dash.rows.children[0].children[0].value
    assert "profile:read photos:read photos:write" in row and "2 grants" in row
    assert dash.revoke("photoprint") == 2
    assert "(2 grants)" in dash.status.value


def test_dashboard_ages_follow_the_lab_clock(lab, apps):
    lab.clock.advance(minutes=5)
    dash = nb04.AppsDashboard(lab, apps)
    assert "granted 5 min ago" in dash.rows.children[0].children[0].value


# -- password change versus revocation ---------------------------------------------------
def test_password_change_cuts_off_password_holders_not_oauth_apps(lab, apps):
    df = nb04.password_change_contrast(lab, apps)
    assert df.loc["an app holding alice's password (HTTP Basic)"].to_list() == ["works", "cut off (401)"]
    for name in ("PhotoPrint", "PhotoCLI", "ChatPal"):
        assert df.loc[f"{name} (OAuth token)"].to_list() == ["works", "works"]
    assert lab.store.check_password("alice", DEMO_PASSWORDS["alice"])     # restored
    assert not lab.weaknesses.basic_auth
    assert list(lab.events()["event"]).count("password_changed") == 2


# -- RFC 7009 and lifetimes --------------------------------------------------------------
def test_client_revocation_kills_the_whole_grant(lab, apps):
    chat = apps["chatpal"]
    r = chat.revoke("refresh_token")
    assert (r.status_code, r.text) == (200, "")
    assert lab.introspect(chat.refresh_token) == {"active": False}
    assert lab.introspect(chat.access_token) == {"active": False}
    assert nb04.outcome(chat.call("/messages")) == \
        "401 UNAUTHORIZED: invalid_token: The access token was revoked."
    assert _statuses(nb04.probe(apps)) == {"PhotoPrint": 200, "PhotoCLI": 200, "ChatPal": 401}


def test_public_client_revokes_its_access_token_only(lab, apps):
    cli = apps["photocli"]
    assert cli.revoke("access_token").status_code == 200
    assert cli.call("/photos").status_code == 401
    assert nb04.try_refresh(cli).startswith("refreshed")
    assert cli.call("/photos").status_code == 200


def test_expiry_refresh_rotation_and_reuse_detection(lab, apps):
    cli = apps["photocli"]
    lab.clock.advance(minutes=16)
    assert nb04.outcome(cli.call("/photos")) == "401 UNAUTHORIZED: invalid_token: The access token expired."
    stolen = cli.refresh_token
    assert nb04.try_refresh(cli) == \
        "refreshed: the new access token carries profile:read photos:read photos:write"
    assert nb04.outcome(cli.call("/photos")) == "200 OK"
    assert cli.refresh_token != stolen and lab.introspect(stolen) == {"active": False}
    r = nb04.replay_refresh(lab, "photocli", stolen)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert cli.call("/photos").status_code == 401
    assert nb04.try_refresh(cli) == "refresh refused: invalid_grant"
    assert "refresh_reuse_detected" in set(lab.events(cli.grant_id)["event"])


def test_replay_refresh_for_a_confidential_client_uses_its_secret(lab, apps):
    chat = apps["chatpal"]
    old = chat.refresh_token
    chat.refresh()
    assert nb04.replay_refresh(lab, "chatpal", old).status_code == 400
    assert chat.call("/messages").status_code == 401


def test_use_refreshes_an_expired_token_once(lab, apps):
    lab.clock.advance(minutes=16)
    r, note = nb04.use(apps["chatpal"])
    assert r.status_code == 200 and note == "after a refresh"
    assert nb04.probe(apps).loc["PhotoPrint", "result"] == "works (after a refresh)"


def test_use_reports_a_refused_refresh(lab, apps):
    lab.clock.advance(hours=25)                 # the refresh token expired too
    r, note = nb04.use(apps["photoprint"])
    assert r.status_code == 401 and note == "refresh refused: invalid_grant"


# -- timeline ----------------------------------------------------------------------------
def test_timeline_of_a_grant_reused_after_rotation(lab, apps):
    cli = apps["photocli"]
    cli.call("/photos")
    cli.call("/photos")
    lab.clock.advance(minutes=16)
    stolen = cli.refresh_token
    cli.refresh()
    nb04.replay_refresh(lab, "photocli", stolen)
    df = nb04.timeline(lab, cli.grant_id)
    assert list(df["event"]) == ["consent", "issued", "used", "refreshed", "refresh_reuse_detected", "revoked"]
    assert list(df["minute"]) == [0, 0, 0, 16, 16, 16]
    assert df.loc[3, "detail"] == "GET /photos (2 times)"
    assert df.loc[6, "detail"] == "refresh token reused after rotation"
    assert df.loc[1, "detail"].startswith("asked: profile:read photos:read photos:write messages:read; granted:")
    assert df.loc[1, "timeline"] == "●" + " " * 23
    assert df.loc[4, "timeline"] == "·" * 23 + "●"
    assert df.index.name == "#"


def test_timeline_of_a_revoked_app_uses_the_revoked_event(lab, apps):
    grant_id = apps["chatpal"].grant_id
    lab.revoke_app("alice", "chatpal")
    df = nb04.timeline(lab, grant_id)
    assert list(df["event"]) == ["consent", "issued", "revoked"]
    assert df.loc[3, "detail"] == "revoked by the user"


def test_timeline_of_an_unknown_grant(lab):
    with pytest.raises(KeyError):
        nb04.timeline(lab, 999)


# -- JWT against revocation ------------------------------------------------------------
def test_connect_jwt_gets_an_rfc9068_token_from_the_code_flow(lab):
    pp = nb04.connect_jwt(lab, lifetime=600)
    seen = nb04.decode_unverified(pp.access_token)
    assert seen["header"]["alg"] == "RS256" and seen["header"]["typ"] == "at+jwt"
    claims = seen["claims"]
    assert (claims["sub"], claims["client_id"], claims["scope"]) == ("alice", pp.client_id, "photos:read")
    assert claims["exp"] - claims["iat"] == 600
    assert pp.refresh_token.startswith("rt_")               # refresh tokens stay opaque
    assert nb04.outcome(pp.call("/photos")) == "200 OK"


def test_revocation_race(lab):
    pp = nb04.connect_jwt(lab, lifetime=600)
    race = nb04.RevocationRace(lab, nb04.SignatureOnlyAPI(lab), pp)
    race.record("issued")
    lab.clock.advance(minutes=2)
    lab.revoke_app("alice", pp.client_id)
    race.record("revoked")
    lab.clock.advance(minutes=8)
    df = race.record("exp")
    assert list(df.columns) == nb04.RevocationRace.COLUMNS
    assert df.drop(columns="moment").values.tolist() == [
        [0, "accepted", "accepted", "accepted"],
        [2, "rejected (revoked)", "accepted", "rejected (revoked)"],
        [10, "rejected (expired)", "rejected (expired)", "rejected (expired)"]]


def test_measure_gap_is_lifetime_minus_time_before_revocation(lab):
    api = nb04.SignatureOnlyAPI(lab)
    assert nb04.measure_gap(lab, api, 600, 120) == 480
    assert nb04.measure_gap(lab, api, 60, 0) == 60


def test_measure_gap_is_counted_on_the_lab_clock_however_slow_the_kernel(lab, monkeypatch):
    """Measured in a loaded hub before the clock froze: 59.9833 min for a 60-minute token."""
    real_revoke = lab.revoke_grant

    def slow_revoke(*args, **kwargs):
        time.sleep(1.1)                      # more than the second between iat and the token's issue
        return real_revoke(*args, **kwargs)

    monkeypatch.setattr(lab, "revoke_grant", slow_revoke)
    assert nb04.measure_gap(lab, nb04.SignatureOnlyAPI(lab), 60, 0) == 60


def test_gap_table(lab):
    df = nb04.gap_table(lab, nb04.SignatureOnlyAPI(lab), lifetimes=(900, 60))
    assert df.to_dict("index") == {
        "15 min": {"revocation ignored for up to": "15 min", "token requests per hour": 4},
        "1 min": {"revocation ignored for up to": "1 min", "token requests per hour": 60}}


def test_compare_costs_names_both_and_a_ratio(lab):
    text = nb04.compare_costs(lab, nb04.SignatureOnlyAPI(lab), rounds=5)
    assert text.startswith("signature only: ") and " ms per check; with introspection: " in text
    assert text.endswith("x)")
    assert lab.connected_apps("alice").empty


# -- exercises ------------------------------------------------------------------------------
@pytest.mark.parametrize("exercise", [nb04.q1, nb04.q2], ids=["q1", "q2"])
def test_exercise_fails_on_placeholder_and_passes_with_solution(lab, exercise):
    verdict = exercise.evaluate(____)
    assert not verdict and "replace ____" in verdict.message
    assert exercise.evaluate(exercise.reference_answer())


def test_q1_says_what_is_wrong(lab, apps):
    quiz = nb04.AppsDashboard(lab, apps)
    assert "ChatPal still works" in nb04.q1.evaluate(quiz).message
    quiz.buttons["chatpal"].click()
    assert nb04.q1.evaluate(quiz)
    quiz.buttons["photocli"].click()
    assert "PhotoCLI stopped working too" in nb04.q1.evaluate(quiz).message
    assert "pass the dashboard" in nb04.q1.evaluate(lab.connected_apps("alice")).message


def test_q1_wants_the_app_revoked_not_one_token(lab, apps):
    quiz = nb04.AppsDashboard(lab, apps)
    apps["chatpal"].revoke("access_token")
    assert "still holds a grant" in nb04.q1.evaluate(quiz).message


def test_q1_needs_all_three_apps(lab):
    quiz = nb04.AppsDashboard(lab, {"chatpal": nb04.connect(lab, "chatpal")})
    assert "no live session" in nb04.q1.evaluate(quiz).message


@pytest.mark.parametrize("answer, message", [
    (900, "count from the revocation"),
    (360, "before the revocation"),
    (0, "introspecting API"),
    (9, "looks like minutes"),
    (100, "until its exp"),
    ("540", "number of seconds"),
    (True, "number of seconds"),
])
def test_q2_wrong_answers_say_why(answer, message):
    verdict = nb04.q2.evaluate(answer)
    assert not verdict and message in verdict.message


def test_q2_accepts_540_give_or_take_a_second():
    assert nb04.q2.evaluate(540) and nb04.q2.evaluate(539.5) and nb04.q2.evaluate(15 * 60 - 6 * 60)
    assert nb04.q2.evaluate(539.5).message.startswith("539.5 seconds, from the revocation until exp")


def test_notebook_04_stands_on_the_client_layer_not_on_notebook_03():
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(nb04))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(m and m.endswith("nb03") for m in imported), imported
