"""Notebook 06's helpers, panel and exercises: each lab solved by its reference exploit and judged by the records,
refused with its switch off, near misses explained; the fix-it's corpora; the map; the switches left off."""
from __future__ import annotations

import pytest

from apisec_lab.book import nb06
from apisec_lab.book.exercises import ____
from apisec_lab.book.nb06 import fixit

LAB_EXERCISES = [nb06.q1, nb06.q2, nb06.q3, nb06.q4, nb06.q5]


@pytest.mark.parametrize("number, exercise", list(enumerate(LAB_EXERCISES, 1)), ids=[f"q{i}" for i in range(1, 6)])
def test_each_lab_is_solved_by_its_reference_exploit_and_refused_with_its_switch_off(lab, number, exercise):
    verdict = exercise.evaluate(exercise.reference_answer())
    assert verdict, verdict.message
    result = nb06.last_attempt(lab, number)
    assert result.solved and result.hops_on and result.hops_off and result.hardened
    assert "With the switch off" in verdict.message
    assert lab.weaknesses.enabled() == [], "a lab's switches are on only for its check"
    assert lab.errors == []


def test_lab_1_the_leak_is_judged_by_the_store_and_the_attackers_log(lab):
    nb06.q1.evaluate(nb06.q1.reference_answer())
    result = nb06.last_attempt(lab, 1)
    leaked = [h for h in lab.attacker.records if "code" in h.referer_query]
    assert leaked and lab.store.code(leaked[0].referer_query["code"])["username"] == "alice"
    assert "0 codes reached your server" in result.hardened


def test_lab_2_mallory_ends_in_alices_account_and_the_hardened_lab_lets_no_code_out(lab):
    nb06.q2.evaluate(nb06.q2.reference_answer())
    session = lab.photoprint.session_for(nb06.mallory(lab).cookies(lab.web_url)["photoprint_session"])
    assert session.account == "alice"
    result = nb06.last_attempt(lab, 2)
    assert "Mismatching redirect URI" in result.hardened and "no code left" in result.hardened


def test_lab_3_refused_by_either_fix_alone(lab):
    nb06.q3.evaluate(nb06.q3.reference_answer())
    hardened = nb06.last_attempt(lab, 3).hardened
    assert "with open_redirect off alone" in hardened and "PhotoPrint's own pages" in hardened
    assert "With both off" in hardened and "Mismatching redirect URI" in hardened


def test_lab_4_links_mallory_and_is_refused_by_state_and_by_pkce(lab):
    nb06.q4.evaluate(nb06.q4.reference_answer())
    assert lab.photoprint.account("alice").lab_users == ["alice", "mallory"]
    hardened = nb06.last_attempt(lab, 4).hardened
    assert "10.12" in hardened and "Code challenge required" in hardened


def test_lab_5_redeems_with_the_plain_challenge_and_s256_redeems_nothing(lab):
    nb06.q5.evaluate(nb06.q5.reference_answer())
    assert "400 invalid_grant" in nb06.last_attempt(lab, 5).hardened
    assert nb06.photosync(lab).method() == "S256"


def test_a_demonstration_above_cannot_solve_a_lab(lab):
    """The section's leak (Mallory's own account, switch on) is in the log, but the check judges only what its own
    delivery of the learner's exploit produced."""
    with lab.weaknesses.turned_on(referrer_leak=True):
        nb06.mallory_signs_in(lab)
    assert any("code" in h.referer_query for h in lab.attacker.records)
    verdict = nb06.q1.evaluate(lab.web_url + "/prints")
    assert not verdict and "no code of Alice's" in verdict.message


@pytest.mark.parametrize("exercise", [*LAB_EXERCISES, nb06.q6], ids=[f"q{i}" for i in range(1, 7)])
def test_odd_answers_get_a_sentence_not_a_traceback(lab, exercise):
    for odd in (None, 42, "not a url", {"code": 1}, ["http://x"]):
        verdict = exercise.evaluate(odd)
        assert not verdict and verdict.message
    assert lab.errors == []


def test_mallorys_code_says_why_when_the_lab_refuses(lab, capsys):
    assert nb06.mallorys_code(lab, ____) is None and "Not yet" in capsys.readouterr().out
    broken = nb06.swap(nb06.mallory_sign_in(lab), redirect_uri="http://127.0.0.1:9/elsewhere")
    assert nb06.mallorys_code(lab, broken) is None
    assert "Mismatching redirect URI" in capsys.readouterr().out
    code = nb06.mallorys_code(lab, nb06.link_request(lab))
    assert lab.store.code(code)["username"] == "mallory" and lab.store.code(code)["code_challenge"] is None


