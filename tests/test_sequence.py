"""Sequence diagrams drawn from the wiretap's captures (apisec_lab/servers/sequence.py, ``lab.wiretap.sequence``).

Who sent each request is read from the bytes (the endpoint, the client a request names, the grant a token
belongs to, the User-Agent the lab's actors send); the diagram is stable from run to run, masks every
secret, and renders as Mermaid (``text/vnd.mermaid``) with a text fallback.  The browser test
(tests/browser/test_nb02.py) checks that JupyterLab draws it as SVG in both themes.
"""
from __future__ import annotations

import re

import pytest

import apisec_lab
from apisec_lab.client import flows
from apisec_lab.core.cast import BROWSER_AGENT, named_by, user_agent
from apisec_lab.servers.sequence import TINTS, draw, request_credentials

ALICE = apisec_lab.DEMO_PASSWORDS["alice"]


def code_flow(lab, client="photocli", scopes=("profile:read", "photos:read")):
    """The code flow step by step through the wiretap (as notebook 02 runs it); the app and its secrets."""
    app = flows.OAuthApp(lab, client, tapped=True)
    url = app.start_login(list(scopes))
    verifier, state = app.storage["code_verifier"], app.storage["state"]
    redirect = lab.authorize(url, "alice", ALICE, tapped=True)
    app.exchange(app.receive(flows.follow_redirect(lab, redirect, tapped=True)))
    app.call("/photos")
    return app, [ALICE, verifier, state, redirect.code, app.access_token, app.refresh_token,
                 url.split("code_challenge=")[1].split("&")[0]]


def test_the_code_flow_has_one_lane_per_party_and_an_arrow_each_way_per_request(lab):
    code_flow(lab)
    seq = lab.wiretap.sequence()
    assert seq.lanes == ("Browser", "PhotoCLI", "Authorization server", "API")
    requests = [(a.source, a.target, a.head) for a in seq.arrows if not a.answer]
    assert requests == [("Browser", "Authorization server", "1 · POST /authorize"),
                        ("Browser", "PhotoCLI", "2 · GET /photocli/callback"),
                        ("PhotoCLI", "Authorization server", "3 · POST /token"),
                        ("PhotoCLI", "API", "4 · GET /photos")]
    answers = [(a.source, a.target, a.head) for a in seq.arrows if a.answer]
    assert answers == [("Authorization server", "Browser", "302 Found → PhotoCLI"), ("PhotoCLI", "Browser", "200 OK"),
                       ("Authorization server", "PhotoCLI", "200 OK"), ("API", "PhotoCLI", "200 OK")]
    # the parameters that matter, and what came back
    assert seq.arrows[0].details == ("client_id=photocli", "scope=profile:read photos:read", "state=***",
                                     "code_challenge=***")
    assert seq.arrows[1].details == ("state=***",) and seq.arrows[1].carries == ("code (in the Location URL)",)
    assert seq.arrows[4].details == ("grant_type=authorization_code", "client_id=photocli")
    assert seq.arrows[5].details == ("token_type=Bearer", "scope=profile:read photos:read")
    assert seq.arrows[5].carries == ("access token", "refresh token")


def test_the_password_crosses_once_in_the_code_flow_and_the_band_says_so(lab):
    code_flow(lab)
    seq = lab.wiretap.sequence()
    crossing = seq.carrying("password of alice")
    assert [(a.source, a.target, a.kind) for a in crossing] == [("Browser", "Authorization server", "password")]
    mermaid = seq.mermaid()
    assert mermaid.count(f"rect {TINTS['password']}") == 1
    assert mermaid.count(f"rect {TINTS['secret']}") == len([a for a in seq.arrows if a.kind == "secret"]) == 5
    assert "red band: a user's password crosses" in mermaid


def test_no_secret_reaches_the_picture_or_its_text(lab):
    """Codes, states, verifiers, challenges, tokens and the password: masked or named, never shown."""
    _, secrets = code_flow(lab)
    lab.weaknesses.token_in_query = True
    with lab.session(tapped=True) as s:
        s.get(f"{lab.gateway_url}/me", params={"access_token": secrets[4]})
        s.get(f"{lab.api_url}/me", params={"access_token": secrets[4]})
    seq = lab.wiretap.sequence()
    for shown in (seq.mermaid(), seq.text(), repr(seq)):
        for secret in secrets:
            assert secret not in shown


def test_the_output_is_stable_from_run_to_run(lab):
    code_flow(lab)
    first = lab.wiretap.sequence()
    lab.reset()
    code_flow(lab)
    again = lab.wiretap.sequence()
    assert (first.mermaid(), first.text()) == (again.mermaid(), again.text())


