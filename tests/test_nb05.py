"""Notebook 05 helpers: attacks both ways, the dashboard driven in-kernel, the mapping, the exercises."""
from __future__ import annotations

import time

import pytest

import apisec_lab
from apisec_lab.book import nb05
from apisec_lab.book.exercises import ____


def test_sign_in_and_the_two_doors(lab):
    token = nb05.attacks.token_for(lab)
    text = nb05.same_answer(lab, "/me", token)
    assert repr(text) == str(text)
    lines = str(text).splitlines()
    assert lines[0].startswith("straight to the API  GET http://127.0.0.1:")
    assert lines[2].startswith("through the gateway  GET http://127.0.0.1:")
    assert [line.strip() for line in lines if "->" in line] == [
        '-> 200 {"username": "alice", "display_name": "Alice Liddell", "email": "alice@example.org"}'] * 2
    assert lines[-1].strip() == "Via: 1.1 apisec-lab-gateway"
    with pytest.raises(ValueError):
        nb05.base_url(lab, "side door")


# attack -> (api: statuses, worked), (gateway: statuses, worked, requests that reached the API)
ATTACKS = [
    (nb05.brute_force_basic, ([401] * 13 + [200], True), ([401] * 14, False, 0)),
    (nb05.token_in_url, ([200], True), ([400], False, 0)),
    (nb05.flood, ([200] * 40, True), ([200] * 30 + [429] * 10, False, 30)),
    (nb05.admin_route, ([200], True), ([404], False, 0)),
    (nb05.revoked_token, ([401], False), ([401], False, 1)),
    (nb05.oversized, ([200], True), ([431], False, 0)),
    (nb05.bola, ([200], True), ([200], True, 1)),
    (nb05.normal_request, ([200], False), ([200], False, 1)),
]


@pytest.mark.parametrize("attack, api, gateway", ATTACKS, ids=[a[0].__name__ for a in ATTACKS])
def test_each_attack_with_the_gateway_off_and_on(lab, attack, api, gateway):
    c = nb05.compare(lab, attack)
    assert (c.api.statuses, c.api.worked, c.api.reached_api) == (*api, len(api[0]))
    assert (c.gateway.statuses, c.gateway.worked, c.gateway.reached_api) == gateway
    assert c.api.via == "api" and c.gateway.via == "gateway"
    text = repr(c)
    assert text.splitlines()[0] == c.api.attack
    assert "straight to the API" in text and "through the gateway" in text
    assert lab.weaknesses.enabled() == []        # each attack turned its weakness on for itself only


def test_verdicts_say_what_happened(lab):
    assert "password found on guess 14: 'wonderland-2026'" in nb05.brute_force_basic(lab, via="api").verdict
    assert nb05.brute_force_basic(lab).verdict == ("no password: HTTP Basic refused by the gateway (basic_refused) "
                                                   "on every guess")
    assert nb05.flood(lab).verdict.startswith("cut off after 30 (Retry-After ")
    assert nb05.admin_route(lab, via="api").verdict == "the 'hidden' route listed 2 accounts with their emails"
    assert "let it through; the API's own check refused it (401)" in nb05.revoked_token(lab).verdict
    assert nb05.bola(lab).verdict == "alice read bob's photo 5: 'Private: house keys'"
    assert nb05.normal_request(lab).label == "not an attack"


def test_legacy_basic_route_is_throttled_per_address(lab):
    lab.gateway.policy.route("GET /me").basic = True
    out = nb05.brute_force_basic(lab)
    assert out.statuses == [401] * 10 + [429] * 4 and not out.worked and out.reached_api == 10
    assert out.verdict.startswith("no password: cut off after 10 guesses (Retry-After ")


def test_bola_is_fixed_in_the_api_not_the_gateway(lab):
    out = nb05.bola(lab, api_fixed=True)
    assert out.statuses == [404] and not out.worked and out.reached_api == 1
    assert out.verdict == "404 not_found from the API"


def test_staleness_depends_on_the_cache_lifetime(lab):
    table = nb05.staleness_table(lab)
    assert table.iloc[:, 0].to_dict() == {5: 5.0, 1: 1.0, 0: 0.0}
    assert table.iloc[:, 1].to_dict() == {5: 1, 1: 1, 0: 10}


def test_staleness_is_counted_on_the_lab_clock_however_slow_the_kernel(lab, monkeypatch):
    """In a hub kernel sharing two cores with thirty others, real seconds pass between the polls: they must
    not shorten the figure (measured there: 4.5 s instead of 5.0 for a 5 s cache, before the clock froze)."""
    real_revoke = lab.revoke_app

    def slow_revoke(*args, **kwargs):
        time.sleep(0.7)                      # the kernel is busy between the first request and the revocation
        return real_revoke(*args, **kwargs)

    monkeypatch.setattr(lab, "revoke_app", slow_revoke)
    assert nb05.staleness(lab, 5) == 5.0


