"""Notebook 05's exercises: a rate-limit policy (q1), the request the gateway let through (q2), a cache lifetime."""
from __future__ import annotations

from ...servers.gateway import Limit
from ..common import Text, current_lab, photo_id_of
from ..exercises import Exercise
from .attacks import staleness, token_for
from .replay import bearer, photo_owners

#: q1's story: PhotoCLI floods (100 requests at once); it legitimately needs 10 requests a minute,
#: and ChatPal, alice's other app, must keep working.
Q1_FLOOD, Q1_MAX, Q1_MIN, Q1_OTHER = 100, 20, 10, 5
_LIMITS = ("per_client", "per_user", "per_address")


def flood_test(lab, settings: dict) -> tuple[int, int]:
    """Under *settings*: (requests of PhotoCLI's flood served, of ChatPal's 5 requests served).

    The burst happens at one instant of the lab clock (frozen), however long a busy kernel takes to send it:
    a per-second limit then judges the same burst on a laptop and in a loaded hub.
    """
    flooder = token_for(lab, "photocli", ["profile:read"])
    other = token_for(lab, "chatpal", ["profile:read"])
    with lab.clock.frozen(), lab.gateway.policy.changed(**settings), lab.session() as s:
        lab.gateway.clear_rate_windows()
        try:
            served = sum(s.get(lab.gateway_url + "/me", headers=bearer(flooder), timeout=10).status_code == 200
                         for _ in range(Q1_FLOOD))
            others = sum(s.get(lab.gateway_url + "/me", headers=bearer(other), timeout=10).status_code == 200
                         for _ in range(Q1_OTHER))
        finally:
            lab.gateway.clear_rate_windows()
    return served, others


def _check_flood_policy(answer) -> str | None:
    if not isinstance(answer, dict) or not answer:
        return "answer with a dict of gateway settings, e.g. {\"per_user\": nb05.Limit(100, 60)}."
    lab = current_lab()
    known = set(lab.gateway.policy.table().index)
    unknown = sorted(set(answer) - known)
    if unknown:
        return f"the gateway has no setting {unknown}; its settings: {sorted(known)}."
    for key in _LIMITS:
        if key in answer and not isinstance(answer[key], Limit):
            return f"{key} takes a Limit, e.g. nb05.Limit(20, 60) for 20 requests per 60 s."
    served, others = flood_test(lab, answer)
    _measured.update(served=served, others=others)
    if served > Q1_MAX:
        return f"PhotoCLI's flood still got {served} of {Q1_FLOOD} requests through; allow at most {Q1_MAX}."
    limit = answer.get("per_client")
    rate = per_minute(limit) if limit is not None else None
    if rate is not None and rate > Q1_MAX:
        return (f"per_client = Limit({limit.requests}, {limit.seconds:g}) lets PhotoCLI make {rate:g} requests a "
                f"minute (this burst only saw the first {limit.seconds:g} s of it): the target is at most {Q1_MAX}.")
    if rate is not None and rate < Q1_MIN:
        return (f"per_client = Limit({limit.requests}, {limit.seconds:g}) allows only {rate:g} requests a minute: "
                f"PhotoCLI needs {Q1_MIN} a minute to do its job.")
    if others < Q1_OTHER:
        if "per_user" in answer:
            return (f"ChatPal, alice's other app, got only {others} of {Q1_OTHER} through: a limit per *user* punishes "
                    "all of alice's apps for one app's flood. Which key names one app?")
        return f"ChatPal, alice's other app, got only {others} of {Q1_OTHER} through: it must keep working."
    if limit is None:
        return (f"the burst was cut to {served}, but nothing holds PhotoCLI itself to a rate: give per_client "
                "a Limit.")
    return None


#: What the last q1 check measured (its success message reports it).
_measured: dict = {}


def per_minute(limit: Limit) -> float:
    """Requests a minute that *limit* allows, kept up for a whole minute."""
    return limit.requests * 60 / limit.seconds


def _flood_success(answer) -> str:
    limit = answer["per_client"]
    return (f"per_client = Limit({limit.requests}, {limit.seconds:g}) holds PhotoCLI to {per_minute(limit):g} requests "
            f"a minute ({_measured.get('served')} of its {Q1_FLOOD}-request burst got through), and ChatPal, "
            f"alice's other app, got all {_measured.get('others')} of its requests through.")


q1 = Exercise(
    "q1 (stop the flood, spare the other app)",
    _check_flood_policy,
    "The gateway counts requests per client (per_client), per user (per_user) and per address (per_address). "
    "PhotoCLI and ChatPal are two clients of one user. Answer with the settings to change, "
    "e.g. {\"per_xxx\": nb05.Limit(requests, seconds)}; a Limit(n, s) allows n * 60 / s requests a minute.",
    "answer = {\"per_client\": nb05.Limit(20, 60)}   # 20 requests a minute per app; alice's other apps carry on",
    lambda: {"per_client": Limit(20, 60)},
    success=_flood_success)


