"""No secret reaches any log, at any level: codes, tokens, client secrets, passwords, verifiers.

oauthlib logs the codes it creates and the tokens it issues at DEBUG,
requests-oauthlib the token requests and responses, urllib3 every URL (a
redirect URI's query carries the code).  These tests turn every logger up to
DEBUG, with oauthlib's own debug mode on, run real flows, and look for every
secret the flows handled in everything that was logged.
"""
import contextlib
import logging
import sys

import oauthlib
import pytest

import apisec_lab
from apisec_lab.client import flows, selfcontained
from apisec_lab.oauth import logs

from .conftest import bearer, code_flow

ALICE = apisec_lab.DEMO_PASSWORDS["alice"]
BOB = apisec_lab.DEMO_PASSWORDS["bob"]
WRONG = "hunter2-not-alices"


@contextlib.contextmanager
def every_logger_at_debug():
    """Capture every record of every logger (existing or created meanwhile) at DEBUG, formatted."""
    lines = []

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Capture(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(), *(x for x in logging.Logger.manager.loggerDict.values()
                                      if isinstance(x, logging.Logger))]
    saved = [(x, x.level, x.disabled, x.propagate) for x in loggers]
    debug = oauthlib.get_debug()
    for x in loggers:
        x.setLevel(logging.DEBUG)
        x.disabled = False
        x.propagate = False
        x.addHandler(handler)
    oauthlib.set_debug(True)          # oauthlib's own switch: full request reprs in its lines
    try:
        yield lines
    finally:
        oauthlib.set_debug(debug)
        for x, level, disabled, propagate in saved:
            x.removeHandler(handler)
            x.setLevel(level)
            x.disabled = disabled
            x.propagate = propagate


def test_no_secret_reaches_any_log_while_real_flows_run(lab):
    secrets = {ALICE, BOB, WRONG, *(c.client_secret for c in lab.clients.values() if c.client_secret)}
    with every_logger_at_debug() as lines:
        # the code flow step by step; the browser lands on the redirect URI with the code in the URL
        app = flows.OAuthApp(lab, "photocli")
        url = app.start_login(["photos:read"])
        secrets.add(app.storage["code_verifier"])
        arrived = flows.follow_redirect(lab, lab.authorize(url, "alice", ALICE))
        secrets.add(arrived.code)
        secrets.update(v for k, v in app.exchange(app.receive(arrived)).items() if k.endswith("token"))
        secrets.update(v for k, v in app.refresh().items() if k.endswith("token"))
        assert app.call("/photos").status_code == 200
        # the same code again: a replay, logged on the error path
        assert flows.exchange_code(lab, "photocli", arrived.code, code_verifier="v" * 43).status_code == 400
        # requests-oauthlib, a confidential client (Basic) and its token in the gateway's path
        token = code_flow(lab, "photoprint", ["photos:read"])
        secrets.update((token["access_token"], token["refresh_token"]))
        with lab.session() as s:
            assert s.get(f"{lab.gateway_url}/photos", headers=bearer(token)).status_code == 200
            with lab.weaknesses.turned_on(token_in_query=True):
                assert s.get(f"{lab.api_url}/photos", params={"access_token": token["access_token"]}).ok
        with lab.weaknesses.turned_on(basic_auth=True):
            assert flows.call_api(lab, "/me", basic=("bob", BOB)).status_code == 200
        # client credentials, introspection, revocation (one's own, another client's)
        machine = flows.client_credentials(lab, "backup-bot", ["reports:read"]).json()["access_token"]
        secrets.add(machine)
        assert lab.introspect(machine)["active"]
        assert flows.revoke(lab, "chatpal", token["access_token"]).status_code == 400
        assert flows.revoke(lab, "photoprint", token["refresh_token"]).status_code == 200
        # a wrong password on the sign-in page, then the password grant
        with pytest.raises(apisec_lab.AuthorizationFailed):
            lab.authorize(app.start_login(["photos:read"]), "alice", WRONG)
        legacy = lab.register_client("Legacy", scopes=["photos:read"], grant_types=["password"])
        secrets.add(legacy.client_secret)
        with lab.weaknesses.turned_on(password_grant=True):
            r = flows.token_request(lab, legacy, {"grant_type": "password", "username": "bob", "password": BOB})
        secrets.add(r.json()["access_token"])
        # a JWT client (RFC 9068): its code flow, a refresh, and the API checking its JWT
        signed = selfcontained.jwt_app(lab, "JWT app", ["photos:read"])
        secrets.update((signed.access_token, signed.refresh_token))
        signed.refresh()
        secrets.update((signed.access_token, signed.refresh_token))
        assert signed.call("/photos").status_code == 200
    assert all(len(s) >= 8 for s in secrets)
    text = "\n".join(lines)
    leaked = sorted(s[:12] + "..." for s in secrets if s in text)
    assert not leaked, f"secrets in the log: {leaked}"
    # the capture saw what it had to see: the lines are there, with their secrets withheld
    assert "Created authorization code grant *** for request ***" in text
    assert "/photocli/callback?code=***&state=***" in text
    assert "access_token=***" in text
    assert any(line.startswith("requests_oauthlib") for line in lines)


