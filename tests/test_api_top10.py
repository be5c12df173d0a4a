"""The rest of the OWASP API Security Top 10 (2023) in the resource API: each flaw refused by the hardened
default, really usable with its switch on, and recorded by its detector (an ``exploited`` event) only then.

One section per item: API3 (mass assignment, excessive data exposure), API4, API5, API6, API7, API10.
Each flaw is tried straight at the API and through the gateway (which cannot tell these requests from
honest ones), and each weakened route still answers hostile input with a 4xx, never a 5xx.
"""
from __future__ import annotations

import json
import threading

import pytest

import apisec_lab
from apisec_lab.core.weaknesses import Weaknesses
from apisec_lab.servers.catalogue import products
from apisec_lab.servers.endpoints import MAX_PAGE
from apisec_lab.servers.metadata import CREDENTIALS_PATH

from .conftest import bearer, code_flow

SWITCHES = ("mass_assignment", "excessive_data_exposure", "bfla", "unlimited_page_size", "unlimited_coupon", "ssrf",
            "trust_third_party")
SCOPES = ["profile:read", "profile:write", "prints:write", "photos:read"]
VIA = ["api", "gateway"]


@pytest.fixture
def token(lab) -> str:
    """Alice's access token from an app of her own (registered in the developer portal) with notebook 08's scopes."""
    app = lab.register_client("Alice's own app", redirect_uris=[f"{lab.apps_url}/{{client_id}}/callback"],
                              scopes=SCOPES)
    return code_flow(lab, app.client_id, SCOPES)["access_token"]


def base(lab, via: str) -> str:
    return lab.api_url if via == "api" else lab.gateway_url


def exploited(lab) -> list[str]:
    return list(lab.exploits()["weakness"])


@pytest.mark.parametrize("name", SWITCHES)
def test_each_switch_is_off_by_default_and_names_its_owasp_item(name):
    assert getattr(Weaknesses(), name) is False
    doc = Weaknesses.__dataclass_fields__[name].metadata["doc"]
    assert "OWASP API" in doc and ":2023" in doc


# -- API3:2023 broken object property level authorization: mass assignment ------------------------------
@pytest.mark.parametrize("via", VIA)
def test_owasp_api3_hardened_profile_update_refuses_fields_a_user_must_not_set(http, lab, token, via):
    for body in ({"plan": "pro"}, {"display_name": "Al", "role": "staff"}, {"print_credits": 99}, {"username": "bob"}):
        r = http.patch(base(lab, via) + "/me", json=body, headers=bearer(token))
        assert r.status_code == 400 and "Unknown fields" in r.json()["error_description"], body
    r = http.patch(base(lab, via) + "/me", json={"display_name": "Alice L.", "email": "al@example.org"},
                   headers=bearer(token))
    assert r.status_code == 200 and r.json() == {"username": "alice", "display_name": "Alice L.",
                                                 "email": "al@example.org"}
    assert http.get(base(lab, via) + "/me/account", headers=bearer(token)).json() == {
        "username": "alice", "role": "user", "plan": "free", "print_credits": 0}
    assert exploited(lab) == []


@pytest.mark.parametrize("via", VIA)
def test_owasp_api3_mass_assignment_sets_the_plan_and_is_recorded(http, lab, token, via):
    with lab.weaknesses.turned_on(mass_assignment=True):
        r = http.patch(base(lab, via) + "/me", json={"display_name": "Alice", "plan": "pro", "print_credits": 500,
                                                     "is_admin": True}, headers=bearer(token))     # unknown: ignored
    assert r.status_code == 200
    assert http.get(base(lab, via) + "/me/account", headers=bearer(token)).json()["plan"] == "pro"
    events = lab.exploits()
    assert list(events["weakness"]) == ["mass_assignment"] and list(events["user"]) == ["alice"]
    assert events["what happened"].iloc[0] == "alice set plan='pro', print_credits=500 through PATCH /me"
    assert events["client"].iloc[0].startswith("alice-s-own-app")


def test_owasp_api3_mass_assignment_of_allowed_fields_only_is_no_exploit(http, lab, token):
    with lab.weaknesses.turned_on(mass_assignment=True):
        assert http.patch(lab.api_url + "/me", json={"email": "a@b.c"}, headers=bearer(token)).status_code == 200
    assert exploited(lab) == []


