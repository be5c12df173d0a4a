"""Notebook 01's helpers, traffic viewer and exercises (and notebook 00's warm-up exercise)."""
from __future__ import annotations

import base64
import re

import pytest
import requests

from apisec_lab import DEMO_PASSWORDS
from apisec_lab.book import nb00, nb01
from apisec_lab.book.exercises import ____
from apisec_lab.client import flows

ALICE = DEMO_PASSWORDS["alice"]
BOB = DEMO_PASSWORDS["bob"]


def text(html_value: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html_value)).strip()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- decoding -------------------------------------------------------------------
def test_decode_basic_recovers_username_and_password():
    assert nb01.decode_basic(basic("alice", "pa:ss word")) == ("alice", "pa:ss word")


@pytest.mark.parametrize("header, reason", [
    ("Bearer at_x", "not HTTP Basic"),
    ("Basic !!!", "not valid base64"),
    ("Basic " + base64.b64encode(b"no-colon").decode(), "no ':'"),
    ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "not valid base64 of UTF-8"),
])
def test_decode_basic_explains_malformed_headers(header, reason):
    with pytest.raises(ValueError, match=reason):
        nb01.decode_basic(header)


def test_credentials_in_tells_password_token_and_nothing_apart(lab):
    with lab.weaknesses.turned_on(basic_auth=True):
        flows.call_api(lab, "/me", basic=("alice", ALICE), tapped=True)
    token = flows.client_credentials(lab, lab.clients["backup-bot"], ["reports:read"]).json()["access_token"]
    flows.call_api(lab, "/reports/usage", token=token, tapped=True)
    flows.call_api(lab, "/health", tapped=True)
    found = [nb01.credentials_in(x) for x in lab.wiretap.records]
    assert (found[0]["username"], found[0]["password"]) == ("alice", ALICE)
    assert (found[1]["scheme"], found[1]["token"]) == ("Bearer", token)
    assert found[2] == {"scheme": None}


# -- the story's helpers --------------------------------------------------------
def test_a_password_change_locks_out_every_app_alike(lab):
    lab.weaknesses.basic_auth = True
    printshop = nb01.PasswordApp(lab, "PhotoPrint Classic").sign_in("alice", ALICE)
    chatpal = nb01.PasswordApp(lab, "ChatPal Classic").sign_in("alice", ALICE)
    attacker = nb01.PasswordApp(lab, "Attacker").sign_in("alice", ALICE)
    assert set(nb01.who_still_works([attacker, printshop, chatpal])["status"]) == {200}
    lab.change_password("alice", "through-the-looking-glass")
    table = nb01.who_still_works([attacker, printshop, chatpal])
    assert list(table.index) == ["Attacker", "PhotoPrint Classic", "ChatPal Classic"]
    assert set(table["status"]) == {401} and set(table["answer"]) == {"Wrong username or password."}


def test_wire_marks_the_authorization_header(lab):
    with lab.weaknesses.turned_on(basic_auth=True):
        flows.call_api(lab, "/me", basic=("alice", ALICE), tapped=True)
    rendered = nb01.wire(lab)._repr_html_()
    marks = re.findall(r"<mark[^>]*>(.*?)</mark>", rendered)
    assert marks == [f"Authorization: {basic('alice', ALICE)}"]


def test_measure_cost_shows_a_password_hash_per_request_is_dearer(lab):
    lab.weaknesses.basic_auth = True
    cost = nb01.measure_cost(lab, "alice", ALICE, n=3)
    assert cost.n == 3 and cost.ratio > 2          # scrypt per request vs a digest lookup
    assert re.fullmatch(r"3 requests each way: a Basic-auth request cost \d+\.\dx a Bearer request on this machine\.",
                        str(cost))


def test_measure_cost_needs_the_weakness(lab):
    with pytest.raises(requests.HTTPError, match="401"):
        nb01.measure_cost(lab, "alice", ALICE, n=1)


# -- the traffic viewer ---------------------------------------------------------
@pytest.fixture
def viewer_traffic(lab):
    with lab.weaknesses.turned_on(basic_auth=True):
        nb01.PasswordApp(lab, "PhotoPrint Classic").sign_in("alice", ALICE).call("/photos")
        nb01.PasswordApp(lab, "Attacker").sign_in("bob", BOB).call("/payment")
    token = flows.code_flow(lab, "photocli", "alice", ALICE, ["photos:read"])["access_token"]
    flows.call_api(lab, "/photos", token=token, tapped=True)
    return lab.wiretap.records


def test_traffic_viewer_lists_every_capture_and_shows_the_newest(lab, viewer_traffic):
    viewer = nb01.TrafficViewer(lab)
    labels = [label for label, _ in viewer.picker.options]
    assert len(labels) == 3
    assert labels[0] == f"#{viewer_traffic[0].id} PhotoPrintClassic/1.0 (PhotoPrint Classic): GET /photos (Basic) -> 200"
    assert labels[1].endswith("Attacker/1.0: GET /payment (Basic) -> 200")
    assert labels[2].endswith("apisec-lab-client/1.0: GET /photos (Bearer) -> 200")
    assert viewer.picker.value == viewer_traffic[-1].id
    assert repr(viewer) == "<TrafficViewer: 3 captured requests>"
    assert "Press Decode credentials" in text(viewer.decoded.value)
    assert "GET /photos HTTP/1.1" in text(viewer.wire.value)


