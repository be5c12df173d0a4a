"""Single use is atomic: simultaneous redemptions of one code or one refresh token.

oauthlib validates a code (or refresh token) early and invalidates it late, so
without an atomic claim two requests that arrive together can both pass
validation and both get tokens.  The store claims each one in one UPDATE; the
loser is a replay (RFC 6749 s4.1.2, s10.5) or a reuse (RFC 9700 s4.14.2).
"""
import threading
import time

import requests

import apisec_lab
from apisec_lab.client import flows

ALICE = apisec_lab.DEMO_PASSWORDS["alice"]
THREADS = 8
ROUNDS = 25          # at most; and at most BUDGET seconds per test
MIN_ROUNDS = 5
BUDGET = 4.0


def fire_together(n, request):
    """Run ``request(session)`` in *n* threads released at the same instant; return the responses."""
    barrier = threading.Barrier(n)
    results = [None] * n
    sessions = []
    for _ in range(n):
        s = requests.Session()
        s.trust_env = False
        sessions.append(s)

    def run(i):
        barrier.wait()
        results[i] = request(sessions[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    for s in sessions:
        s.close()
    return results


def rounds():
    """Round numbers until ROUNDS or the time budget runs out (never fewer than MIN_ROUNDS)."""
    start = time.monotonic()
    for i in range(ROUNDS):
        if i >= MIN_ROUNDS and time.monotonic() - start > BUDGET:
            return
        yield i


def fresh_code(lab):
    app = flows.OAuthApp(lab, "photocli")
    url = app.start_login(["photos:read"])
    return app, app.receive(lab.authorize(url, "alice", ALICE))


def events_of(lab, grant_id):
    return list(lab.events(grant_id)["event"])


def test_rfc6749_s4_1_2_concurrent_redemptions_of_one_code_give_one_success(lab):
    done = 0
    endpoint = lab.metadata["token_endpoint"]
    for _ in rounds():
        app, code = fresh_code(lab)
        form = {"grant_type": "authorization_code", "code": code, "client_id": "photocli",
                "redirect_uri": app.redirect_uri, "code_verifier": app.storage["code_verifier"]}
        answers = fire_together(THREADS, lambda s, form=form: s.post(endpoint, data=form, timeout=10))
        ok = [r for r in answers if r.status_code == 200]
        assert len(ok) == 1, [(r.status_code, r.text[:80]) for r in answers]
        assert all(r.json()["error"] == "invalid_grant" for r in answers if r.status_code != 200)
        # s4.1.2: the replay revokes everything the code issued, the winner's tokens included,
        # even when the losers were refused before the winner's grant existed.
        token = ok[0].json()
        info = lab.introspect(token["access_token"])
        assert info == {"active": False}, info
        assert lab.introspect(token["refresh_token"]) == {"active": False}
        grant_id = int(lab.events().query("event == 'issued'")["grant_id"].iloc[-1])
        assert "code_replayed" in events_of(lab, grant_id) and "revoked" in events_of(lab, grant_id)
        done += 1
    assert done >= MIN_ROUNDS
    assert len(lab.store.active_grants(username="alice")) == 0


def test_rfc9700_s4_14_2_concurrent_refreshes_with_one_token_give_one_success(lab):
    done = 0
    endpoint, creds = lab.metadata["token_endpoint"], lab.clients["photoprint"]
    for _ in rounds():
        app = flows.OAuthApp(lab, "photoprint").sign_in("alice", ALICE, ["photos:read"])
        form = {"grant_type": "refresh_token", "refresh_token": app.storage["refresh_token"]}
        answers = fire_together(THREADS, lambda s, form=form: s.post(
            endpoint, data=form, auth=(creds.client_id, creds.client_secret), timeout=10))
        ok = [r for r in answers if r.status_code == 200]
        assert len(ok) == 1, [(r.status_code, r.text[:80]) for r in answers]
        assert all(r.json()["error"] == "invalid_grant" for r in answers if r.status_code != 200)
        # The reuse revokes the whole family: the winner's new tokens are dead too.
        token = ok[0].json()
        assert lab.introspect(token["access_token"]) == {"active": False}
        assert lab.introspect(token["refresh_token"]) == {"active": False}
        grant_id = int(lab.events().query("event == 'refreshed'")["grant_id"].iloc[-1])
        assert "refresh_reuse_detected" in events_of(lab, grant_id)
        done += 1
    assert done >= MIN_ROUNDS
    assert len(lab.store.active_grants(username="alice")) == 0


def test_rfc6749_s10_5_replay_refused_before_the_winners_grant_exists_still_revokes_it(lab, monkeypatch):
    """The exact interleaving the race can produce, forced: the winner claims the code, the replay is
    refused while the winner has not yet created its grant, then the winner finishes."""
    app, code = fresh_code(lab)
    form = {"grant_type": "authorization_code", "code": code, "client_id": "photocli",
            "redirect_uri": app.redirect_uri, "code_verifier": app.storage["code_verifier"]}
    claimed, replay_done = threading.Event(), threading.Event()
    real_new_grant = lab.store.new_grant

    def slow_new_grant(*args, **kwargs):  # the winner, between its claim and its grant
        claimed.set()
        assert replay_done.wait(10)
        return real_new_grant(*args, **kwargs)

    monkeypatch.setattr(lab.store, "new_grant", slow_new_grant)
    winner = {}
    t = threading.Thread(target=lambda: winner.setdefault("r", flows.token_request(lab, "photocli", form)))
    t.start()
    assert claimed.wait(10)
    replay = flows.token_request(lab, "photocli", form)
    replay_done.set()
    t.join(10)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert winner["r"].status_code == 200
    token = winner["r"].json()
    assert flows.call_api(lab, "/photos", token=token["access_token"]).status_code == 401
    assert lab.introspect(token["refresh_token"]) == {"active": False}
    issued = lab.events().query("event == 'issued'")
    grant_id = int(issued["grant_id"].iloc[-1])
    assert {"consent", "code_replayed", "issued", "revoked"} <= set(events_of(lab, grant_id))


# -- the store's claims, one statement each ------------------------------------------
def _saved_code(lab, code="c0de-" + "x" * 30):
    lab.store.save_code(code, "photocli", "alice", None, ["photos:read"], "c" * 43, "S256", 60)
    return code


def test_store_claims_a_code_once_and_a_replay_before_the_grant_is_reported_to_the_winner(lab):
    code = _saved_code(lab)
    assert lab.store.claim_code(code) is True
    assert lab.store.claim_code(code) is False
    assert lab.store.code_replayed(code, "test replay") is None        # no grant yet
    grant_id = lab.store.new_grant("photocli", "alice", "authorization_code", ["photos:read"])
    assert lab.store.link_code_to_grant(code, grant_id) is True        # so the winner revokes it
    assert "code_replayed" in list(lab.events(grant_id)["event"])      # the replay joined the grant


def test_store_replay_after_the_grant_names_it_and_an_unreplayed_link_says_so(lab):
    code = _saved_code(lab)
    assert lab.store.claim_code(code)
    grant_id = lab.store.new_grant("photocli", "alice", "authorization_code", ["photos:read"])
    assert lab.store.link_code_to_grant(code, grant_id) is False
    assert lab.store.code_replayed(code, "test replay") == grant_id
    assert lab.store.code_replayed("never-issued", "test replay") is None


def test_store_claims_a_refresh_token_once_and_only_while_active(lab):
    grant_id = lab.store.new_grant("photoprint", "alice", "authorization_code", ["photos:read"])
    for name in ("rt_one", "rt_two"):
        lab.store.save_token(name, "refresh", grant_id, "photoprint", "alice", ["photos:read"], 60)
    lab.store.save_token("at_one", "access", grant_id, "photoprint", "alice", ["photos:read"], 60)
    assert lab.store.claim_refresh_token("at_one") is False            # not a refresh token
    assert lab.store.claim_refresh_token("rt_one") is True
    assert lab.store.claim_refresh_token("rt_one") is False
    lab.clock.advance(61)
    assert lab.store.claim_refresh_token("rt_two") is False            # expired
    other = lab.store.new_grant("photoprint", "alice", "authorization_code", ["photos:read"])
    lab.store.save_token("rt_four", "refresh", other, "photoprint", "alice", ["photos:read"], None)
    lab.store.revoke_grant(other, "test")
    assert lab.store.claim_refresh_token("rt_four") is False           # its family is revoked
