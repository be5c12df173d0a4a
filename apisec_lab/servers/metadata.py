"""The metadata service: the API's cloud credentials, meant for the API's own network only.

Cloud providers give every machine an *instance metadata service* at a link-local address
(169.254.169.254) that only the machine itself can reach: its name, its id, and the temporary credentials of
the role it runs as (``/latest/meta-data/iam/security-credentials/<role>``, in the shape of AWS's IMDSv1,
which answers any plain GET). Whoever makes the API fetch that URL holds the API's cloud keys: the prize of
server-side request forgery (OWASP API7:2023; Capital One lost 100 million records to exactly that in 2019).

Here it is a lab server of its own on 127.0.0.1, in the *internal* zone of the lab's network
(:mod:`.outbound`): the gateway never forwards to it (it is not one of the API's routes), and the API's
hardened webhook test refuses it. The credentials are made up, fresh for every lab, and unlock nothing.
Every request that reaches the service is kept in :attr:`MetadataService.records`.
"""
from __future__ import annotations

import collections
import datetime as _dt
import secrets
import threading
from dataclasses import dataclass

import pandas as pd
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..http.wsgi import json_response

#: The role the API's machine runs as.
ROLE = "photo-api-role"
#: Where the credentials are.
CREDENTIALS_PATH = f"/latest/meta-data/iam/security-credentials/{ROLE}"


@dataclass(frozen=True)
class Visit:
    """One request that reached the metadata service."""

    at: float          # lab clock
    method: str
    path: str
    user_agent: str


class MetadataService:
    """The WSGI handler of the metadata service (the lab wraps it with :func:`apisec_lab.http.wsgi.guard`)."""

    def __init__(self, clock, url: str = "", keep: int = 500):
        self.clock, self.url = clock, url
        self.access_key_id = "ASIA" + secrets.token_hex(8).upper()
        self.secret_access_key = secrets.token_urlsafe(30)
        self.session_token = secrets.token_urlsafe(48)
        self.instance_id = "i-" + secrets.token_hex(8)
        self._visits: collections.deque[Visit] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self._text = {
            "/": "latest\n", "/latest/": "meta-data/\n", "/latest/meta-data/": "hostname\ninstance-id\niam/\n",
            "/latest/meta-data/hostname": "photo-api.internal\n", "/latest/meta-data/instance-id": self.instance_id,
            "/latest/meta-data/iam/": "security-credentials/\n",
            "/latest/meta-data/iam/security-credentials/": ROLE + "\n"}
        self.urls = Map([Rule(path, endpoint="text", methods=["GET"]) for path in self._text]
                        + [Rule("/latest/meta-data/iam/security-credentials/<role>", endpoint="credentials",
                                methods=["GET"])], strict_slashes=False)

    def __call__(self, request: Request) -> Response:
        with self._lock:
            self._visits.append(Visit(self.clock.now(), request.method, request.path,
                                      request.headers.get("User-Agent", "")))
        rule, args = self.urls.bind_to_environ(request.environ).match(return_rule=True)
        if rule.endpoint == "text":
            return Response(self._text[rule.rule], mimetype="text/plain")
        if args["role"] != ROLE:
            raise NotFound(f"No role {args['role'][:60]!r} on this machine.")
        now = self.clock.datetime()
        return json_response({"Code": "Success", "LastUpdated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                              "Type": "AWS-HMAC", "AccessKeyId": self.access_key_id,
                              "SecretAccessKey": self.secret_access_key, "Token": self.session_token,
                              "Expiration": (now + _dt.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")})

    # -- what reached it -------------------------------------------------------
    @property
    def records(self) -> list[Visit]:
        with self._lock:
            return list(self._visits)

    def frame(self) -> pd.DataFrame:
        """One row per request that reached the service: when, what, and who said they were asking."""
        rows = [{"at": self.clock.datetime(v.at), "method": v.method, "path": v.path, "user_agent": v.user_agent}
                for v in self.records]
        return pd.DataFrame(rows, columns=["at", "method", "path", "user_agent"])

    def clear(self) -> None:
        with self._lock:
            self._visits.clear()

    def __repr__(self) -> str:       # never the credentials
        return f"<MetadataService {self.url}: role {ROLE}, {len(self._visits)} requests seen>"