def test_log_and_owners(lab):
    nb05.normal_request(lab)
    frame = nb05.log(lab)
    assert list(frame.columns) == nb05.LOG_COLUMNS
    assert frame.iloc[-1].to_dict() == {"method": "GET", "path": "/me", "status": 200, "reason": "allowed",
                                        "client": "photocli", "user": "alice",
                                        "authorization": "Bearer at_…(masked)"}
    assert nb05.photo_owners(lab)["owner"].to_dict() == {1: "alice", 2: "alice", 3: "alice", 4: "bob", 5: "bob"}
    assert "cache_ttl" in repr(nb05.show_policy(lab)) and "<table" in nb05.show_policy(lab)._repr_html_()


# -- the dashboard, driven as a learner would ---------------------------------------------------------------
def test_dashboard_layout(lab):
    dash = nb05.Dashboard(lab)
    assert list(dash.buttons) == ["Brute-force Basic", "Token in URL", "Flood", "Admin route", "Revoked token",
                                  "Oversized header", "Another user's photo", "Normal request"]
    assert [b.description for b in dash.buttons.values()] == list(dash.buttons)
    assert dash.target.options == (("Through the gateway", "gateway"), ("Straight to the API", "api"))
    assert dash.target.value == "gateway"
    assert dash.refresh_button.description == "Refresh" and dash.clear_button.description == "Clear log"
    assert dash.status.value == "<i>Pick a target, then fire an attack.</i>"
    assert "<b>allowed</b></td><td style='text-align:right'><b>0</b>" in dash.counters.value
    assert "empty: the gateway has seen no request" in dash.log_view.value
    assert repr(dash) == "Dashboard(gateway lab)"


CLICKS = [
    # (button, status text through the gateway, counters line that appears)
    ("Flood", "Flood from one client (40 requests at once), through the gateway: 30 × 200, 10 × 429 · "
              "30 reached the API · attack failed: cut off after 30 (Retry-After", "rate_limited (429)</td><td "
              "style='text-align:right'>10"),
    ("Brute-force Basic", "14 × 401 · 0 reached the API · attack failed: no password: HTTP Basic refused by the "
                          "gateway (basic_refused) on every guess",
     "basic_refused (401)</td><td style='text-align:right'>14"),
    ("Token in URL", "1 × 400 · 0 reached the API · attack failed: 400 invalid_request from the gateway "
                     "(credential_in_url)", "credential_in_url (400)"),
    ("Admin route", "1 × 404 · 0 reached the API · attack failed: 404 not_found from the gateway (not_in_allow_list)",
     "not_in_allow_list (404)"),
    ("Revoked token", "1 × 401 · 1 reached the API · attack failed: the gateway's cached introspection still said "
                      "active and let it through", "<b>allowed</b></td><td style='text-align:right'><b>2</b>"),
    ("Oversized header", "1 × 431 · 0 reached the API · attack failed: 431", "headers_too_large (431)"),
    ("Another user's photo", "1 × 200 · 1 reached the API · ATTACK WORKED: alice read bob's photo 5: "
                             "'Private: house keys'", "<b>allowed</b></td><td style='text-align:right'><b>1</b>"),
    ("Normal request", "1 × 200 · 1 reached the API · not an attack: 200: served",
     "<b>allowed</b></td><td style='text-align:right'><b>1</b>"),
]


@pytest.mark.parametrize("button, status, counter", CLICKS, ids=[c[0] for c in CLICKS])
def test_clicking_through_the_gateway(lab, button, status, counter):
    dash = nb05.Dashboard(lab)
    dash.buttons[button].click()
    assert status in dash.status_text()
    assert counter in dash.counters.value
    assert "<b>Gateway access log</b> (last 8)" in dash.log_view.value
    assert "<td style='padding:1px 6px'>GET</td>" in dash.log_view.value
    assert dash.last_outcome.via == "gateway"


def test_clicking_straight_to_the_api_leaves_the_gateway_blind(lab):
    dash = nb05.Dashboard(lab)
    dash.target.value = "api"
    dash.buttons["Admin route"].click()
    assert dash.status_text() == ("Unpublished admin route (GET /admin/users, no token), straight to the API: "
                                  "1 × 200 · 1 reached the API · ATTACK WORKED: the 'hidden' route listed 2 "
                                  "accounts with their emails")
    assert "apisec-banner apisec-bad" in dash.status.value          # red: the attack worked
    assert "empty: the gateway has seen no request" in dash.log_view.value
    assert "<b>rejected</b></td><td style='text-align:right'><b>0</b>" in dash.counters.value


