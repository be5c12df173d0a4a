"""Notebook 08's attacker: an ordinary user, an app of her own, and the requests her script sends.

None of the flaws of notebook 08 needs a stolen token. Alice registers an app of her own (any developer
portal lets her), signs in with her own account (the code flow of notebook 02) and gets an ordinary token;
then she calls the API directly instead of through the app's screens. :class:`Caller` sends those calls
through the gateway (the API's public door) and through the wiretap, so every one is on the record.
"""
from __future__ import annotations

import json

import requests

from ...client.flows import OAuthApp
from ..common import Text, connect

#: What Alice's own app asks for: her profile (and to change it), her photos, and the print shop.
APP_SCOPES = ("profile:read", "profile:write", "photos:read", "prints:write")
#: The doors a request can take to the API.
DOORS = {"api": "straight to the API", "gateway": "through the gateway"}

_apps: dict[tuple[int, str], OAuthApp] = {}


def own_app(lab, user: str = "alice") -> OAuthApp:
    """*user* registers an app of their own and signs in with it (code flow with PKCE); the signed-in app."""
    creds = lab.register_client(f"{user.title()}'s own app", redirect_uris=[f"{lab.apps_url}/{{client_id}}/callback"],
                                scopes=list(APP_SCOPES),
                                description="An app the user registered herself, as any developer portal allows.")
    app = connect(lab, creds.client_id, user=user)
    _apps[(id(lab), user)] = app
    return app


def token_for(lab, user: str = "alice") -> str:
    """An active access token of *user*'s own app: the last one :func:`own_app` made, or a new one."""
    app = _apps.get((id(lab), user))
    if app is None or lab.store.token_state(lab.store.token(app.access_token)) != "active":
        app = own_app(lab, user)
    return app.access_token


def base_url(lab, via: str) -> str:
    if via not in DOORS:
        raise ValueError(f"via is 'gateway' or 'api', not {via!r}")
    return lab.gateway_url if via == "gateway" else lab.api_url


class Answer:
    """What came back: ``.status``, ``.json()``, ``.response``; shown as the status line and the body (cut short)."""

    def __init__(self, response: requests.Response, limit: int = 1200):
        self.response, self.limit = response, limit
        self.status = response.status_code

    def json(self):
        return self.response.json()

    def __repr__(self) -> str:
        r = self.response
        try:
            body = json.dumps(r.json(), indent=1, ensure_ascii=False)
        except ValueError:
            body = r.text
        if len(body) > self.limit:
            body = body[:self.limit] + f"\n... ({len(r.content) - self.limit:,} more bytes)"
        return f"HTTP {r.status_code} {r.reason}\n{body}"


class Caller:
    """Requests with one access token, to the gateway (``via="gateway"``) or straight to the API, through the wiretap.

    ``caller.get("/me/account")``, ``caller.patch("/me", json={...})``, ``caller.post(...)``: each returns
    an :class:`Answer`. The token goes in ``Authorization: Bearer``, nothing else is added.
    """

    def __init__(self, lab, token: str, via: str = "gateway", who: str = "alice"):
        self.lab, self.token, self.who = lab, token, who
        self.url = base_url(lab, via)
        self.via = via

    def request(self, method: str, path: str, **kwargs) -> Answer:
        with self.lab.session(tapped=True) as s:
            r = s.request(method, self.url + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=10,
                          **kwargs)
        return Answer(r)

    def get(self, path: str, **kwargs) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Answer:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> Answer:
        return self.request("PATCH", path, **kwargs)

    def __repr__(self) -> str:
        info = self.lab.introspect(self.token)
        return str(Text(f"{self.who}'s requests {DOORS[self.via]} ({self.url}), through the wiretap\n"
                        f"  token of {info.get('client_id', '?')}: {'active' if info.get('active') else 'not active'},"
                        f" scope {info.get('scope', '')}"))