def mixed_traffic(lab) -> Text:
    """A morning of traffic through the gateway, legitimate and not, into a freshly cleared log.

    Alice and Bob use their apps; someone probes.  The API has the ``bola``
    weakness on meanwhile (its object-level check is missing), and one
    request exploits it: find it (exercise q2).
    """
    alice = token_for(lab, "photocli", ["profile:read", "photos:read"])
    bob = token_for(lab, "photocli", ["profile:read", "photos:read"], user="bob")
    bob_chat = token_for(lab, "chatpal", ["messages:read"], user="bob")
    lab.gateway.clear_log()
    lab.gateway.clear_rate_windows()
    plan = [
        ("GET", "/health", {}),
        ("GET", "/me", bearer(alice)),
        ("GET", "/photos", bearer(alice)),
        ("GET", "/photos/2", bearer(alice)),
        ("GET", "/admin/users", {}),
        ("GET", "/photos/4", bearer(alice)),
        ("GET", "/messages", bearer(bob_chat)),
        ("GET", "/me?access_token=" + alice, {}),
        ("GET", "/me", {"Authorization": "Basic Ym9iOmNhbi13ZS1maXgtaXQ="}),
        ("GET", "/photos/5", bearer(bob)),
        ("GET", "/payment", bearer(alice)),
        ("GET", "/photos/3", bearer(alice)),
    ]
    with lab.weaknesses.turned_on(bola=True), lab.session() as s:
        for method, path, headers in plan:
            s.request(method, lab.gateway_url + path, headers=headers, timeout=10)
    c = lab.gateway.counts()
    return Text(f"{len(plan)} requests through the gateway: {c['allowed']} allowed, {c['rejected']} rejected.")


def _check_leak(answer) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, int):
        return f"answer with the log id of the request (an int, the log_frame() index), not {type(answer).__name__}."
    lab = current_lab()
    record = next((r for r in lab.gateway.records if r.id == answer), None)
    if record is None:
        return f"there is no request #{answer} in the gateway's log: run nb05.mixed_traffic(lab) and look again."
    if record.reason != "allowed":
        return f"the gateway refused #{answer} ({record.reason}); the leak is a request it let through."
    photo = photo_id_of(record.path)
    if photo is None:
        return f"#{answer} is {record.method} {record.path}: allowed, and harmless. The leak is one photo."
    owner = photo_owners(lab)["owner"].get(photo)
    if owner == record.user:
        return f"#{answer} is {record.user} reading their own photo {photo}: that is what the API is for."
    if record.status != 200:
        return f"#{answer} got {record.status}: the API refused it, nothing leaked."
    return None


def _solve_leak() -> int:
    lab = current_lab()
    if not any(photo_id_of(r.path) for r in lab.gateway.records):
        mixed_traffic(lab)
    frame = lab.gateway.log_frame()
    owners = photo_owners(lab)["owner"]
    reads = {i: photo_id_of(row["path"]) for i, row in frame.iterrows() if row["status"] == 200}
    leaks = [i for i, photo in reads.items() if photo is not None and owners.get(photo) != frame.loc[i, "user"]]
    return int(leaks[-1])


q2 = Exercise(
    "q2 (find the request the gateway let through)",
    _check_leak,
    "Every line the gateway allowed had a valid token with the right scope. Which photo reads were 200? "
    "Compare each with nb05.photo_owners(lab): the API's data, which the gateway never sees.",
    "log = lab.gateway.log_frame()\n"
    "reads = log[log.path.str.fullmatch(r\"/photos/\\d+\") & (log.status == 200)]\n"
    "owners = nb05.photo_owners(lab).owner\n"
    "answer = int(reads[[owners[int(p.rsplit('/', 1)[1])] != u for p, u in zip(reads.path, reads.user)]].index[0])",
    _solve_leak,
    success="alice's valid token read bob's photo 4. The gateway logged it as allowed: "
            "object-level authorization (OWASP API1:2023) can only be checked by the API.")


def _check_ttl(answer) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return f"answer with a number of seconds (got {type(answer).__name__})."
    if answer < 0:
        return "a cache lifetime cannot be negative."
    if answer == 0:
        return ("0 turns the cache off: revocation is seen at once, but every request costs an introspection call. "
                "Keep a cache.")
    if answer > 1:
        return f"with {answer} s a revoked token can pass the gateway for up to {answer} s; the target is 1 s."
    lab = current_lab()
    stale = staleness(lab, answer, step=0.25)
    if stale > 1:
        return f"measured: the revoked token still passed for {stale} s."
    return None


q3 = Exercise(
    "q3 (a cache lifetime)",
    _check_ttl,
    "cache_ttl is how long the gateway reuses an introspection answer; 0 asks every time.",
    "answer = 1      # any 0 < ttl <= 1: a revoked token is refused at the edge within a second,\n"
    "                # and a burst of requests still costs one introspection call",
    lambda: 1,
    success=lambda answer: (f"cache_ttl = {answer:g} s: a revoked token is refused at the edge within {answer:g} s, "
                            "and a burst of requests still costs one introspection call."))