def test_refresh_shows_requests_from_cells_and_clear_empties(lab):
    dash = nb05.Dashboard(lab, last=3)
    with lab.session() as s:
        for _ in range(5):
            s.get(lab.gateway_url + "/health")
    assert "empty" in dash.log_view.value
    dash.refresh_button.click()
    assert dash.log_view.value.count("<td style='padding:1px 6px'>/health</td>") == 3
    assert "<b>allowed</b></td><td style='text-align:right'><b>5</b>" in dash.counters.value
    dash.clear_button.click()
    assert "empty" in dash.log_view.value and lab.gateway.records == []


# -- the mapping ----------------------------------------------------------------------------------------
def test_scorecard(lab):
    card = nb05.scorecard(lab)
    stops = card.frame["gateway stops it?"].to_dict()
    assert stops == {"brute_force_basic": "yes", "token_in_url": "yes", "flood": "yes", "oversized": "yes",
                     "admin_route": "yes", "revoked_token": "no (the API's own check stops it)", "bola": "NO"}
    assert card.frame.loc["bola", "OWASP API Top 10 (2023)"].startswith("API1:2023")
    assert "<tr class='apisec-bad'" in card._repr_html_() and "bola" in repr(card)


def test_owasp_top10_lists_all_ten():
    frame = nb05.owasp_top10().frame
    assert list(frame.index) == [f"API{i}:2023" for i in range(1, 11)]
    assert frame.loc["API1:2023", "a gateway helps?"] == "no"
    assert frame.loc["API4:2023", "a gateway helps?"] == "partly"      # notebook 08 §4: one request, 14,400 items


# -- exercises: each fails on the placeholder and passes on the solution ----------------------------------
@pytest.mark.parametrize("q", [nb05.q1, nb05.q2, nb05.q3], ids=["q1", "q2", "q3"])
def test_exercise_fails_on_placeholder_and_passes_on_solution(lab, q):
    assert not q.evaluate(____)
    if q is nb05.q2:
        nb05.mixed_traffic(lab)
    verdict = q.evaluate(q.reference_answer())
    assert verdict, verdict.message
    assert all(lab.gateway.policy.switches().values()) and lab.gateway.policy.per_client == nb05.Limit(30, 60)


@pytest.mark.parametrize("answer, message", [
    ({"per_user": nb05.Limit(20, 60)}, "ChatPal, alice's other app, got only 0 of 5"),
    ({"per_address": nb05.Limit(20, 60)}, "still got 30 of 100"),
    ({"per_client": nb05.Limit(1, 60)}, "allows only 1 requests a minute: PhotoCLI needs 10"),
    ({"per_client": nb05.Limit(10, 1)}, "lets PhotoCLI make 600 requests a minute"),          # a near miss
    ({"per_client": nb05.Limit(21, 60)}, "still got 21 of 100"),
    ({"per_client": nb05.Limit(9, 60)}, "allows only 9 requests a minute"),
    ({"rate_limit": False}, "still got 100 of 100"),
    ({"per_client": (20, 60)}, "per_client takes a Limit"),
    ({"firewall": True}, "the gateway has no setting ['firewall']"),
    ([("per_client", 20)], "answer with a dict"),
])
def test_q1_explains_wrong_policies(lab, answer, message):
    verdict = nb05.q1.evaluate(answer)
    assert not verdict and message in verdict.message, verdict.message


def test_q1_judges_a_per_second_limit_by_the_burst_not_by_how_fast_the_kernel_sends_it(lab, monkeypatch):
    """A burst of 100 that a loaded kernel takes two seconds to send must still meet Limit(10, 1) as one burst."""
    from apisec_lab.servers.gateway import pipeline

    real_call = pipeline.Gateway.__call__

    def slow_gateway(self, request):
        time.sleep(0.02)                     # 100 requests: two real seconds, two windows of a 1 s limit
        return real_call(self, request)

    monkeypatch.setattr(pipeline.Gateway, "__call__", slow_gateway)
    verdict = nb05.q1.evaluate({"per_client": nb05.Limit(10, 1)})
    assert not verdict and "lets PhotoCLI make 600 requests a minute" in verdict.message, verdict.message


@pytest.mark.parametrize("limit, rate", [(nb05.Limit(20, 60), 20), (nb05.Limit(5, 30), 10), (nb05.Limit(10, 60), 10)])
def test_q1_feedback_describes_the_learners_own_answer(lab, limit, rate):
    verdict = nb05.q1.evaluate({"per_client": limit})
    assert verdict, verdict.message
    assert verdict.message.startswith(f"per_client = Limit({limit.requests}, {limit.seconds:g}) holds PhotoCLI to "
                                      f"{rate} requests a minute ({limit.requests} of its 100-request burst got through)")
    assert "ChatPal, alice's other app, got all 5 of its requests through" in verdict.message