def test_it_displays_as_mermaid_with_a_text_fallback(lab):
    code_flow(lab)
    seq = lab.wiretap.sequence(title="The code flow")
    bundle = seq._repr_mimebundle_()
    assert set(bundle) == {"text/vnd.mermaid", "text/plain"}
    mermaid = bundle["text/vnd.mermaid"]
    assert mermaid.startswith("sequenceDiagram\n    title The code flow\n    accTitle: The code flow\n")
    assert re.findall(r"participant (p\d) as (.+)", mermaid) == [
        ("p1", "Browser"), ("p2", "PhotoCLI"), ("p3", "Authorization server"), ("p4", "API")]
    assert mermaid.count("->>") - mermaid.count("-->>") == 4 and mermaid.count("-->>") == 4
    text = bundle["text/plain"]
    assert text.splitlines()[:3] == [
        "The code flow (wiretap exchanges 1 to 4)", "lanes: Browser | PhotoCLI | Authorization server | API",
        "!! Browser -> Authorization server: 1 · POST /authorize | client_id=photocli, scope=profile:read "
        "photos:read, state=***, code_challenge=*** | carries password of alice (form)"]
    assert repr(seq) == text


def test_a_range_of_captures_or_a_list_of_them(lab):
    code_flow(lab)
    mark = lab.wiretap.mark()
    assert mark == 5
    flows.client_credentials(lab, lab.clients["backup-bot"], ["reports:read"], tapped=True)
    assert lab.wiretap.sequence(first=mark).lanes == ("Nightly Reports Bot", "Authorization server")
    assert lab.wiretap.sequence(first=3, last=3).exchanges == (3,)
    assert lab.wiretap.sequence(lab.wiretap.find("GET /photocli/callback")).lanes == ("Browser", "PhotoCLI")
    assert lab.wiretap.sequence(first=mark).span == "exchange 5"


def test_nothing_captured_is_a_valid_picture(lab):
    seq = lab.wiretap.sequence()
    assert seq.lanes == () and seq.text().startswith("wiretap no exchanges")
    assert "Note over p0: nothing captured" in seq.mermaid()


# -- who sent it ----------------------------------------------------------------------------------
def test_rfc6749_s2_3_1_a_token_request_is_drawn_in_the_lane_of_the_client_it_names(lab):
    """No User-Agent names anyone here (a library's default): the client's own authentication does."""
    flows.client_credentials(lab, lab.clients["backup-bot"], ["reports:read"], tapped=True)          # Basic
    app = flows.OAuthApp(lab, "photocli")
    code = app.receive(lab.authorize(app.start_login(["photos:read"]), "alice", ALICE))
    flows.exchange_code(lab, "photocli", code, code_verifier=app.storage["code_verifier"], tapped=True)  # client_id
    seq = lab.wiretap.sequence()
    assert [x.request.headers["User-Agent"] for x in lab.wiretap.records] == [flows.USER_AGENT] * 2
    assert seq.senders() == ["Nightly Reports Bot", "PhotoCLI"]
    assert seq.arrows[0].carries == ("client secret of backup-bot (Basic)",)


def test_rfc6750_a_bearer_token_is_drawn_in_the_lane_of_its_grants_client(lab):
    token = flows.code_flow(lab, "chatpal", "alice", ALICE, ["messages:read"])["access_token"]
    flows.call_api(lab, "/messages", token=token, tapped=True)                  # a library's User-Agent
    flows.call_api(lab, "/messages", token="at_" + "x" * 43, tapped=True)      # a token nobody issued
    seq = lab.wiretap.sequence()
    assert seq.senders() == ["ChatPal", "Client"]
    assert seq.arrows[-1].head == "401 Unauthorized"
    assert seq.arrows[-1].details == ("error=invalid_token", "The access token is not one this server issued")


def test_the_lab_plays_the_browser_and_names_it(lab):
    app = flows.OAuthApp(lab, "photoprint", tapped=True)
    redirect = lab.authorize(app.start_login(["photos:read"]), "alice", ALICE, tapped=True)
    flows.follow_redirect(lab, redirect, tapped=True)
    assert {x.request.headers["User-Agent"] for x in lab.wiretap.records} == {BROWSER_AGENT}
    assert lab.wiretap.sequence().senders() == ["Browser"]


