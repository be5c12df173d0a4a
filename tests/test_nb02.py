"""Notebook 02's flow stepper and exercises, driven in-kernel against a real lab."""
from __future__ import annotations

import re
from urllib.parse import quote_plus

import pytest

from apisec_lab import DEMO_PASSWORDS
from apisec_lab.book import nb02
from apisec_lab.book.exercises import ____
from apisec_lab.client import flows, wire

ALICE = DEMO_PASSWORDS["alice"]


def text(html_value: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html_value)).replace("&#x27;", "'").strip()


def marks(html_value: str) -> list[str]:
    return re.findall(r"<mark[^>]*>(.*?)</mark>", html_value)


@pytest.fixture
def stepper(lab):
    return nb02.FlowStepper(lab)


def allow(stepper, password=ALICE):
    stepper.consent.password.value = password
    stepper.consent.allow_button.click()


# -- the stepper, step by step ------------------------------------------------
def test_stepper_starts_ready_with_empty_app_storage(stepper):
    assert text(stepper.title.value) == ("Ready: PhotoCLI will ask alice for profile:read photos:read. "
                                         "Press Next step.")
    assert stepper.consent_area.children == () and stepper.detail.value == ""
    assert "client_id" in text(stepper.storage_view.value)
    assert repr(stepper) == "<FlowStepper: PhotoCLI asks alice for profile:read photos:read; 0 of 5 steps done>"
    assert {stepper.next_button.description, stepper.restart_button.description} == {"Next step", "Start over"}


def test_stepper_runs_the_whole_flow_with_clicks(stepper, lab):
    stepper.next_button.click()
    assert text(stepper.title.value).startswith("Step 1 of 5: Build the authorization URL")
    assert "code_challenge" in text(stepper.detail.value) and "The browser loads the sign-in page" in text(stepper.detail.value)
    assert stepper.consent_area.children == (stepper.consent,)
    assert {"state", "code_verifier"} <= set(stepper.app.storage)

    allow(stepper)
    assert text(stepper.title.value).startswith("Step 2 of 5: Alice signs in and consents")
    assert marks(stepper.detail.value) == [ALICE]           # the password, in the one request that carried it
    assert "POST /authorize to the authorization server" in text(stepper.detail.value)
    assert "HTTP/1.1 302 FOUND" in text(stepper.detail.value)

    stepper.next_button.click()
    assert text(stepper.title.value).startswith("Step 3 of 5: The code comes back to the app")
    assert "GET /photocli/callback to the app's web server" in text(stepper.detail.value)
    assert stepper.consent_area.children == ()
    assert "PhotoCLI checked the state and holds a code" in text(stepper.detail.value)

    stepper.next_button.click()
    assert text(stepper.title.value).startswith("Step 4 of 5: Exchange the code for tokens")
    assert "POST /token to the authorization server" in text(stepper.detail.value)
    assert len(marks(stepper.detail.value)) == 1 and marks(stepper.detail.value)[0] in stepper.detail.value
    assert "now holds an access token (scope profile:read photos:read, 900 seconds)" in text(stepper.detail.value)

    stepper.next_button.click()
    assert text(stepper.title.value).startswith("Step 5 of 5: Call the API")
    token = stepper.app.storage["access_token"]
    assert marks(stepper.detail.value) == [f"Bearer {token}"]
    assert text(stepper.detail.value).endswith("Done: the API answered 200 to the token alone. The password "
                                               "crossed the wire once, to the authorization server.")
    assert repr(stepper).endswith("5 of 5 steps done>")

    storage = text(stepper.storage_view.value)
    assert "access_token" in storage and "refresh_token" in storage and ALICE not in storage
    assert list(wire.sightings(lab, ALICE, "alice")["server"]) == ["issuer"]

    stepper.next_button.click()
    assert text(stepper.detail.value).startswith("The flow is over. Press Start over to run it again.")


def test_next_step_waits_for_the_consent_panel(stepper):
    stepper.next()
    stepper.next()
    assert text(stepper.detail.value).startswith("Answer the consent panel first: Allow or Deny")
    assert text(stepper.consent.result.value).startswith("Answer this panel first")    # where the learner looks
    assert stepper.done == 1


def test_a_wrong_password_keeps_the_flow_at_step_one(stepper, lab):
    stepper.next()
    allow(stepper, "not-her-password")
    assert text(stepper.consent.result.value).startswith("The authorization server refused (HTTP 403)")
    assert "Wrong username" not in text(stepper.detail.value)        # said once, in the consent panel
    assert text(stepper.detail.value).endswith("Correct it in the panel above and press Allow again.")
    assert marks(stepper.detail.value) == ["not-her-password"]
    assert stepper.done == 1 and lab.inbox.latest("photocli") is None
    allow(stepper)                                            # a second try with the right one works
    assert stepper.done == 2


def test_deny_ends_the_flow_with_access_denied(stepper):
    stepper.next()
    stepper.consent.password.value = ALICE
    stepper.consent.deny_button.click()
    assert "You pressed Deny" in text(stepper.detail.value)
    assert "The password went to the authorization server, in this one request" not in text(stepper.detail.value)
    stepper.next()
    shown = text(stepper.detail.value)
    assert "error=access_denied" in shown and shown.endswith("Press Start over.")
    assert "access_token" not in stepper.app.storage
    stepper.next()
    assert text(stepper.detail.value).startswith("The flow is over.")