@pytest.mark.parametrize("body", [{"role": "admin"}, {"plan": "platinum"}, {"print_credits": -1},
                                  {"print_credits": "lots"}, {"print_credits": True}, {"print_credits": 10**7},
                                  {"display_name": ""}, {"email": ["a"]}, {"role": None}, [1], "x", 5])
def test_owasp_api3_even_the_weakened_binding_refuses_what_the_columns_cannot_hold(http, lab, token, body):
    with lab.weaknesses.turned_on(mass_assignment=True):
        r = http.patch(lab.api_url + "/me", json=body, headers=bearer(token))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", (body, r.text)
    assert exploited(lab) == [] and lab.errors == []


# -- API3:2023 broken object property level authorization: excessive data exposure -------------------------
@pytest.mark.parametrize("via", VIA)
def test_owasp_api3_hardened_people_directory_sends_names_only(http, lab, token, via):
    r = http.get(base(lab, via) + "/people", headers=bearer(token))
    assert r.json() == [{"username": "alice", "display_name": "Alice Liddell"},
                        {"username": "bob", "display_name": "Bob Builder"}]
    assert exploited(lab) == []


@pytest.mark.parametrize("via", VIA)
def test_owasp_api3_excessive_data_exposure_sends_whole_records_and_is_recorded(http, lab, token, via):
    with lab.weaknesses.turned_on(excessive_data_exposure=True):
        r = http.get(base(lab, via) + "/people", headers=bearer(token))
    bob = next(p for p in r.json() if p["username"] == "bob")
    assert bob == {"username": "bob", "display_name": "Bob Builder", "email": "bob@example.org", "role": "user",
                   "plan": "free", "print_credits": 0}
    assert "password_hash" not in r.text
    assert exploited(lab) == ["excessive_data_exposure"]
    assert "email, role, plan, print_credits of bob sent to alice's app" in lab.exploits()["what happened"].iloc[0]


# -- API5:2023 broken function level authorization ------------------------------------------------------
def staff_token(lab) -> str:
    lab.add_user("sam", "sam-pass-1234")
    lab.store.update_account("sam", {"role": "staff"})
    creds = lab.register_client("Support console", redirect_uris=[f"{lab.apps_url}/{{client_id}}/callback"],
                                scopes=["prints:write"])
    return code_flow(lab, creds.client_id, ["prints:write"], user="sam", password="sam-pass-1234")["access_token"]


@pytest.mark.parametrize("via", VIA)
def test_owasp_api5_hardened_staff_function_refuses_an_ordinary_users_token(http, lab, token, via):
    r = http.post(base(lab, via) + "/support/credits", json={"username": "alice", "credits": 50}, headers=bearer(token))
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="apisec-lab", error="insufficient_scope"')
    assert "staff only" in r.json()["error_description"]
    assert lab.store.user("alice")["print_credits"] == 0 and exploited(lab) == []
    r = http.post(base(lab, via) + "/support/credits", json={"username": "alice", "credits": 50},
                  headers=bearer(staff_token(lab)))
    assert r.status_code == 200 and r.json()["print_credits"] == 50, "staff can"


def test_owasp_api5_a_password_is_not_a_role_either(http, lab):
    with lab.weaknesses.turned_on(basic_auth=True):
        r = http.post(lab.api_url + "/support/credits", json={"username": "alice", "credits": 5},
                      auth=("alice", apisec_lab.DEMO_PASSWORDS["alice"]))
    assert r.status_code == 403


@pytest.mark.parametrize("via", VIA)
def test_owasp_api5_bfla_lets_an_ordinary_user_call_the_staff_function_and_is_recorded(http, lab, token, via):
    with lab.weaknesses.turned_on(bfla=True):
        r = http.post(base(lab, via) + "/support/credits", json={"username": "alice", "credits": 50},
                      headers=bearer(token))
    assert r.status_code == 200 and r.json()["print_credits"] == 50
    assert exploited(lab) == ["bfla"]
    assert lab.exploits()["what happened"].iloc[0] == ("alice (role user) called POST /support/credits, "
                                                       "a staff function")


def test_owasp_api5_the_gateway_stops_it_once_the_function_has_a_scope_of_its_own(http, lab, token):
    route = lab.gateway.policy.route("POST /support/credits")
    route.scope = "admin"
    with lab.weaknesses.turned_on(bfla=True):
        r = http.post(lab.gateway_url + "/support/credits", json={"username": "alice", "credits": 50},
                      headers=bearer(token))
    assert r.status_code == 403 and lab.gateway.records[-1].reason == "insufficient_scope"
    assert exploited(lab) == []