def test_wire_draws_the_attack_the_stolen_code_crossing_to_the_attacker_then_the_replay(lab):
    assert "No solved attempt" in str(nb06.wire(lab, 2))
    nb06.q2.evaluate(nb06.q2.reference_answer())
    on, off = str(nb06.wire(lab, 2)), str(nb06.wire(lab, 2, "off"))
    assert "Alice's browser -> Attacker's server" in on and "carries code (in the Referer)" in on
    assert "Mallory's browser -> PhotoPrint website" in on and "GET /callback" in on
    assert "400 Bad Request" in off and "Attacker's server" not in off
    bundle = nb06.wire(lab, 2)._repr_mimebundle_()
    assert "text/vnd.mermaid" in bundle and "127.0.0.1" not in bundle["text/plain"]


def test_the_map_names_every_switch_its_rfc_section_and_defence():
    table = nb06.map_table().frame
    switches = {s for cell in table["switch"] for s in cell.split(", ")}
    assert switches == {"referrer_leak", "redirect_uri_prefix", "open_redirect", "client_skips_state",
                        "pkce_optional", "pkce_plain"}
    assert all("RFC" in v for v in table["violates"]) and all(table["defence"])


def test_the_fix_it_corpora_judge_the_reference_and_name_the_first_failure(lab):
    attacks, functional = fixit.corpora(lab)
    assert len(attacks) >= 10 and all(not c.allowed for c in attacks) and all(c.allowed for c in functional)
    problem, refused, passed = fixit.judge(lab, lambda registered, candidate: candidate in registered)
    assert problem is None and refused == len(attacks) and passed == len(functional)
    problem, *_ = fixit.judge(lab, lambda registered, candidate: any(candidate.startswith(r) for r in registered))
    assert "a path under the callback" in problem
    table = nb06.corpus_table(lab, lambda r, c: isinstance(c, str) and c in r)
    assert set(table.frame["yours"]) <= {"allowed", "refused"} and "apisec-bad" not in table._repr_html_()


def test_the_fix_it_placeholder_in_the_function_is_named(lab):
    def matches(registered, candidate):
        return ____
    verdict = nb06.q6.evaluate(matches)
    assert not verdict and "____" in verdict.message


def test_photosync_picks_plain_when_offered_and_shows_its_request_to_ps(lab):
    sync = nb06.photosync(lab)
    assert sync.method() == "S256"
    with lab.weaknesses.turned_on(pkce_plain=True):
        assert sync.method() == "plain"
    nb06.alice_runs_photosync(lab)
    command = nb06.ps(lab, sync).frame["command"].iloc[-1]
    assert command.startswith("xdg-open ") and "code_challenge_method=plain" in command
    assert lab.attacker.last().path == "/photosync/callback" and "code" in lab.attacker.last().query
    assert sync.pending["code_challenge"] == sync.pending["code_verifier"]


def test_section_tables_name_servers_and_mark_what_leaks(lab):
    html = nb06.referrer_table(lab)._repr_html_()
    assert "apisec-bad" in html and "[photoprint]/callback?code=" in html
    matcher = nb06.matcher_table(lab).frame
    assert matcher.loc["[photoprint]/callback/../prints", "prefix match"]
    assert not matcher.loc["[photoprint]/callback/../prints", "exact match"]
    plain = nb06.pkce_table().frame.loc["plain"]
    assert plain.iloc[0] == plain.iloc[1]


def test_exchange_text_never_shows_a_cookie_value(lab):
    alice = lab.victim
    alice.visit(lab.web_url + "/login")
    silent = next(x for x in reversed(lab.wiretap.records) if x.path.startswith("/authorize"))
    text = nb06.exchange_text(lab, silent)
    assert "lab_sign_in=si_…" in text and "302" in text
    assert not any(v in text for v in alice.cookies(lab.issuer).values())


# -- the panel, driven in-kernel ---------------------------------------------------------------------------
def test_the_exploit_server_panel_stores_delivers_and_logs(lab):
    panel = nb06.ExploitServer(lab)
    panel.path.value = "/offer"
    panel.body.value = f"<meta http-equiv=refresh content='0;url={lab.web_url}/login'>"
    panel.lab_choice.value = 1
    panel.deliver_button.click()
    assert "Lab 1 solved" in panel.status.value and "apisec-ok" in panel.status.value
    assert "/partner/pixel.gif" in panel.log_view.value and "apisec-bad" in panel.log_view.value
    assert lab.weaknesses.enabled() == []


def test_the_panel_says_why_a_delivery_failed_and_refuses_a_bad_path(lab):
    panel = nb06.ExploitServer(lab)
    panel.path.value = "no-slash"
    panel.store_button.click()
    assert "apisec-error" in panel.status.value
    panel.path.value = "/nothing"
    panel.body.value = "<p>nothing to see</p>"
    panel.lab_choice.value = 2
    assert panel.deliver() is not None and "not solved" in panel.status.value
    assert repr(panel) == "<ExploitServer: exploit server>"
