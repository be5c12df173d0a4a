"""Sign-in throttling on the authorization server's page (OWASP API2:2023, broken authentication).

Failed passwords are counted per account and per address on the lab clock; at
the limit every attempt, the right password included, gets HTTP 429 with
Retry-After until the window moves on.
"""
import re

import pytest

import apisec_lab
from apisec_lab.core.clock import LabClock
from apisec_lab.core.limits import Limit
from apisec_lab.oauth.throttle import SignInThrottle

from .test_oauth import auth_url, pkce_pair

ALICE = apisec_lab.DEMO_PASSWORDS["alice"]
BOB = apisec_lab.DEMO_PASSWORDS["bob"]


def sign_in(http, lab, username, password):
    """POST the real sign-in form; return the response (302 in, 403 wrong, 429 throttled)."""
    _, challenge = pkce_pair()
    return http.post(auth_url(lab, challenge=challenge), allow_redirects=False,
                     data={"username": username, "password": password, "scope": "photos:read", "decision": "approve"})


def test_owasp_api2_2023_thirty_wrong_passwords_then_the_right_one_does_not_get_in(http, lab):
    answers = [sign_in(http, lab, "alice", f"guess-{i}").status_code for i in range(30)]
    assert answers == [403] * 5 + [429] * 25
    r = sign_in(http, lab, "alice", ALICE)
    assert r.status_code == 429 and "Location" not in r.headers
    retry = int(r.headers["Retry-After"])
    assert 0 < retry <= 15 * 60
    assert r.headers["Content-Type"].startswith("text/html") and "type=password" in r.text
    assert "Too many failed sign-ins for this account" in r.text and "15 minutes" in r.text
    # the lab clock ends the wait: no sleeping in a notebook
    lab.clock.advance(seconds=retry)
    assert sign_in(http, lab, "alice", ALICE).status_code == 302


def test_owasp_api2_2023_retry_after_counts_down_on_the_lab_clock(http, lab):
    for i in range(5):
        sign_in(http, lab, "alice", f"guess-{i}")
    first = int(sign_in(http, lab, "alice", "x").headers["Retry-After"])
    lab.clock.advance(minutes=10)
    later = sign_in(http, lab, "alice", ALICE)
    assert later.status_code == 429 and first - 600 - 5 <= int(later.headers["Retry-After"]) <= first - 600
    assert "Try again in 5 minutes" in later.text


def test_owasp_api2_2023_per_address_limit_stops_guessing_across_accounts(http, lab):
    # 4 wrong passwords for each of five accounts (under the per-account limit), all from one address
    for name in ("alice", "bob", "carol", "dave", "erin"):
        for i in range(4):
            assert sign_in(http, lab, name, f"guess-{i}").status_code == 403
    r = sign_in(http, lab, "bob", BOB)
    assert r.status_code == 429 and "from your address" in r.text
    # a success never clears the address's count (or a guesser could reset it with an account of its own)
    lab.clock.advance(minutes=15)
    assert sign_in(http, lab, "bob", BOB).status_code == 302


def test_owasp_api2_2023_unknown_accounts_are_throttled_alike(http, lab):
    answers = [sign_in(http, lab, "mallory", "x").status_code for _ in range(6)]
    assert answers == [403] * 5 + [429]


def test_a_success_clears_the_accounts_count_and_a_typo_or_two_behave_as_before(http, lab):
    for _ in range(2):
        r = sign_in(http, lab, "alice", "typo")
        assert r.status_code == 403 and "Wrong username or password" in r.text
    assert sign_in(http, lab, "alice", ALICE).status_code == 302
    assert [sign_in(http, lab, "alice", "typo").status_code for _ in range(4)] == [403] * 4
    assert sign_in(http, lab, "alice", ALICE).status_code == 302


def test_lab_reset_clears_the_throttle(http, lab):
    for i in range(5):
        sign_in(http, lab, "alice", f"guess-{i}")
    assert sign_in(http, lab, "alice", ALICE).status_code == 429
    lab.reset()
    assert lab.sign_in_throttle.frame().empty
    assert sign_in(http, lab, "alice", ALICE).status_code == 302


def test_the_throttle_is_inspectable_by_plain_functions(http, lab):
    table = lab.sign_in_throttle.table()
    assert list(table.index) == ["per_account", "per_address"]
    assert table.loc["per_account", "value"] == "5 per 900 s"
    assert lab.sign_in_throttle.frame().empty
    for i in range(5):
        sign_in(http, lab, "alice", f"guess-{i}")
    frame = lab.sign_in_throttle.frame().set_index(["kind", "who"])
    alice = frame.loc[("account", "alice")]
    assert alice["failures"] == 5 and bool(alice["blocked"]) and 0 < alice["retry_after"] <= 900
    address = frame.loc[("address", "127.0.0.1")]
    assert address["failures"] == 5 and not address["blocked"]
    assert lab.sign_in_throttle.retry_after("alice", "127.0.0.1") == alice["retry_after"]
    assert lab.sign_in_throttle.retry_after("bob", "127.0.0.1") == 0


def test_the_limits_can_be_changed_for_a_block(http, lab):
    with lab.sign_in_throttle.changed(per_account=Limit(2, 60)):
        assert [sign_in(http, lab, "alice", "x").status_code for _ in range(3)] == [403, 403, 429]
        assert re.search(r"Try again in (59|60) seconds\.", sign_in(http, lab, "alice", ALICE).text)
    assert lab.sign_in_throttle.limits.per_account == Limit(5, 900)
    with pytest.raises(AttributeError, match="per_account"):
        with lab.sign_in_throttle.changed(per_acount=Limit(1, 1)):
            pass


def test_the_sliding_window_frees_one_attempt_at_a_time():
    clock = LabClock()
    throttle = SignInThrottle(clock)
    for _ in range(5):
        throttle.failed("alice", "10.0.0.1")
        clock.advance(60)
    # failures at t=0, 60, ..., 240; now t=300: the first leaves the window at t=900
    assert throttle.retry_after("alice", "10.0.0.2") == 600
    clock.advance(600)
    assert throttle.retry_after("alice", "10.0.0.2") == 0
    throttle.failed("alice", "10.0.0.2")
    assert throttle.retry_after("alice", "10.0.0.3") == 60
    # per account: another address does not help; per address: another account does not help
    for i in range(20):
        throttle.failed(f"user{i}", "10.0.0.9")
    assert throttle.check("bob", "10.0.0.9").kind == "address"
    assert throttle.retry_after("bob", "10.0.0.8") == 0