def test_q2_explains_wrong_ids_and_its_solution_code_runs(lab):
    nb05.mixed_traffic(lab)
    frame = lab.gateway.log_frame()
    refused = int(frame.index[frame["reason"] == "not_in_allow_list"][0])
    own = int(frame.index[frame["path"] == "/photos/2"][0])
    harmless = int(frame.index[frame["path"] == "/me"][0])
    assert "the gateway refused" in nb05.q2.evaluate(refused).message
    assert "reading their own photo 2" in nb05.q2.evaluate(own).message
    assert "harmless" in nb05.q2.evaluate(harmless).message
    assert "no request #999999" in nb05.q2.evaluate(999999).message
    assert "an int" in nb05.q2.evaluate("5").message
    namespace = {"lab": lab, "nb05": nb05}
    exec(nb05.q2.solution_text, namespace)
    assert namespace["answer"] == nb05.q2.reference_answer() and nb05.q2.evaluate(namespace["answer"])
    assert frame.loc[namespace["answer"], "path"] == "/photos/4"


@pytest.mark.parametrize("answer, message", [
    (0, "0 turns the cache off"), (5, "for up to 5 s"), (-1, "cannot be negative"), ("1", "a number of seconds"),
    (1.5, "for up to 1.5 s"),
])
def test_q3_explains_wrong_lifetimes(lab, answer, message):
    assert message in nb05.q3.evaluate(answer).message
    assert nb05.q3.evaluate(0.5).message == ("cache_ttl = 0.5 s: a revoked token is refused at the edge within 0.5 s, "
                                             "and a burst of requests still costs one introspection call.")


def test_q1_solution_text_runs_with_only_the_facade_imported(lab):
    """A learner pastes the printed solution into a cell that has only ``nb05`` imported."""
    namespace = {"nb05": nb05}
    exec(nb05.q1.solution_text.split("#")[0], namespace)
    assert nb05.q1.evaluate(namespace["answer"]).passed


# -- section 3: the sign-in page's own throttle -------------------------------------------------------
def test_owasp_api2_2023_guessing_on_the_sign_in_page_locks_the_account_the_right_password_included(lab):
    guessing = nb05.guess_on_sign_in_page(lab)
    assert [a.status for a in guessing.attempts] == [403] * 5 + [429] * 2
    assert guessing.found is None and guessing.attempts[-1].guess == apisec_lab.DEMO_PASSWORDS["bob"]
    assert guessing.attempts[-1].said == "Too many failed sign-ins for this account. Try again in 15 minutes."
    assert 0 < guessing.attempts[-1].retry_after <= 900
    assert repr(guessing).splitlines() == [
        "7 guesses at bob's password on the sign-in page:",
        "  guesses 1-5: 403 Wrong username or password.",
        "  guesses 6-7: 429 Too many failed sign-ins for this account. Try again in 15 minutes.",
        "the right password, guess 7, was refused too: the account stays locked until the window moves on"]
    # through the wiretap, from the attacker's own lane, every guess the sign-in form
    seq = lab.wiretap.sequence(first=guessing.first)
    assert seq.senders() == ["Attacker"] and {a.head.split(" · ")[1] for a in seq.arrows if not a.answer} == {
        "POST /authorize"}
    # Alice, whom the notebook's other cells sign in, is not locked out; the lab clock skips Bob's wait
    assert nb05.connect(lab, "photocli", ["profile:read"]).granted == ["profile:read"]
    with pytest.raises(apisec_lab.AuthorizationFailed):
        nb05.connect(lab, "chatpal", ["profile:read"], user="bob")
    lab.clock.advance(minutes=15)
    assert nb05.connect(lab, "chatpal", ["profile:read"], user="bob").granted == ["profile:read"]


def test_guessing_on_the_sign_in_page_can_be_run_again(lab):
    first = nb05.guess_on_sign_in_page(lab)
    again = nb05.guess_on_sign_in_page(lab)               # starts from a clear throttle
    assert repr(again) == repr(first) and again.first == first.first + len(first.attempts)


def test_a_guess_list_ending_with_the_right_password_before_the_limit_signs_in(lab):
    guessing = nb05.guess_on_sign_in_page(lab, "alice", ("wrong", apisec_lab.DEMO_PASSWORDS["alice"], "never-sent"))
    assert [a.status for a in guessing.attempts] == [403, 302] and guessing.found == 2
    assert repr(guessing).endswith("signed in on guess 2")
    assert lab.sign_in_throttle.frame()["who"].tolist() == ["127.0.0.1"]   # a success clears the account's count


def test_sign_in_limits_are_shown_whole(lab):
    table = nb05.sign_in_limits(lab)
    assert list(table.index) == ["per_account", "per_address"]
    assert "a success clears them" in repr(table)