def test_owasp_api3_then_api5_mass_assignment_makes_alice_staff(http, lab, token):
    """The two flaws chain: with only mass_assignment on, alice makes herself staff; the role check then passes."""
    with lab.weaknesses.turned_on(mass_assignment=True):
        http.patch(lab.api_url + "/me", json={"role": "staff"}, headers=bearer(token))
    r = http.post(lab.api_url + "/support/credits", json={"username": "alice", "credits": 7}, headers=bearer(token))
    assert r.status_code == 200 and exploited(lab) == ["mass_assignment"]


# -- API4:2023 unrestricted resource consumption ----------------------------------------------------------
@pytest.mark.parametrize("via", VIA)
def test_owasp_api4_hardened_catalogue_pages_are_at_most_100(http, lab, via):
    r = http.get(base(lab, via) + "/catalogue")
    assert r.status_code == 200 and len(r.json()["items"]) == 20 and r.json()["total"] == len(products()) == 14400
    assert len(http.get(base(lab, via) + "/catalogue?limit=100&offset=14350").json()["items"]) == 50
    r = http.get(base(lab, via) + f"/catalogue?limit={MAX_PAGE + 1}")
    assert r.status_code == 400 and r.json()["error_description"] == f"limit must be 1 to {MAX_PAGE}." == \
        "limit must be 1 to 100."
    assert exploited(lab) == []


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=abc", "limit=1.5", "limit=1&limit=2",
                                   "limit=" + "9" * 19, "limit=" + "9" * 5000, "offset=-1", "offset=99999999999",
                                   "limit=%00", "limit= 5"])
@pytest.mark.parametrize("unlimited", [False, True])
def test_owasp_api4_bad_page_parameters_are_400_with_or_without_the_weakness(http, lab, query, unlimited):
    with lab.weaknesses.turned_on(unlimited_page_size=unlimited):
        r = http.get(lab.api_url + "/catalogue?" + query)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", query


@pytest.mark.parametrize("via", VIA)
def test_owasp_api4_an_unlimited_page_serves_the_whole_catalogue_and_is_recorded(http, lab, via):
    with lab.weaknesses.turned_on(unlimited_page_size=True):
        small = http.get(base(lab, via) + "/catalogue?limit=20")
        big = http.get(base(lab, via) + "/catalogue?limit=1000000")
    assert len(big.json()["items"]) == 14400 and len(big.content) > 600 * len(small.content)
    assert exploited(lab) == ["unlimited_page_size"]
    assert "one request took 14,400 products" in lab.exploits()["what happened"].iloc[0]


# -- API6:2023 unrestricted access to sensitive business flows -------------------------------------------
@pytest.mark.parametrize("via", VIA)
def test_owasp_api6_hardened_coupon_is_good_once_per_account(http, lab, token, via):
    r = http.post(base(lab, via) + "/coupons/redeem", json={"code": "FREEPRINT"}, headers=bearer(token))
    assert r.status_code == 200 and r.json() == {"code": "FREEPRINT", "credits_added": 1, "print_credits": 1}
    r = http.post(base(lab, via) + "/coupons/redeem", json={"code": "FREEPRINT"}, headers=bearer(token))
    assert r.status_code == 409 and r.json()["error"] == "already_redeemed"
    assert http.post(base(lab, via) + "/coupons/redeem", json={"code": "NOPE"}, headers=bearer(token)).status_code == 404
    assert lab.store.user("alice")["print_credits"] == 1 and exploited(lab) == []


def test_owasp_api6_simultaneous_redemptions_still_get_one_credit(http, lab, token):
    """The check and the write are one statement: eight requests at the same moment, one credit."""
    statuses, start = [], threading.Barrier(8)

    def redeem():
        with lab.session() as s:
            start.wait()
            statuses.append(s.post(lab.api_url + "/coupons/redeem", json={"code": "FREEPRINT"},
                                   headers=bearer(token)).status_code)
    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 7 and lab.store.user("alice")["print_credits"] == 1


@pytest.mark.parametrize("via", VIA)
def test_owasp_api6_an_unlimited_coupon_is_redeemed_again_and_again_and_recorded(http, lab, token, via):
    with lab.weaknesses.turned_on(unlimited_coupon=True):
        for _ in range(5):
            r = http.post(base(lab, via) + "/coupons/redeem", json={"code": "FREEPRINT"}, headers=bearer(token))
    assert r.json()["print_credits"] == 5 and exploited(lab) == ["unlimited_coupon"] * 4
    assert lab.exploits()["what happened"].iloc[-1] == ("alice redeemed FREEPRINT for the 5th time "
                                                        "(one free print, once per account)")


