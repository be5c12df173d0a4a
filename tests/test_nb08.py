"""Notebook 08 helpers: the attacker's app and script, every attack through every door, the scorecard, the
exploit records, and the three exercises (the attack judged by the lab's records, the two fix-its by their corpora)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from apisec_lab.book import nb05, nb08
from apisec_lab.book.exercises import ____
from apisec_lab.servers.metadata import CREDENTIALS_PATH, ROLE

ROOT = Path(__file__).resolve().parent.parent


# -- the attacker -------------------------------------------------------------------------------------------
def test_own_app_is_an_ordinary_app_with_an_ordinary_token(lab):
    app = nb08.own_app(lab)
    assert app.granted == list(nb08.APP_SCOPES) and app.username == "alice"
    info = lab.introspect(app.access_token)
    assert info["active"] and info["username"] == "alice" and info["client_id"].startswith("alice-s-own-app-")
    assert lab.store.client(info["client_id"]).redirect_uris == (f"{lab.apps_url}/{info['client_id']}/callback",)


def test_token_for_reuses_the_app_until_its_token_dies(lab):
    first = nb08.token_for(lab)
    assert nb08.token_for(lab) == first
    lab.reset()
    assert nb08.token_for(lab) != first and lab.introspect(nb08.token_for(lab))["active"]


def test_the_caller_goes_through_the_gateway_and_the_wiretap(lab):
    alice = nb08.Caller(lab, nb08.token_for(lab))
    answer = alice.get("/me/account")
    assert answer.status == 200 and answer.json()["plan"] == "free"
    assert repr(answer).startswith("HTTP 200 OK\n{")
    assert lab.wiretap.last().server == "gateway" and lab.gateway.records[-1].path == "/me/account"
    assert "through the gateway" in repr(alice) and "scope profile:read profile:write" in repr(alice)
    direct = nb08.Caller(lab, nb08.token_for(lab), via="api")
    assert direct.get("/me").status == 200 and lab.wiretap.last().server == "api"
    with pytest.raises(ValueError, match="via"):
        nb08.Caller(lab, "x", via="door")


def test_a_long_answer_is_cut_short_in_its_repr(lab):
    with lab.weaknesses.turned_on(unlimited_page_size=True):
        answer = nb08.Caller(lab, nb08.token_for(lab)).get("/catalogue?limit=5000")
    text = repr(answer)
    assert len(text) < 1400 and re.search(r"\.\.\. \([\d,]+ more bytes\)$", text)


# -- every attack through every door: worked means the API's detector recorded it ---------------------------
#: Each attack and the switch whose detector records it.
SWITCH = {"mass_assignment": "mass_assignment", "data_exposure": "excessive_data_exposure", "staff_function": "bfla",
          "whole_catalogue": "unlimited_page_size", "coupon_farm": "unlimited_coupon", "webhook_ssrf": "ssrf",
          "partner_takeover": "trust_third_party"}


@pytest.mark.parametrize("name", list(SWITCH))
def test_each_attack_works_through_every_door_until_the_api_is_fixed(lab, name):
    attack = getattr(nb08, name)
    attempts = [attack(lab, door=door, fixed=fixed) for door, fixed in nb08.report.REPLAYS]
    # straight to the API, through the gateway, through the gateway with every check off: the flaw is used;
    # fixed, through the gateway: it is not. The API's own records say so, not the answers.
    assert [a.worked for a in attempts] == [True, True, True, False], [a.line() for a in attempts]
    assert all(e.startswith(SWITCH[name] + ": ") for a in attempts for e in a.events)
    fixed = attempts[-1]
    assert fixed.exploited == 0 and fixed.events == []
    assert fixed.stopped_by.startswith("the API") or name in ("data_exposure", "webhook_ssrf")   # 200s that say no
    assert lab.store.user("alice")["plan"] == "free" and lab.store.user("alice")["print_credits"] == 0
    assert lab.partner.hijacked == "" and lab.errors == []


def test_a_replay_counts_only_the_records_it_caused(lab):
    nb08.mass_assignment(lab, door="api")
    again = nb08.mass_assignment(lab, door="api")
    assert again.exploited == 1 and len(lab.exploits()) == 2


def test_the_coupon_script_meets_the_gateways_rate_limit_not_the_rule(lab):
    through = nb08.coupon_farm(lab, door="gateway")
    assert through.statuses.count(200) == 30 and through.statuses.count(429) == 10 and through.exploited == 29
    assert nb08.coupon_farm(lab, door="gateway-off").exploited == 39
    fixed = nb08.coupon_farm(lab, door="gateway", fixed=True)
    assert fixed.statuses[:2] == [200, 409] and fixed.stopped_by == "the API (409 already_redeemed)"


def test_the_attempts_say_what_the_attacker_got(lab):
    assert nb08.mass_assignment(lab).got == "plan pro, 500 print credits"
    assert nb08.data_exposure(lab).got == "bob's email, role, plan, print_credits (bob@example.org)"
    assert nb08.whole_catalogue(lab).got == "14,400 products, 2.6 MB in one answer"
    assert nb08.webhook_ssrf(lab).got == f"the metadata service's answer: the role {ROLE!r}"
    assert nb08.partner_takeover(lab).got == "alice's card (holder, last 4 digits, expiry) on the attacker's server"
    assert nb08.staff_function(lab, fixed=True).got == "refused (403 insufficient_scope)"
    assert "EXPLOITED (1 detector record)" in nb08.staff_function(lab).line()


def test_an_unknown_door_is_refused(lab):
    with pytest.raises(ValueError, match="door"):
        nb08.mass_assignment(lab, door="window")


def test_doors_and_scorecard_tables(lab):
    table = nb08.doors(lab, nb08.webhook_ssrf)
    assert list(table.index) == ["straight to the API", "through the gateway", "through the gateway, every check off",
                                 "through the gateway"]
    assert list(table["exploited (the API's records)"]) == ["yes, 1 record"] * 3 + ["no"]
    html = table._repr_html_()
    assert html.count("<tr class='apisec-bad'") == 3 and html.count("<tr class='apisec-ok'") == 1
    card = nb08.scorecard(lab)
    assert list(card["OWASP"]) == ["API3:2023", "API3:2023", "API5:2023", "API4:2023", "API6:2023", "API7:2023",
                                   "API10:2023"]
    assert set(card["gateway, policy on"]) == {"EXPLOITED"} and "EXPLOITED" not in set(card["fixed in the API"])
    assert card.frame.loc["the free-print coupon, 40 times", "fixed in the API"] == \
        "refused by the API (409 already_redeemed)"


def test_exploits_table_shows_the_records_and_who_was_anonymous(lab):
    nb08.whole_catalogue(lab, door="api")
    nb08.mass_assignment(lab, door="api")
    table = nb08.exploits(lab)
    assert list(table["weakness"]) == ["unlimited_page_size", "mass_assignment"]
    assert table["user"].iloc[0] == "(anonymous)" and table["user"].iloc[1] == "alice"
    assert list(nb08.exploits(lab, "mass_assignment")["weakness"]) == ["mass_assignment"]


# -- the fix-its' corpora -------------------------------------------------------------------------------------
def deny_role(body):
    return {k: v for k, v in body.items() if k != "role"}


def refuse_all(body):
    raise ValueError("no")


@pytest.mark.parametrize("fn, says", [
    (lambda body: body, "attack 'upgrade the plan' {'display_name': 'Alice', 'plan': 'pro'}: your function returned"),
    (deny_role, "so plan would be written to alice's account"),
    (lambda body: {k: v for k, v in body.items() if k not in ("role", "plan", "print_credits")}, "'take bob's name'"),
    (lambda body: {k: v for k, v in body.items() if k in ("display_name", "email", "username")}, "username would be"),
    (lambda body: {k: str(v).upper() for k, v in body.items() if k in ("display_name", "email")}, "changed the values"),
    (lambda body: {}, "functional case 'change the name'"),
    (refuse_all, "raised ValueError: no; an honest profile update must go through"),
    (lambda body: None, "return a dict of the changes"),
    (lambda body: body["x"], "raised KeyError"),
    ("profile_changes", "answer with your function itself"),
])
def test_the_binder_judge_names_the_case_that_failed(fn, says):
    problem = nb08.judge_binder(fn)
    assert problem is not None and says in problem, problem


def test_the_binder_judge_accepts_an_allow_list_and_a_refusal_of_attacks():
    assert nb08.judge_binder(nb08.q2.reference_answer()) is None

    def strict(body):
        if set(body) - {"display_name", "email"}:
            raise ValueError("unknown fields")
        return dict(body)
    assert nb08.judge_binder(strict) is None


def startswith_outside(lab):
    return lambda url: url.startswith(lab.attacker.url)


def deny_metadata_port(lab):
    return lambda url: urlsplit(url).port != lab._metadata.port


def deny_metadata_spelling(lab):
    return lambda url: f"127.0.0.1:{lab._metadata.port}" not in url


@pytest.mark.parametrize("make, says", [
    (lambda lab: lambda url: True, "attack 'the metadata service' (http://127.0.0.1:"),
    (deny_metadata_spelling, "attack 'the metadata service, as localhost'"),
    (startswith_outside, "attack 'user info that looks like the outside web'"),
    (deny_metadata_port, "attack 'the API itself, around the gateway'"),
    (lambda lab: lambda url: urlsplit(url).port in (None, *lab.network.ports("public")),     # file: has no port
     "attack 'a file on the API's machine' (file:///etc/passwd): your function allowed it, and only the lab's own fuse"),
    (lambda lab: lambda url: False, "functional case 'a webhook on the outside web'"),
    (lambda lab: lambda url: urlsplit(url).port == int(lab.attacker.url.rsplit(":", 1)[1]),
     "functional case 'the print partner's status page'"),
    (lambda lab: lambda url: 1 / 0, "raised ZeroDivisionError: division by zero"),
    (lambda lab: lab.network.is_public, "that is the lab's own policy"),
    (lambda lab: "webhook_allowed", "answer with your function itself"),
])
def test_the_url_judge_runs_the_real_fetcher_and_names_the_case_that_failed(lab, make, says):
    problem = nb08.judge_url_check(make(lab), lab)
    assert problem is not None and says in problem, problem


def test_the_url_judge_accepts_the_allow_list_and_reached_nothing_inside(lab):
    assert nb08.judge_url_check(nb08.q3.reference_answer(), lab) is None
    assert lab.metadata_service.records == [] and lab.exploits().empty
    assert {x.server for x in lab.wiretap.records} <= {"attacker", "partner", "gateway"}


def test_the_url_judge_follows_redirects_for_the_functional_case(lab):
    asked = []

    def spy(url):
        asked.append(url)
        return nb08.q3.reference_answer()(url)
    assert nb08.judge_url_check(spy, lab) is None
    assert lab.attacker.url + "/q3/hooks/new" in asked, "the redirect's target was asked about too"


def test_the_attack_corpus_covers_what_the_notebook_promises(lab):
    names = [c.name for c in nb08.url_attacks(lab)]
    assert len(names) == 10 and sum("metadata service" in n for n in names) == 6
    assert len(nb08.url_functional(lab)) == 6
    assert len(nb08.BINDER_ATTACKS) == 6 and len(nb08.BINDER_FUNCTIONAL) == 4


# -- q1: the key, through the API, since the pose ----------------------------------------------------------------
def steal(lab, path: str = CREDENTIALS_PATH) -> dict:
    with lab.weaknesses.turned_on(ssrf=True):
        answer = nb08.Caller(lab, nb08.token_for(lab)).post("/webhooks/test", json={"url": nb08.metadata_url(lab, path)})
    return answer.json()


def test_q1_needs_the_api_to_have_fetched_the_key_after_the_pose(lab):
    meta = lab.metadata_service
    assert "lucky answer" in nb08.q1.evaluate(meta.secret_access_key).message      # read from Python, never fetched
    keys = json.loads(steal(lab)["body"])                                            # fetched, but before the pose
    assert not nb08.q1.evaluate(____)                                                # posed now
    assert "since this exercise was posed" in nb08.q1.evaluate(keys["SecretAccessKey"]).message
    assert "name of the role" in nb08.q1.evaluate(ROLE).message
    assert "public half" in nb08.q1.evaluate(keys["AccessKeyId"]).message
    assert "session Token" in nb08.q1.evaluate(keys["Token"]).message
    assert "a string" in nb08.q1.evaluate(42).message
    steal(lab, "/latest/meta-data/iam/security-credentials/")                       # the listing is not the keys
    assert not nb08.q1.evaluate(keys["SecretAccessKey"])
    keys = json.loads(steal(lab)["body"])
    assert nb08.q1.evaluate(" " + keys["SecretAccessKey"] + "\n")


def test_q1_solution_cell_works_as_written(lab):
    assert not nb08.q1.evaluate(____)
    namespace = {"lab": lab, "nb08": nb08, "alice": nb08.Caller(lab, nb08.token_for(lab))}
    exec(nb08.q1.solution_text, namespace)
    assert nb08.q1.evaluate(namespace["answer"])


@pytest.mark.parametrize("q", ["q2", "q3"])
def test_the_fix_it_solution_cells_work_as_written(lab, q):
    exercise = getattr(nb08, q)
    namespace = {"lab": lab}
    exec(exercise.solution_text, namespace)
    assert exercise.evaluate(namespace["answer"]), exercise.evaluate(namespace["answer"]).message


def test_the_notebooks_starting_functions_fail_their_checks(lab):
    """What the Try it cells start from (the weakened binding, a one-address deny-list) is not a fix."""
    assert "plan would be written" in nb08.q2.evaluate(lambda body: body).message
    assert "the metadata service" in nb08.q3.evaluate(lambda url: "169.254.169.254" not in url).message


# -- notebook 05's OWASP table links to where the workbook shows each item --------------------------------------
def headings(path: Path) -> set[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return {line.lstrip("#").strip().replace(" ", "-") for c in cells if c["cell_type"] == "markdown"
            for line in "".join(c["source"]).splitlines() if line.startswith("#")}


def test_notebook_05s_owasp_table_links_every_item_to_a_real_section():
    table = nb05.owasp_top10()
    html = table._repr_html_()
    assert list(table.index) == [f"API{i}:2023" for i in range(1, 11)]
    links = re.findall(r'<a href="([^"]+)">', html)
    assert len(links) == sum(len(v) for v in nb05.owasp.SHOWN.values()) and all(nb05.owasp.SHOWN.values())
    for target in links:
        name, _, fragment = target.partition("#")
        path = ROOT / "notebooks" / name
        assert path.exists(), target
        assert not fragment or fragment.startswith("heading=") and fragment[8:] in headings(path), target
    assert table.frame.loc["API7:2023", "where the workbook shows it"] == "08 §7"