def test_an_agent_that_names_someone_else_is_drawn_in_its_own_lane_as_whom_it_claimed(lab):
    """The thief presents PhotoCLI's refresh token in PhotoCLI's name: what the server cannot tell apart."""
    app = flows.OAuthApp(lab, "photocli").sign_in("alice", ALICE, ["photos:read"])
    stolen = app.refresh_token
    app.refresh()
    flows.refresh(lab, "photocli", stolen, tapped=True, user_agent=flows.agent("Thief"))
    seq = lab.wiretap.sequence()
    assert seq.lanes == ("Thief", "Authorization server")
    assert seq.arrows[0].details[0] == "as PhotoCLI" and seq.arrows[0].carries == ("refresh token",)
    assert seq.arrows[1].details == ("error=invalid_grant",)


def test_the_lab_apps_name_themselves_in_user_agent():
    assert user_agent("PhotoPrint Classic") == "PhotoPrintClassic/1.0 (PhotoPrint Classic)"
    assert user_agent("PhotoCLI", "2.0") == "PhotoCLI/2.0"
    assert named_by("PhotoPrintClassic/1.0 (PhotoPrint Classic)") == "PhotoPrint Classic"
    assert named_by("PhotoCLI/2.0") == "PhotoCLI"
    assert named_by(BROWSER_AGENT) == named_by("Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0") == "Browser"
    for nobody in ("python-requests/2.34.2", flows.USER_AGENT, "curl/8.5.0", "", None, "(("):
        assert named_by(nobody) is None


def test_basic_auth_apps_are_told_apart_only_by_their_user_agent(lab):
    lab.weaknesses.basic_auth = True
    flows.PasswordApp(lab, "PhotoPrint Classic").sign_in("alice", ALICE).call("/photos")
    flows.PasswordApp(lab, "Attacker").sign_in("alice", ALICE).call("/payment")
    flows.call_api(lab, "/me", basic=("alice", ALICE), tapped=True)
    seq = lab.wiretap.sequence()
    assert seq.senders() == ["PhotoPrint Classic", "Attacker", "Client"]
    assert {a.source for a in seq.carrying("password of alice (Basic)")} == {"PhotoPrint Classic", "Attacker", "Client"}
    assert all(a.kind == "password" for a in seq.arrows if not a.answer)


def test_rfc9700_s2_4_the_password_grant_is_drawn_from_the_app_with_the_password_on_it(lab):
    quick = lab.register_client("QuickPrint", scopes=["photos:read"], grant_types=["password"])
    with lab.weaknesses.turned_on(password_grant=True):
        app = flows.PasswordGrantApp(lab, quick, tapped=True).sign_in("alice", ALICE, ["photos:read"])
    app.call("/photos")
    seq = lab.wiretap.sequence()
    assert seq.lanes == ("QuickPrint", "Authorization server", "API")      # no browser: no sign-in page
    assert [a.source for a in seq.carrying("password of alice (form)")] == ["QuickPrint"]
    assert seq.arrows[0].details == ("grant_type=password", "scope=photos:read")


# -- who answered --------------------------------------------------------------------------------
def test_rfc9209_the_gateway_hop_to_the_api_is_drawn_only_when_the_gateway_forwarded(lab):
    token = flows.code_flow(lab, "photocli", "alice", ALICE, ["profile:read"])["access_token"]
    with lab.session(tapped=True) as s:
        s.get(f"{lab.gateway_url}/me", headers={"Authorization": f"Bearer {token}"})
        s.get(f"{lab.gateway_url}/me", params={"access_token": token})
    seq = lab.wiretap.sequence()
    assert seq.lanes == ("PhotoCLI", "Gateway", "API")
    assert [(a.source, a.target, a.head) for a in seq.arrows] == [
        ("PhotoCLI", "Gateway", "1 · GET /me"), ("Gateway", "API", "forwards GET /me"), ("API", "Gateway", "200 OK"),
        ("Gateway", "PhotoCLI", "200 OK"),
        ("PhotoCLI", "Gateway", "2 · GET /me"), ("Gateway", "PhotoCLI", "400 Bad Request")]
    assert seq.arrows[1].carries == ("access token (Bearer)",)
    assert seq.arrows[-1].details == ("error=invalid_request", "refused by the gateway: credential_in_url")


def test_a_redirect_to_the_attackers_server_points_at_its_lane(lab):
    lab.attacker.redirect("/go", f"{lab.attacker.url}/landed?code=stolen-code-1234")
    with lab.session(tapped=True) as s:
        s.get(f"{lab.attacker.url}/go", allow_redirects=False, headers={"User-Agent": BROWSER_AGENT})
    seq = lab.wiretap.sequence()
    assert seq.lanes == ("Browser", "Attacker's server")
    assert seq.arrows[1].head == "302 Found → Attacker's server"
    assert seq.arrows[1].carries == ("code (in the Location URL)",)
    assert "stolen-code-1234" not in seq.mermaid() + seq.text()