def test_unticked_scope_shows_the_api_refusing(stepper):
    stepper.next()
    stepper.consent.scope_boxes["photos:read"].value = False
    allow(stepper)
    for _ in range(3):
        stepper.next()
    assert stepper.app.storage["scope"] == "profile:read"
    assert "The API answered 403 insufficient_scope" in text(stepper.detail.value)


def test_code_from_a_real_browser_completes_the_flow(stepper, lab):
    stepper.next()
    with lab.session() as s:      # the browser: the real page's form, then the redirect to the app
        s.post(stepper.url, data={"username": "alice", "password": ALICE,
                                  "scope": ["profile:read", "photos:read"], "decision": "approve"}, timeout=10)
    stepper.consent.browser_button.click()
    assert text(stepper.title.value).startswith("Step 2 of 5")
    assert "did not go through the wiretap" in text(stepper.detail.value)
    for _ in range(3):
        stepper.next()
    assert text(stepper.detail.value).endswith("crossed the wire once, to the authorization server.")


def test_start_over_forgets_everything(stepper):
    stepper.next()
    allow(stepper)
    stepper.restart_button.click()
    assert stepper.done == 0 and stepper.app.storage == {"client_id": "photocli"}
    assert text(stepper.title.value).startswith("Ready:") and stepper.consent_area.children == ()


def test_a_stale_consent_panel_cannot_move_a_restarted_stepper(stepper):
    stepper.next()
    old_panel = stepper.consent
    stepper.restart()
    old_panel.password.value = ALICE
    old_panel.allow_button.click()
    assert stepper.done == 0


def test_explain_url_prints_every_parameter_with_its_purpose(lab, capsys):
    url = flows.OAuthApp(lab, "photocli").start_login(["photos:read"])
    nb02.explain_url(url)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == lab.metadata["authorization_endpoint"]
    assert [ln.strip()[1:].split("=")[0] for ln in out[1::2]] == [
        "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"]
    assert all(ln.startswith("      ") for ln in out[2::2])


# -- exercises ------------------------------------------------------------------
@pytest.mark.parametrize("exercise", [nb02.q1, nb02.q2, nb02.q3, nb02.q4], ids=["q1", "q2", "q3", "q4"])
def test_each_check_fails_on_the_placeholder_and_passes_with_the_solution(lab, exercise):
    blank = exercise.evaluate(____)
    assert not blank and "replace ____" in blank.message
    verdict = exercise.evaluate(exercise.reference_answer())
    assert verdict, verdict.message