# -- API7:2023 server side request forgery -----------------------------------------------------------------
def internal_urls(lab) -> list[str]:
    meta = lab._metadata.port
    return [f"http://127.0.0.1:{meta}{CREDENTIALS_PATH}", f"http://localhost:{meta}{CREDENTIALS_PATH}",
            f"http://127.1:{meta}{CREDENTIALS_PATH}", f"http://2130706433:{meta}{CREDENTIALS_PATH}",
            f"http://[::ffff:127.0.0.1]:{meta}{CREDENTIALS_PATH}", f"http://x@127.0.0.1:{meta}{CREDENTIALS_PATH}",
            lab.attacker.redirect("/to-metadata", f"http://127.0.0.1:{meta}{CREDENTIALS_PATH}"),
            f"{lab.api_url}/health"]


@pytest.mark.parametrize("via", VIA)
def test_owasp_api7_hardened_webhook_test_reaches_public_servers_only(http, lab, token, via):
    hook = lab.attacker.serve("/hooks/alice", "got it")
    r = http.post(base(lab, via) + "/webhooks/test", json={"url": hook}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["delivered"] and r.json()["body"] == "got it"
    for url in internal_urls(lab):
        r = http.post(base(lab, via) + "/webhooks/test", json={"url": url}, headers=bearer(token))
        assert r.status_code == 200 and not r.json()["delivered"], url
        assert r.json()["note"].startswith("refused: webhooks must be public web servers"), url
    assert lab.metadata_service.records == [] and exploited(lab) == []


@pytest.mark.parametrize("via", VIA)
def test_owasp_api7_ssrf_fetches_the_metadata_credentials_and_is_recorded(http, lab, token, via):
    with lab.weaknesses.turned_on(ssrf=True):
        r = http.post(base(lab, via) + "/webhooks/test", json={"url": internal_urls(lab)[2]}, headers=bearer(token))
    keys = json.loads(r.json()["body"])
    assert keys["SecretAccessKey"] == lab.metadata_service.secret_access_key
    assert [v.path for v in lab.metadata_service.records] == [CREDENTIALS_PATH]
    assert exploited(lab) == ["ssrf"]
    assert lab.exploits()["what happened"].iloc[0].endswith(f"{CREDENTIALS_PATH} from the metadata server (internal)")
    assert lab.wiretap.last().server == "metadata", "the API's own request crossed the wiretap"
    secret = lab.metadata_service.secret_access_key
    assert all(secret not in str(rec) for rec in lab.gateway.records), "no secret in the gateway's log"
    assert all(secret not in e for e in lab.events()["detail"]), "nor in the lab's events"


def test_owasp_api7_every_spelling_and_the_redirect_reach_inside_with_the_switch_on(http, lab, token):
    with lab.weaknesses.turned_on(ssrf=True):
        for url in internal_urls(lab):
            r = http.post(lab.api_url + "/webhooks/test", json={"url": url}, headers=bearer(token))
            assert r.json()["delivered"] and r.json()["status"] == 200, url
    assert len(lab.exploits()) == len(internal_urls(lab))


@pytest.mark.parametrize("url", ["http://evil.example/", "http://169.254.169.254/latest/meta-data/", "http://10.1.1.1",
                                 "file:///etc/passwd", "gopher://127.0.0.1:70/", "http://127.0.0.1:1/", "http://[::1]/",
                                 "http://127.0.0.1:99999/", "http://[::1/", "javascript:alert(1)", "\x00", "ht tp://x",
                                 "http://" + "a" * 1900, "http://127.0.0.1:%s/\r\nX-Injected: 1"])
def test_owasp_api7_even_with_the_switch_on_nothing_leaves_the_lab_and_nothing_breaks(http, lab, token, url):
    lab.wiretap.clear()
    with lab.weaknesses.turned_on(ssrf=True):
        r = http.post(lab.api_url + "/webhooks/test", json={"url": url.replace("%s", str(lab._api.port))},
                      headers=bearer(token))
    assert r.status_code in (200, 400) and lab.errors == []
    if r.status_code == 200 and r.json()["delivered"]:      # only the line break's URL names a lab server (the API)
        assert "\r\n" in url and [x.server for x in lab.wiretap.records] == ["api"]
        assert b"\r\nX-Injected" not in lab.wiretap.last().request.raw, "no header smuggled in through the URL"
    else:
        assert lab.wiretap.records == [] and exploited(lab) == []


# -- API10:2023 unsafe consumption of APIs ------------------------------------------------------------------
def collect(lab) -> str:
    """The attacker's page that the hijacked partner redirects orders to; it answers like the partner would."""
    return lab.attacker.serve("/orders", json.dumps({"order_id": "PP-999999", "status": "accepted", "price_cents": 0}),
                              status=201, content_type="application/json")


@pytest.mark.parametrize("via", VIA)
def test_owasp_api10_an_honest_partners_answer_is_checked_and_kept(http, lab, token, via):
    r = http.post(base(lab, via) + "/prints", json={"photo_id": 1, "copies": 2}, headers=bearer(token))
    assert r.status_code == 201 and r.json() == {"id": 1, "photo_id": 1, "copies": 2, "paid_with": "card",
                                                 "partner_order": "PP-000001", "status": "accepted", "price_cents": 500}
    assert http.post(base(lab, via) + "/prints", json={"photo_id": 5}, headers=bearer(token)).status_code == 404


@pytest.mark.parametrize("via", VIA)
def test_owasp_api10_hardened_api_follows_no_redirect_of_the_partner(http, lab, token, via):
    lab.partner.hijack(collect(lab))
    r = http.post(base(lab, via) + "/prints", json={"photo_id": 1}, headers=bearer(token))
    assert r.status_code == 502 and "HTTP 307" in r.json()["error_description"]
    assert lab.attacker.find("4242") == [] and lab.store.prints() == [] and exploited(lab) == []


@pytest.mark.parametrize("reply", [{"order_id": "PP-1", "status": "accepted", "price_cents": 0},
                                   {"order_id": "PP-000001", "status": "shipped", "price_cents": 250},
                                   {"order_id": "PP-000001", "status": "accepted", "price_cents": -500},
                                   {"order_id": "PP-000001", "status": "accepted", "price_cents": True},
                                   {"order_id": ["PP-000001"], "status": "accepted", "price_cents": 1}, {}])
def test_owasp_api10_hardened_api_refuses_a_reply_the_partner_never_promised(http, lab, token, reply):
    lab.store.add_credits("alice", 1)
    lab.partner.hijack(reply=reply)
    r = http.post(lab.api_url + "/prints", json={"photo_id": 1}, headers=bearer(token))
    assert r.status_code == 502 and lab.store.prints() == []
    assert lab.store.user("alice")["print_credits"] == 1, "the credit spent on the failed order came back"


@pytest.mark.parametrize("via", VIA)
def test_owasp_api10_trusting_the_partner_sends_the_card_to_the_attacker_and_is_recorded(http, lab, token, via):
    lab.partner.hijack(collect(lab))
    with lab.weaknesses.turned_on(trust_third_party=True):
        r = http.post(base(lab, via) + "/prints", json={"photo_id": 1, "copies": 3}, headers=bearer(token))
    assert r.status_code == 201 and r.json()["partner_order"] == "PP-999999" and r.json()["price_cents"] == 0
    stolen = json.loads(lab.attacker.find("4242")[0].body)
    assert stolen["payment"] == {"method": "card", "card_holder": "A. Liddell", "card_last4": "4242", "expiry": "12/29"}
    assert exploited(lab) == ["trust_third_party"]
    assert "resending alice's order with the card (card_holder, card_last4, expiry)" in \
        lab.exploits()["what happened"].iloc[0]


@pytest.mark.parametrize("reply", [{"anything": ["goes"]}, {"order_id": "x" * 500, "status": {"a": 1},
                                                           "price_cents": 10**30}, {}])
def test_owasp_api10_a_trusting_api_keeps_any_reply_and_still_never_breaks(http, lab, token, reply):
    lab.partner.hijack(reply=reply)
    with lab.weaknesses.turned_on(trust_third_party=True):
        r = http.post(lab.api_url + "/prints", json={"photo_id": 1}, headers=bearer(token))
    assert r.status_code == 201 and lab.errors == []


def test_the_partner_and_the_metadata_service_come_back_honest_and_empty_on_reset(lab, http):
    lab.partner.hijack(reply={"x": 1})
    http.get(f"http://127.0.0.1:{lab._metadata.port}/latest/meta-data/")
    lab.reset()
    assert lab.partner.hijacked == "" and lab.partner.records == [] and lab.metadata_service.records == []