def test_decode_credentials_reveals_the_password_of_the_selected_request(lab, viewer_traffic):
    viewer = nb01.TrafficViewer(lab)
    viewer.picker.value = viewer_traffic[1].id          # the attacker's request, with Bob's password
    viewer.decode_button.click()
    shown = text(viewer.decoded.value)
    assert f"to bob:{BOB}" in shown and "username bob, password can-we-fix-it" in shown
    assert "Anyone who saw this request can now sign in as bob" in shown          # the API answered 200
    assert re.search(r"<mark[^>]*>can-we-fix-it</mark>", viewer.decoded.value)
    viewer.picker.value = viewer_traffic[0].id          # selecting another request clears the decoding
    assert "Press Decode credentials" in text(viewer.decoded.value)
    assert viewer.decode()["password"] == ALICE


def test_decode_credentials_of_a_refused_request_says_what_is_true(lab):
    with lab.weaknesses.turned_on(basic_auth=True):
        nb01.PasswordApp(lab, "Old app").sign_in("alice", "an-old-password").call("/photos")
    viewer = nb01.TrafficViewer(lab)
    viewer.decode_button.click()
    shown = text(viewer.decoded.value)
    assert "can now sign in" not in shown
    assert "The API refused this request (401), but the password crossed the wire all the same" in shown


def test_decode_credentials_on_a_bearer_request_says_it_is_a_token(lab, viewer_traffic):
    viewer = nb01.TrafficViewer(lab)
    viewer.decode_button.click()
    assert text(viewer.decoded.value).startswith("A Bearer token, not a password")


def test_reload_captures_picks_up_new_requests(lab):
    viewer = nb01.TrafficViewer(lab)
    assert viewer.picker.options == () and "Nothing captured yet" in text(viewer.wire.value)
    assert viewer.decode() == {"scheme": None}
    flows.call_api(lab, "/health", tapped=True)
    viewer.reload_button.click()
    assert len(viewer.picker.options) == 1
    viewer.decode_button.click()
    assert text(viewer.decoded.value) == "This request carried no credentials."


# -- exercises ------------------------------------------------------------------
@pytest.mark.parametrize("exercise", [nb00.warmup, nb01.q1, nb01.q2], ids=["nb00.warmup", "q1", "q2"])
def test_each_check_fails_on_the_placeholder_and_passes_with_the_solution(lab, exercise):
    blank = exercise.evaluate(____)
    assert not blank and "replace ____" in blank.message
    verdict = exercise.evaluate(exercise.reference_answer())
    assert verdict, verdict.message
    assert lab.weaknesses.enabled() == []               # solvers leave the switches as they found them


def test_overheard_captures_bobs_password_and_leaves_basic_auth_off(lab):
    capture = nb01.overheard(lab)
    assert capture.request.headers["Authorization"] == basic("bob", BOB)
    assert capture.status == 200 and not lab.weaknesses.basic_auth


@pytest.mark.parametrize("answer, says", [
    (f"bob:{BOB}".encode(), "still bytes"),
    (f"bob:{BOB}", "split that text at the first ':'"),
    ("Basic Ym9i", "base64-decode the part after 'Basic '"),
    (("alice", ALICE), "not 'alice'"),
    (("bob", "wrong"), "right user, wrong password"),
    (42, "give a pair"),
])
def test_q1_explains_near_misses(answer, says):
    verdict = nb01.q1.evaluate(answer)
    assert not verdict and says in verdict.message


def test_q1_passes_a_decoded_pair(lab):
    header = nb01.overheard(lab).request.headers["Authorization"]
    assert nb01.q1.evaluate(nb01.decode_basic(header))


def test_q2_expected_set_is_what_a_password_really_opens(lab):
    app = nb01.PasswordApp(lab, "PhotoPrint Classic", tapped=False).sign_in("alice", ALICE)
    with lab.weaknesses.turned_on(basic_auth=True):
        probed = {path for path in nb01.PROBES if app.call(path).status_code == 200}
    assert probed == {"/me", "/photos", "/messages", "/payment"}
    assert nb01.q2.evaluate(probed)


@pytest.mark.parametrize("answer, says", [
    ({"/photos"}, "that is what PhotoPrint Classic needs"),
    (set(), "with the switch off, the API refuses every password"),
    ({"/me", "/photos", "/messages", "/payment", "/admin/users"}, "['/admin/users'] did not answer 200"),
    ({"/me", "/photos"}, "['/messages', '/payment']"),
    ({"/photos", "/nope"}, "only answer with paths from nb01.PROBES"),
    ("/photos", "give a set of paths"),
])
def test_q2_explains_near_misses(answer, says):
    verdict = nb01.q2.evaluate(answer)
    assert not verdict and says in verdict.message


def test_nb00_warmup_explains_a_whole_response(lab):
    verdict = nb00.warmup.evaluate(flows.call_api(lab, "/health"))
    assert not verdict and ".json()" in verdict.message


def test_nb00_tables_describe_the_running_lab(lab):
    assert list(nb00.servers(lab)["url"]) == [lab.api_url, lab.gateway_url, lab.issuer, lab.apps_url,
                                              lab.attacker.url, lab.web_url, lab.metadata_service.url,
                                              lab.partner.url, lab.wiretap.url]
    shown = nb00.servers(lab)._repr_html_() + repr(nb00.servers(lab)) + nb00.cast()._repr_html_() + repr(nb00.cast())
    assert "..." not in shown and "…" not in shown                 # nothing a learner must read is cut
    cast = nb00.cast()
    assert cast.loc["alice", "demo password"] == ALICE and cast.loc["photocli", "kind"] == "app"