def test_redact_hides_arguments_and_scrubs_what_was_formatted_before_logging():
    def record(name, msg, args=(), exc_info=None):
        return logging.LogRecord(name, logging.DEBUG, __file__, 1, msg, args, exc_info)

    r = record("oauthlib.oauth2.x", "Issuing %r to %s for %d s", ({"access_token": "at_" + "a" * 43}, "bob", 900))
    logs.redact(r)
    assert r.getMessage() == "Issuing *** to *** for 900 s"
    r = record("oauthlib.oauth2.x", "Endpoint unavailable, ignoring request /token?refresh_token=rt_abcdefgh1234 now")
    logs.redact(r)
    assert r.getMessage() == "Endpoint unavailable, ignoring request /token?refresh_token=*** now"
    r = record("urllib3.connectionpool", '%s://%s:%s "%s %s %s" %s %s',
               ("http", "127.0.0.1", 8000, "GET", "/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz", "HTTP/1.1", 302, 0))
    logs.redact(r)
    assert r.getMessage() == 'http://127.0.0.1:8000 "GET /cb?code=***&state=*** HTTP/1.1" 302 0'
    r = record("requests_oauthlib.oauth2_session", "Supplying headers %s and data %s",
               ({"Authorization": "Basic cGhvdG86c2VjcmV0"}, {"client_secret": "s3cr3t-s3cr3t"}))
    logs.redact(r)
    assert "cGhvdG86" not in r.getMessage() and "s3cr3t" not in r.getMessage()
    try:
        raise ValueError("bad token at_" + "b" * 43 + " and {'password': 'wonderland'}")
    except ValueError:
        r = record("oauthlib.x", "boom", exc_info=sys.exc_info())
    logs.redact(r)
    assert r.exc_info is None and "at_***" in r.exc_text and "wonderland" not in r.exc_text
    assert logs.scrub("Authorization: Bearer abc.def-123") == "Authorization: Bearer ***"
    assert logs.scrub("grant {'code': 'abc123xyz'}") == "grant {'code': '***'}"
    assert logs.scrub("issued eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln now") == "issued eyJ*** now"


def test_other_loggers_are_left_alone_and_installing_twice_wraps_once(lab):
    factory = logging.getLogRecordFactory()
    assert getattr(factory, "apisec_lab_redacts", False)
    logs.keep_secrets_out_of_logs()
    assert logging.getLogRecordFactory() is factory
    r = logging.getLogRecordFactory()("myapp", logging.INFO, __file__, 1, "token=%s", ("kept",), None)
    assert r.getMessage() == "token=kept"


def test_no_secret_of_notebook_06_reaches_any_log(lab):
    """PhotoPrint's website (requests-oauthlib on its side), Alice's browser and the sign-in session, at DEBUG."""
    from urllib.parse import parse_qsl, urlsplit
    with every_logger_at_debug() as lines:
        alice = lab.victim                                   # her sign-in, "Stay signed in" ticked
        alice.visit(lab.web_url + "/login")                  # the silent one
        with lab.weaknesses.turned_on(referrer_leak=True):
            alice.visit(lab.web_url + "/login")              # and a code in a Referer
    secrets = {ALICE, lab.clients["photoprint-web"].client_secret,
               *alice.cookies(lab.web_url).values(), *alice.cookies(lab.issuer).values()}
    for hop in alice.history:
        secrets.update(v for k, v in parse_qsl(urlsplit(hop.url).query) if k in ("code", "state", "code_challenge"))
    secrets.update(t for a in lab.photoprint._accounts.values() for t in a.tokens.values())
    logged = "\n".join(lines)
    assert lines and len(secrets) > 8
    leaked = [s for s in secrets if s and s in logged]
    assert not leaked, f"{len(leaked)} secrets in the logs"