def test_owasp_api7_the_apis_own_request_is_drawn_inside_the_request_that_made_it(lab):
    """A webhook test fetches a URL while the client's request is open: the API's arrow sits between the gateway's
    forward and the answers, in the API's lane (the API's requests name themselves), to the metadata service's."""
    app = lab.register_client("Own", redirect_uris=[f"{lab.apps_url}/{{client_id}}/callback"], scopes=["prints:write"])
    token = flows.code_flow(lab, app.client_id, "alice", ALICE, ["prints:write"])["access_token"]
    url = lab.metadata_service.url + "/latest/meta-data/"
    with lab.weaknesses.turned_on(ssrf=True), lab.session(tapped=True) as s:
        s.post(f"{lab.gateway_url}/webhooks/test", json={"url": url}, headers={"Authorization": f"Bearer {token}"})
        s.get(f"{lab.gateway_url}/health", headers={"Authorization": f"Bearer {token}"})
    seq = lab.wiretap.sequence()
    assert seq.lanes == ("Own", "Gateway", "API", "Metadata service")
    assert [(a.source, a.target, a.head) for a in seq.arrows] == [
        ("Own", "Gateway", "1 · POST /webhooks/test"), ("Gateway", "API", "forwards POST /webhooks/test"),
        ("API", "Metadata service", "2 · GET /latest/meta-data/"), ("Metadata service", "API", "200 OK"),
        ("API", "Gateway", "200 OK"), ("Gateway", "Own", "200 OK"),
        ("Own", "Gateway", "3 · GET /health"), ("Gateway", "API", "forwards GET /health"), ("API", "Gateway", "200 OK"),
        ("Gateway", "Own", "200 OK")]


def test_the_sign_in_pages_answer_is_read_off_the_page(lab):
    app = flows.OAuthApp(lab, "photocli")
    with pytest.raises(apisec_lab.AuthorizationFailed):
        lab.authorize(app.start_login(["photos:read"]), "alice", "not-her-password", tapped=True)
    (answer,) = [a for a in lab.wiretap.sequence().arrows if a.answer]
    assert (answer.head, answer.details) == ("403 Forbidden", ("page: Wrong username or password",))
    assert lab.wiretap.sequence().arrows[0].carries == ("password of alice (form)",)


def test_mermaid_statements_survive_any_name(lab):
    """``;`` ends a Mermaid statement, ``#...;`` is an entity, ``<`` starts markup: a client's name is data."""
    odd = lab.register_client("Evil; <b>#1</b> %% app", scopes=["reports:read"])
    flows.client_credentials(lab, odd, ["reports:read"], tapped=True)
    mermaid = lab.wiretap.sequence().mermaid()
    assert "participant p1 as Evil#59; #60;b#62;#35;1#60;/b#62; #37;#37; app" in mermaid
    for line in mermaid.splitlines():
        bare = re.sub(r"#\d+;", "", line).replace("<br/>", "")
        assert ";" not in bare and "<" not in bare and ">" not in bare.replace("->>", "").replace("-->>", ""), line


def test_request_credentials_name_each_credential_in_words(lab):
    token = flows.code_flow(lab, "photoprint", "alice", ALICE, ["photos:read"])
    flows.revoke(lab, "photoprint", token["refresh_token"], tapped=True)
    (x,) = lab.wiretap.records
    assert request_credentials(x, lab.store) == ["client secret of photoprint (Basic)", "refresh token"]
    assert request_credentials(x) == ["password of photoprint (Basic)", "token"]    # without the store: a guess
    assert draw([x], store=lab.store).arrows[0].head == "1 · POST /revoke"


def test_owasp_api2_2023_the_sign_in_throttle_is_drawn_minute_stable(lab):
    """A throttled answer says when to retry in minutes, so the picture is the same a second later."""
    from apisec_lab.book import nb05
    guessing = nb05.guess_on_sign_in_page(lab, guesses=("no", "nope", "nah", "not-it", "wrong", "still-wrong"))
    seq = lab.wiretap.sequence(first=guessing.first)
    assert seq.senders() == ["Attacker"] and len(seq.carrying("password of bob")) == 6
    throttled = [a for a in seq.arrows if a.head == "429 Too Many Requests"]
    assert [a.details for a in throttled] == [
        ("page: Too many failed sign-ins for this account. Try again in 15 minutes", "retry after 15 min")]
    from apisec_lab.servers.sequence import _retry_after
    assert _retry_after("899") == _retry_after("900") == "retry after 15 min"     # a slow machine, the same picture
    assert (_retry_after("59"), _retry_after("soon")) == ("retry after 59 s", "Retry-After")
