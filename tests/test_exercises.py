"""Every exercise in every notebook: fails on the untouched placeholder, passes with its solution.

The per-notebook test files check each exercise's wrong answers in detail;
this file makes sure none is forgotten: it discovers every Exercise in the
notebook modules and every ``check(`` call in the notebooks.
"""
import importlib
import json
import re
from pathlib import Path

import pytest

from apisec_lab.book.exercises import Exercise, ____
from apisec_lab.servers.gateway import Limit

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p.stem for p in (ROOT / "apisec_lab" / "book").glob("nb[0-9][0-9]*")
                 if p.suffix == ".py" or (p / "__init__.py").exists())
EXERCISES = [(m, name, ex) for m in MODULES
             for name, ex in vars(importlib.import_module(f"apisec_lab.book.{m}")).items() if isinstance(ex, Exercise)]


def test_every_notebook_after_00_has_at_least_two_exercises():
    per_module = {m: [n for mm, n, _ in EXERCISES if mm == m] for m in MODULES}
    for m in [f"nb{p.name[:2]}" for p in sorted((ROOT / "notebooks").glob("*.ipynb"))][1:]:
        assert len(per_module.get(m, [])) >= 2, (m, per_module.get(m))


@pytest.mark.parametrize("module, name, exercise", EXERCISES, ids=[f"{m}.{n}" for m, n, _ in EXERCISES])
def test_placeholder_fails_helpfully_and_solution_passes(lab, module, name, exercise):
    verdict = exercise.evaluate(____)
    assert not verdict.passed and "____" in verdict.message
    answer = exercise.reference_answer()
    verdict = exercise.evaluate(answer)
    assert verdict.passed, verdict.message
    assert exercise.hint_text and exercise.solution_text


@pytest.mark.parametrize("module, name, exercise", EXERCISES, ids=[f"{m}.{n}" for m, n, _ in EXERCISES])
def test_each_exercise_is_posed_in_its_notebook(module, name, exercise):
    notebook = next((ROOT / "notebooks").glob(f"{module[2:]}-*.ipynb"))
    source = "\n".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"])
    assert re.search(rf"\b{module}\.{name}\.check\(", source), f"{notebook.name} never checks {module}.{name}"
    assert f"{module}.{name}.hint()" in source and f"{module}.{name}.solution()" in source


def _mixed_traffic_own_photo(lab):
    from apisec_lab.book import nb05
    nb05.mixed_traffic(lab)
    frame = lab.gateway.log_frame()
    return int(frame.index[frame["path"] == "/photos/2"][0])


def _form_without_verifier(lab):
    from apisec_lab.book import nb02
    p = nb02.pending_code(lab)
    return {"grant_type": "authorization_code", "code": p.code, "redirect_uri": p.redirect_uri, "client_id": p.client_id}


def _connect(client_id, grant, field="access_token"):
    def make(lab):
        from apisec_lab.book.common import connect
        return getattr(connect(lab, client_id, grant), field)
    return make


def _after_the_morning(answer):
    def make(lab):
        from apisec_lab.book import nb02
        nb02.morning(lab)
        return answer
    return make


def _quiz_unrevoked(lab):
    from apisec_lab.book import nb04
    return nb04.AppsDashboard(lab, nb04.connect_apps(lab))


def _bobs_own_token(lab):
    from apisec_lab.book import nb07
    return nb07.connect_bob(lab).access_token


def _forged_without_payment_scope(lab):
    import jwt

    from apisec_lab.book import nb07
    return jwt.encode(nb07.as_alice(nb07.connect_bob(lab).access_token, scope="profile:read"), None,
                      algorithm="none", headers={"typ": "at+jwt"})


def _verifier_decoding_only(token, jwks, issuer, audience):
    import jwt
    return jwt.decode(token, options={"verify_signature": False})


