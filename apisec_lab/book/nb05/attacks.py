"""Notebook 05's attacks: each a plain function that replays one attack through either door.

Each attack turns on, for its own duration only, the API weakness it
exploits (the gateway stands in front of an API with holes, which is the
case a gateway is sold for), and returns an :class:`~.replay.Outcome`.
:func:`bola` is the one a gateway cannot see; :func:`normal_request` is for
contrast.  :func:`staleness` and :func:`staleness_table` measure how long a
revoked token still passes the gateway, per introspection-cache lifetime.
"""
from __future__ import annotations

import pandas as pd

from ...core.cast import DEMO_PASSWORDS
from ..common import connect
from .replay import Outcome, Replay, bearer, error_of, retry_after

#: What an attacker tries against alice's account: common passwords, then hers (the published demo one).
GUESSES = ("123456", "password", "alice", "alice2026", "qwerty", "letmein", "wonderland", "Wonderland1",
           "rabbit-hole", "drinkme", "eatme", "cheshire", "queen-of-hearts", DEMO_PASSWORDS["alice"])



def token_for(lab, client_id: str = "photocli", scopes=("profile:read", "photos:read"), user: str = "alice") -> str:
    """*user* connects *client_id* (authorization code + PKCE, notebook 02), granting *scopes*; the access token."""
    return connect(lab, client_id, list(scopes), asks=list(scopes), user=user).access_token


# -- the attacks ------------------------------------------------------------------------------
def brute_force_basic(lab, via: str = "gateway", user: str = "alice", guesses=GUESSES) -> Outcome:
    """Guess *user*'s password over HTTP Basic on ``GET /me`` (weakness ``basic_auth`` on: the API takes passwords)."""
    replay = Replay(lab, via)
    found = None
    with lab.weaknesses.turned_on(basic_auth=True), lab.session() as s:
        for i, guess in enumerate(guesses, 1):
            if replay.send(s, "GET", "/me", auth=(user, guess)).status_code == 200:
                found = (i, guess)
                break
    attack = f"Brute-force {user}'s password over HTTP Basic ({len(guesses)} guesses)"
    if found:
        return replay.outcome(attack, True, f"password found on guess {found[0]}: {found[1]!r}",
                              f"password found (guess {found[0]})")
    rs = replay.responses
    if any(r.status_code == 429 for r in rs):
        first = next(i for i, r in enumerate(rs) if r.status_code == 429)
        return replay.outcome(attack, False, f"no password: cut off after {first} guesses{retry_after(rs)}",
                              f"cut off after {first} guesses (429)")
    who = replay.refused_by(rs[-1])
    if who.startswith("the gateway"):
        return replay.outcome(attack, False, f"no password: HTTP Basic refused by {who} on every guess",
                              "Basic refused at the edge (401)")
    return replay.outcome(attack, False, "no password in the list", "not found")


def token_in_url(lab, via: str = "gateway", token: str | None = None) -> Outcome:
    """Send alice's access token as ``?access_token=`` (weakness ``token_in_query`` on), through the wiretap."""
    token = token or token_for(lab, "photocli", ["profile:read"])
    replay = Replay(lab, via)
    with lab.weaknesses.turned_on(token_in_query=True), lab.session(tapped=True) as s:
        r = replay.send(s, "GET", "/me", params={"access_token": token})
    attack = "Token in the URL (GET /me?access_token=...)"
    if r.status_code == 200:
        return replay.outcome(attack, True, f"served {r.json()['username']}'s profile; the URL, token and all, is "
                                            "now in every log it passed", "served (200)")
    return replay.outcome(attack, False, f"{r.status_code} {error_of(r)} from {replay.refused_by(r)}; the token still "
                                         "crossed the wire in the URL: revoke it", f"refused ({r.status_code})")


def flood(lab, via: str = "gateway", n: int = 40, token: str | None = None) -> Outcome:
    """One client (PhotoCLI, for alice) fires *n* requests as fast as it can."""
    token = token or token_for(lab, "photocli", ["profile:read"])
    replay = Replay(lab, via)
    with lab.session() as s:
        for _ in range(n):
            replay.send(s, "GET", "/me", headers=bearer(token))
    rs = replay.responses
    attack = f"Flood from one client ({n} requests at once)"
    served = sum(r.status_code == 200 for r in rs)
    if served == n:
        return replay.outcome(attack, True, f"all {n} served: nothing slows one client down", f"all {n} served")
    return replay.outcome(attack, False, f"cut off after {served}{retry_after(rs)}",
                          f"cut off after {served} (429)")


def admin_route(lab, via: str = "gateway") -> Outcome:
    """``GET /admin/users`` with no credentials (weakness ``open_admin_route`` on: the API trusts obscurity)."""
    replay = Replay(lab, via)
    with lab.weaknesses.turned_on(open_admin_route=True), lab.session() as s:
        r = replay.send(s, "GET", "/admin/users")
    attack = "Unpublished admin route (GET /admin/users, no token)"
    if r.status_code == 200:
        users = r.json()
        return replay.outcome(attack, True, f"the 'hidden' route listed {len(users)} accounts with their emails",
                              f"{len(users)} accounts listed (200)")
    return replay.refused(attack, r)


