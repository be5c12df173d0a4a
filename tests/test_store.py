"""apisec_lab.store: seeding, secrets kept across resets, grant families, the event record."""
import pytest

from apisec_lab.core import crypto

from .conftest import code_flow


def test_seed_loads_users_clients_and_resources(lab):
    store = lab.store
    assert store.user("alice")["display_name"] == "Alice Liddell"
    assert store.check_password("alice", "wonderland-2026") and not store.check_password("alice", "wonderland")
    assert not store.check_password("nobody", "wonderland-2026")
    cli = store.client("photocli")
    assert cli.public and cli.secret_digest is None
    assert cli.redirect_uris == (f"{lab.apps_url}/photocli/callback",)
    printer = store.client("photoprint")
    assert printer.secret_digest == crypto.digest(lab.clients["photoprint"].client_secret)
    assert store.client("nope") is None and store.client("") is None
    assert len(store.photos("alice")) == 3


def test_add_user_refuses_duplicates_and_blanks(lab):
    lab.add_user("carol", "carol-pass-1")
    with pytest.raises(ValueError, match="already exists"):
        lab.add_user("carol", "other")
    with pytest.raises(ValueError):
        lab.add_user("dave", "")


def test_a_revoked_grant_takes_every_token_and_logs_once(lab):
    token = code_flow(lab, "photoprint", ["photos:read"])
    row = lab.store.token(token["access_token"])
    assert lab.store.token_state(row) == "active"
    assert lab.store.revoke_grant(row["grant_id"], "test") is True
    assert lab.store.revoke_grant(row["grant_id"], "again") is False
    for t in (token["access_token"], token["refresh_token"]):
        assert lab.store.token_state(lab.store.token(t)) == "revoked"
    events = lab.events(row["grant_id"])
    assert list(events["event"]).count("revoked") == 1 and events.iloc[-1]["detail"] == "test"


def test_uses_are_recorded_in_order_with_their_own_time(lab):
    token = code_flow(lab, "photoprint", ["photos:read"])
    grant_id = lab.store.token(token["access_token"])["grant_id"]
    first = lab.clock.now()
    lab.store.record_use(grant_id, "photoprint", "alice", "GET /photos")
    lab.clock.advance(minutes=5)
    lab.store.log("note", grant_id, detail="after the use")
    events = lab.events(grant_id)
    assert list(events["event"])[-2:] == ["used", "note"]
    used_at = events.iloc[-2]["at"].timestamp()
    assert abs(used_at - first) < 1, "a use keeps the time it happened, not the time it was written"
    assert abs(lab.store.grant(grant_id)["last_used_at"] - first) < 1


def test_init_drops_queued_uses_and_keeps_client_secrets(lab):
    token = code_flow(lab, "photoprint", ["photos:read"])
    grant_id = lab.store.token(token["access_token"])["grant_id"]
    lab.store.record_use(grant_id, "photoprint", "alice", "GET /photos")
    secret = lab.clients["photoprint"].client_secret
    lab.reset()
    assert lab.events().empty
    assert lab.clients["photoprint"].client_secret == secret