def _verifier_without_typ_or_require(token, jwks, issuer, audience):
    import jwt
    return jwt.decode(token, jwt.PyJWKSet.from_dict(jwks).keys[0], algorithms=["RS256"], audience=audience,
                      issuer=issuer)


def _nb06(build):
    """A notebook 06 answer built live (Mallory's requests and codes work once)."""
    def make(lab):
        from apisec_lab.book import nb06
        return build(lab, nb06)
    return make


def _mallorys_link_page(lab, nb06, request, path="/link/callback", tag="form"):
    code = nb06.mallorys_code(lab, request)
    target = f"{lab.web_url}{path}"
    body = (f"<img src='{target}?code={code}&state=x'>" if tag == "img" else
            f"<form action='{target}'><input type=hidden name=code value='{code}'>"
            "<input type=hidden name=state value=x></form><script>document.forms[0].submit()</script>")
    return lab.attacker.serve("/cats", body)


def _photosync_code(lab, nb06, verifier=None):
    nb06.alice_runs_photosync(lab)
    code = lab.attacker.last().query["code"]
    return {"code": code, "code_verifier": code if verifier is None else verifier}


#: At least two wrong answers per exercise, near misses first: (answer, or lab -> answer; what the check must say).
NEAR_MISSES = {
    "nb00.warmup": [('{"status": "ok"}', "that is text"), ({"status": "fine"}, "is not")],
    "nb01.q1": [(("alice", "wonderland-2026"), "not 'alice'"), (("bob", "wrong"), "right user, wrong password")],
    "nb01.q2": [({"/photos"}, "what PhotoPrint Classic needs"), ({"/me", "/photos"}, "answered 200 too")],
    "nb02.q1": [("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "the verifier itself"),
                ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=", "padding")],
    "nb02.q2": [(_form_without_verifier, "that is PKCE at work"), ({"grant_type": "password"}, "MUST be")],
    "nb02.q3": [(_connect("photocli", ["photos:read"]), "belongs to photocli"), ("at_made_up", "inactive")],
    "nb02.q4": [(_after_the_morning({"QuickPrint", "PhotoPrint Classic"}), "SnapFrame's request was refused"),
                (_after_the_morning({"QuickPrint", "PhotoPrint Classic", "SnapFrame", "ChatPal"}),
                 "ChatPal never had Alice's password"),
                (_after_the_morning({"QuickPrint", "Nightly Reports Bot"}), "its own client secret"),
                (_after_the_morning("QuickPrint, SnapFrame"), "give a set of app names")],
    "nb03.q1": [("messages:write", "send"), ("photos:read", "WWW-Authenticate")],
    "nb03.q2": [(_connect("photoprint", ["profile:read", "photos:read"]), "untick profile:read"),
                (["photos:read"], "access token")],
    "nb03.q3": [(_connect("photoprint", ["photos:read"]), "did not come from refreshing"),
                (_connect("photoprint", None, "refresh_token"), "not an access token")],
    "nb04.q1": [(_quiz_unrevoked, "ChatPal still works"), ("quiz", "pass the dashboard")],
    "nb04.q2": [(900, "count from the revocation"), (9, "looks like minutes")],
    "nb05.q1": [({"per_client": Limit(10, 1)}, "600 requests a minute"), ({"per_user": Limit(20, 60)}, "per *user*")],
    "nb05.q2": [(_mixed_traffic_own_photo, "their own photo"), ("5", "an int")],
    "nb05.q3": [(5, "for up to 5 s"), (0, "turns the cache off")],
    "nb06.q1": [(_nb06(lambda lab, nb06: lab.web_url + "/prints"), "no code of Alice's"),
                (_nb06(lambda lab, nb06: lab.attacker.serve("/img", f"<img src='{lab.web_url}/login'>")),
                 "as an image"), (42, "send Alice a web address")],
    "nb06.q2": [(_nb06(lambda lab, nb06: nb06.mallory_sign_in(lab)), "PhotoPrint's own callback"),
                (_nb06(lambda lab, nb06: nb06.swap(nb06.mallory_sign_in(lab), redirect_uri=lab.web_url + "/prints")),
                 "Mismatching redirect URI"),
                (_nb06(lambda lab, nb06: nb06.swap(nb06.mallory_sign_in(lab), state="made-up-state",
                                                   redirect_uri=lab.web_url + "/callback/../prints")),
                 "Mallory's own sign-in")],
    "nb06.q3": [(_nb06(lambda lab, nb06: nb06.swap(nb06.mallory_sign_in(lab),
                                                   redirect_uri=lab.web_url + "/callback/../prints")), "lab 2's way"),
                (_nb06(lambda lab, nb06: nb06.swap(nb06.mallory_sign_in(lab), redirect_uri=lab.web_url + "/out")),
                 "Mismatching redirect URI")],
    "nb06.q4": [(_nb06(lambda lab, nb06: _mallorys_link_page(lab, nb06, nb06.link_request(lab), tag="img")),
                 "as an image"),
                (_nb06(lambda lab, nb06: _mallorys_link_page(lab, nb06, nb06.swap(
                    nb06.mallory_sign_in(lab), redirect_uri=lab.web_url + "/link/callback", scope="profile:read"))),
                 "PKCE is CSRF protection too"),
                (_nb06(lambda lab, nb06: _mallorys_link_page(lab, nb06, nb06.swap(
                    nb06.mallory_sign_in(lab), code_challenge=None, code_challenge_method=None), path="/callback")),
                 "login CSRF")],
    "nb06.q5": [(_nb06(lambda lab, nb06: _photosync_code(lab, nb06)), "the code itself"),
                (_nb06(lambda lab, nb06: _photosync_code(lab, nb06, verifier="v" * 43)), "the very value"),
                ({"code": "x", "code_verifier": "y"}, "not one the lab issued to PhotoSync")],
    "nb06.q6": [(lambda lab: lambda registered, c: any(c.startswith(r) for r in registered), "a path under the callback"),
                (lambda lab: lambda registered, c: False, "refuses a legitimate request"),
                (lambda lab: lambda registered, c: c.split("?")[0] in registered, "an added query parameter"),
                (lambda lab: lambda registered, c: (c or "").rstrip("/") in registered, "a trailing slash")],
    "nb07.q1": [(_forged_without_payment_scope, "no payment:read"), (_bobs_own_token, "the authorization server issued")],
    "nb07.q2": [(lambda lab: _verifier_without_typ_or_require, "accepted 'no exp at all'"),
                (lambda lab: _verifier_decoding_only, "accepted 'alg none'")],
    "nb08.q1": [(lambda lab: "photo-api-role", "name of the role"),
                (lambda lab: lab.metadata_service.secret_access_key, "lucky answer")],
    "nb08.q2": [(lambda lab: lambda body: {k: v for k, v in body.items() if k != "role"}, "plan would be written"),
                (lambda lab: lambda body: {}, "honest profile update must still go through")],
    "nb08.q3": [(lambda lab: lambda url: url.startswith(lab.attacker.url), "user info that looks like the outside"),
                (lambda lab: lambda url: False, "must still be delivered")],
}


def test_every_exercise_has_near_misses():
    assert sorted(NEAR_MISSES) == sorted(f"{m}.{n}" for m, n, _ in EXERCISES)
    assert all(len(wrong) >= 2 for wrong in NEAR_MISSES.values())


@pytest.mark.parametrize("module, name, exercise", EXERCISES, ids=[f"{m}.{n}" for m, n, _ in EXERCISES])
def test_near_misses_and_wrong_answers_fail_saying_why(lab, module, name, exercise):
    for answer, says in NEAR_MISSES[f"{module}.{name}"]:
        given = answer(lab) if callable(answer) else answer
        verdict = exercise.evaluate(given)
        assert not verdict and says in verdict.message, (given, verdict.message)