def test_q1_answer_is_the_rfc_7636_challenge():
    assert nb02.q1.reference_answer() == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize("answer, says", [
    ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=", "strip the '=' padding"),
    ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM=", "wrong alphabet"),
    ("13d31e961a1ad8ec2f16b10c4c982e0876a878ad6df144566ee1894acb70f9c3", "hex digest"),
    (nb02.RFC7636_VERIFIER, "the verifier itself"),
    (b"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "that is bytes"),
    ("nope", "not the S256 challenge"),
    (None, "as a string"),
])
def test_q1_explains_near_misses(answer, says):
    verdict = nb02.q1.evaluate(answer)
    assert not verdict and says in verdict.message


def _form(p, **changes):
    form = {"grant_type": "authorization_code", "code": p.code, "redirect_uri": p.redirect_uri,
            "client_id": p.client_id, "code_verifier": p.code_verifier}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_pending_code_is_redeemable_once(lab):
    p = nb02.pending_code(lab)
    assert p.client_id == "photocli" and p.token_endpoint == lab.metadata["token_endpoint"]
    assert nb02.q2.evaluate(_form(p))
    again = nb02.q2.evaluate(_form(p))
    assert not again and "invalid_grant" in again.message and "already used" in again.message


@pytest.mark.parametrize("changes, says", [
    ({"code_verifier": None}, "that is PKCE at work"),
    ({"code_verifier": "x" * 43}, "400 invalid_grant"),
    ({"client_id": None}, "public client"),
    ({"grant_type": "password"}, "MUST be 'authorization_code'"),
    ({"redirect_uri": None}, "redirect_uri is REQUIRED"),
    ({"code": None}, "must carry the code"),
])
def test_q2_explains_near_misses(lab, changes, says):
    verdict = nb02.q2.evaluate(_form(nb02.pending_code(lab), **changes))
    assert not verdict and says in verdict.message


def test_q2_wants_a_dict(lab):
    verdict = nb02.q2.evaluate("grant_type=authorization_code")
    assert not verdict and "as a dict" in verdict.message


def test_q3_refuses_tokens_that_are_not_the_bots_own(lab):
    user_token = flows.code_flow(lab, "photocli", "alice", ALICE, ["photos:read"])["access_token"]
    assert "belongs to photocli" in nb02.q3.evaluate(user_token).message
    r = flows.client_credentials(lab, lab.clients["backup-bot"], ["reports:read"])
    assert "whole token response" in nb02.q3.evaluate(r.json()).message
    assert "HTTP response" in nb02.q3.evaluate(r).message
    assert "inactive" in nb02.q3.evaluate("at_made_up").message
    assert nb02.q3.evaluate(r.json()["access_token"])


def test_q3_refuses_the_bots_token_from_section_5(lab):
    earlier = flows.client_credentials(lab, lab.clients["backup-bot"], ["reports:read"]).json()["access_token"]
    lab.clock.advance(1)
    assert not nb02.q3.evaluate(____)                 # posed
    assert "issued before this exercise was posed" in nb02.q3.evaluate(earlier).message
    mine = flows.client_credentials(lab, lab.clients["backup-bot"], ["reports:read"]).json()["access_token"]
    assert nb02.q3.evaluate(mine)


def test_password_marks_cover_the_url_encoded_form(stepper):
    stepper.next()
    stepper.consent.password.value = "p@ss word"
    assert stepper._password_marks() == ["p@ss word", quote_plus("p@ss word")]


# -- section 6: the password grant, and Try it 4 ------------------------------------------------------
def test_rfc9700_s2_4_the_password_grant_app_gets_a_token_and_had_the_password(lab):
    quick = lab.register_client("QuickPrint", scopes=["profile:read", "photos:read"], grant_types=["password"])
    refused = flows.password_grant(lab, quick, "alice", ALICE, ["photos:read"])
    assert (refused.status_code, refused.json()["error"]) == (400, "unsupported_grant_type")
    with lab.weaknesses.turned_on(password_grant=True):
        app = flows.PasswordGrantApp(lab, quick, tapped=True).sign_in("alice", ALICE, ["photos:read"])
    assert app.granted == ["photos:read"] and app.call("/photos").status_code == 200
    assert app.login_form == {"username": "alice", "password": ALICE}          # what its own form took
    assert ALICE not in str(app.storage)                                         # what it keeps: tokens
    assert list(wire.sightings(lab, ALICE, "alice")["path"]) == ["/token"]      # and sent to the token endpoint
    events = list(lab.events(app.grant_id)["event"])
    assert "consent" not in events and events[0] == "issued"                    # nobody asked Alice
    assert "password" not in lab.metadata["grant_types_supported"]              # off again after the block


def test_rfc9700_s2_4_a_refused_password_grant_still_carried_the_password(lab):
    frame = lab.register_client("SnapFrame", scopes=["photos:read"])            # client credentials only
    with lab.weaknesses.turned_on(password_grant=True), pytest.raises(flows.FlowError) as refused:
        flows.PasswordGrantApp(lab, frame, tapped=True).sign_in("alice", ALICE, ["photos:read"])
    assert refused.value.error == "unauthorized_client"
    assert f"password={ALICE}".encode() in lab.wiretap.last().request.body


def test_the_morning_draws_six_apps_and_three_of_them_asked_for_the_password(lab):
    picture = nb02.morning(lab)
    assert picture.senders() == ["Browser", "PhotoCLI", "QuickPrint", "Nightly Reports Bot", "PhotoPrint Classic",
                                 "ChatPal", "SnapFrame"]
    assert list(nb02.MORNING) == picture.senders()[1:]
    asked = nb02.asked_for_password(picture)
    assert sorted(asked) == ["PhotoPrint Classic", "QuickPrint", "SnapFrame"]
    assert "token endpoint" in asked["QuickPrint"] and "HTTP Basic" in asked["PhotoPrint Classic"]
    assert "refused (400 Bad Request: error=unauthorized_client)" in asked["SnapFrame"]
    assert lab.weaknesses.enabled() == []                                        # both switches off again
    # the browser carried it too, to the sign-in page, twice: that is where it belongs
    assert [a.target for a in picture.carrying("password of alice") if a.source == "Browser"] == [
        "Authorization server"] * 2


def test_q4_is_about_the_last_morning_and_says_why_for_each_app(lab):
    nb02._morning.clear()
    assert "run the cell with nb02.morning(lab) first" in nb02.q4.evaluate({"QuickPrint"}).message
    nb02.morning(lab)
    verdict = nb02.q4.evaluate({"QuickPrint", "PhotoPrint Classic", "SnapFrame"})
    assert verdict, verdict.message
    for said in ("QuickPrint sent alice's password to the token endpoint", "PhotoPrint Classic sent alice's password "
                 "to the API in HTTP Basic", "SnapFrame sent alice's password to the token endpoint (the password "
                 "grant), and was refused", "Never ask for login credentials through an API"):
        assert said in verdict.message
    assert "Nightly Reports Bot sent a secret, but its own" in nb02.q4.evaluate({"Nightly Reports Bot"}).message
    assert "the browser is Alice's own" in nb02.q4.evaluate({"Browser"}).message
    assert "not a lane of the morning's picture" in nb02.q4.evaluate({"Mallory"}).message
    assert "1 more app besides" in nb02.q4.evaluate({"QuickPrint"}).message
    assert "give a set of app names" in nb02.q4.evaluate({"QuickPrint": 1}).message