def revoked_token(lab, via: str = "gateway") -> Outcome:
    """PhotoPrint uses a token, alice revokes the app, PhotoPrint's token is tried again at once."""
    token = token_for(lab, "photoprint", ["profile:read"])
    replay = Replay(lab, via)
    with lab.session() as s:
        first = s.get(replay.url + "/me", headers=bearer(token), timeout=10)    # works, and warms the cache
        replay.first_id = (lab.gateway.records[-1].id + 1) if via == "gateway" else 0
        lab.revoke_app("alice", "photoprint")
        r = replay.send(s, "GET", "/me", headers=bearer(token))
    attack = "Revoked token, used right after the revocation"
    assert first.status_code == 200, first.text
    if r.status_code == 200:
        return replay.outcome(attack, True, "the revoked token was served", "served (200)")
    if via == "gateway" and replay.reached_api():
        return replay.outcome(attack, False, "the gateway's cached introspection still said active and let it "
                                             f"through; the API's own check refused it ({r.status_code})",
                              f"passed the gateway, API refused ({r.status_code})")
    return replay.refused(attack, r)


def oversized(lab, via: str = "gateway") -> Outcome:
    """A 10 KB header (over the gateway's 8 KiB limit, under the API's 16 KiB) on ``GET /health``."""
    replay = Replay(lab, via)
    with lab.session() as s:
        r = replay.send(s, "GET", "/health", headers={"X-Padding": "p" * 10_000})
    attack = "Oversized request header (10 KB)"
    if r.status_code == 200:
        return replay.outcome(attack, True, "accepted: the API read it all", "accepted (200)")
    return replay.refused(attack, r)


def bola(lab, via: str = "gateway", photo_id: int = 5, api_fixed: bool = False) -> Outcome:
    """Alice's valid token (PhotoCLI, ``photos:read``) asks for photo *photo_id*, which is bob's.

    The weakness ``bola`` (the API forgets its object-level check) is on unless
    ``api_fixed=True``: then the API checks who owns the photo, as it should.
    Through the wiretap, so that the notebook can draw both doors.
    """
    token = token_for(lab, "photocli", ["photos:read"])
    replay = Replay(lab, via)
    with lab.weaknesses.turned_on(bola=not api_fixed), lab.session(tapped=True) as s:    # drawn in section 10
        r = replay.send(s, "GET", f"/photos/{photo_id}", headers=bearer(token))
    attack = f"Another user's object (alice's valid token, GET /photos/{photo_id})"
    if r.status_code == 200:
        photo = r.json()
        worked = photo["owner"] != "alice"
        return replay.outcome(attack, worked, f"alice read {photo['owner']}'s photo {photo_id}: {photo['title']!r}",
                              f"{photo['owner']}'s photo served (200)")
    return replay.refused(attack, r)


def normal_request(lab, via: str = "gateway") -> Outcome:
    """What the gateway exists to let through: alice's app reads her profile."""
    token = token_for(lab, "photocli", ["profile:read"])
    replay = Replay(lab, via, fresh_window=False)
    with lab.session() as s:
        r = replay.send(s, "GET", "/me", headers=bearer(token))
    if r.status_code == 200:
        why = "200: served"
    elif r.status_code == 429:
        # The rate window is not reset here on purpose: an app that flooded also blocks itself.
        why = (f"429: {error_of(r)} (PhotoCLI's own burst still fills its window: a flood from one app "
               f"costs that app, not the others; try again after Retry-After {r.headers.get('Retry-After')} s)")
    else:
        why = f"{r.status_code}: {error_of(r)}"
    outcome = replay.outcome("A normal request (PhotoCLI reads alice's profile)", False, why,
                             "served" if r.status_code == 200 else f"refused ({r.status_code})")
    outcome.is_attack = False
    return outcome


# -- introspection cache and revocation -------------------------------------------------------
def staleness(lab, cache_ttl: float | None = None, step: float = 0.5, limit: float = 120) -> float:
    """Lab seconds during which a revoked token still passes the gateway (polled every *step* s).

    Starts from empty rate-limit windows, like every replay here, so the polls are never throttled. Counted
    on the lab clock alone (frozen), so a busy kernel's real seconds between the polls do not shorten it.
    """
    policy = lab.gateway.policy
    lab.gateway.clear_rate_windows()
    with (lab.clock.frozen(), policy.changed(cache_ttl=policy.cache_ttl if cache_ttl is None else cache_ttl),
          lab.session() as s):
        token = token_for(lab, "photoprint", ["profile:read"])
        url = lab.gateway_url + "/me"
        if s.get(url, headers=bearer(token), timeout=10).status_code != 200:
            raise RuntimeError("the fresh token did not work through the gateway")
        lab.revoke_app("alice", "photoprint")
        waited = 0.0
        while waited <= limit:
            s.get(url, headers=bearer(token), timeout=10)
            if lab.gateway.records[-1].reason == "token_inactive":
                return waited
            lab.clock.advance(step)
            waited += step
    raise RuntimeError(f"the revoked token still passed the gateway after {limit} s")


def staleness_table(lab, ttls=(5, 1, 0)) -> pd.DataFrame:
    """For each cache lifetime: how long a revoked token still passes, and what the cache saves."""
    rows = []
    for ttl in ttls:
        stale = staleness(lab, ttl)      # (clears the rate-limit windows first)
        before = lab.gateway.introspections
        token = token_for(lab, "photocli", ["profile:read"])
        with lab.gateway.policy.changed(cache_ttl=ttl), lab.session() as s:
            for _ in range(10):
                s.get(lab.gateway_url + "/me", headers=bearer(token), timeout=10)
        rows.append({"cache_ttl (s)": ttl, "revoked token still passes the gateway for (s)": stale,
                     "introspection calls for 10 quick requests": lab.gateway.introspections - before})
    return pd.DataFrame(rows).set_index("cache_ttl (s)")
