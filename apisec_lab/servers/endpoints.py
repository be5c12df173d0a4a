"""The resource API's operations, declared once.

Every endpoint declares, in the single :data:`ENDPOINTS` table, its method,
path, the OAuth 2 scope it needs and how sensitive it is.  The API's routing
and authentication (:mod:`.api`), the OpenAPI document (:mod:`.openapi`) and
the gateway's route policy (:mod:`.gateway`) all read this table, so a scope
is written down exactly once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: A werkzeug rule's placeholders, ``<int:photo_id>`` or ``<name>``: (converter, name).
RULE_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def openapi_path(rule: str) -> str:
    """``/photos/<int:photo_id>`` -> ``/photos/{photo_id}`` (OpenAPI's path template)."""
    return RULE_PARAM.sub(r"{\2}", rule)


REALM = "apisec-lab"
#: RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True)
class Endpoint:
    """One operation of the API, declared once."""

    method: str
    path: str                  # a werkzeug rule, e.g. /photos/<int:photo_id>
    handler: str               # ResourceAPI method name
    scope: str | None          # None: no credentials needed
    summary: str
    sensitivity: str           # public, low, medium, high, critical
    published: bool = True     # unpublished routes are left out of openapi.json
    for_user: bool = True      # needs a user behind the token (not client credentials)
    body: dict | None = None   # JSON schema of the request body
    response: dict | None = None   # JSON schema of the success body (200, or 201 for POST)
    not_found: str | None = None   # when it answers 404, and why

    @property
    def openapi_path(self) -> str:
        return openapi_path(self.path)


PHOTO_BODY = {"type": "object", "required": ["title"], "additionalProperties": False,
              "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 200}}}
MESSAGE_BODY = {"type": "object", "required": ["to", "text"], "additionalProperties": False,
                "properties": {"to": {"type": "string"}, "text": {"type": "string", "minLength": 1, "maxLength": 2000}}}
PAYMENT_BODY = {"type": "object", "additionalProperties": False, "minProperties": 1,
                "properties": {"card_holder": {"type": "string", "maxLength": 100},
                               "card_last4": {"type": "string", "pattern": "^[0-9]{4}$"},
                               "expiry": {"type": "string", "pattern": "^(0[1-9]|1[0-2])/[0-9]{2}$"},
                               "billing_city": {"type": "string", "maxLength": 100}}}


def _object(**properties) -> dict:
    """A JSON object with exactly these properties, every one present."""
    return {"type": "object", "required": list(properties), "additionalProperties": False,
            "properties": properties}


_STRING, _INTEGER = {"type": "string"}, {"type": "integer"}
PHOTO = _object(id=_INTEGER, owner=_STRING, title=_STRING, taken={"type": "string", "format": "date"})
MESSAGE = _object(id=_INTEGER, owner=_STRING, sender=_STRING, text=_STRING)
PAYMENT = _object(owner=_STRING, card_holder=_STRING, card_last4=_STRING, expiry=_STRING, billing_city=_STRING)
HEALTH = _object(status={"type": "string", "enum": ["ok"]})
DOCUMENT = {"type": "object", "required": ["openapi", "info", "paths"]}
PROFILE = _object(username=_STRING, display_name=_STRING, email=_STRING)
SENT = _object(id=_INTEGER, to=_STRING, sender=_STRING, text=_STRING)
USAGE = _object(counts=_object(users=_INTEGER, photos=_INTEGER, messages=_INTEGER, grants=_INTEGER),
                generated_for=_STRING)
ACCOUNTS = {"type": "array", "items": PROFILE}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/health", "health", None, "Is the API up?", "public", for_user=False, response=HEALTH),
    Endpoint("GET", "/openapi.json", "openapi", None, "This API's OpenAPI 3 document", "public", for_user=False,
             response=DOCUMENT),
    Endpoint("GET", "/me", "me", "profile:read", "The signed-in user's name and email", "low", response=PROFILE),
    Endpoint("GET", "/photos", "list_photos", "photos:read", "The user's photos", "medium",
             response={"type": "array", "items": PHOTO}),
    Endpoint("GET", "/photos/<int:photo_id>", "get_photo", "photos:read", "One of the user's photos", "medium",
             response=PHOTO, not_found="No such photo in your account (another user's photos are not found either)"),
    Endpoint("POST", "/photos", "add_photo", "photos:write", "Upload a photo", "medium", body=PHOTO_BODY,
             response=PHOTO),
    Endpoint("GET", "/messages", "list_messages", "messages:read", "The user's private messages", "high",
             response={"type": "array", "items": MESSAGE}),
    Endpoint("POST", "/messages", "send_message", "messages:write", "Send a message as the user", "high",
             body=MESSAGE_BODY, response=SENT, not_found="No user with that name to send to"),
    Endpoint("GET", "/payment", "get_payment", "payment:read", "The user's saved card", "critical", response=PAYMENT,
             not_found="The user has no saved card"),
    Endpoint("PUT", "/payment", "set_payment", "payment:write", "Change the user's saved card", "critical",
             body=PAYMENT_BODY, response=PAYMENT, not_found="The user has no saved card to change"),
    Endpoint("GET", "/reports/usage", "usage_report", "reports:read", "Service usage counts (machine-to-machine)",
             "low", for_user=False, response=USAGE),
    Endpoint("GET", "/admin/users", "admin_users", "admin", "Every account (internal; not published)",
             "critical", published=False, for_user=False, response=ACCOUNTS),
)

#: Scopes a token without a user (client credentials) can use: those of published operations that need no user.
MACHINE_SCOPES: tuple[str, ...] = tuple(dict.fromkeys(e.scope for e in ENDPOINTS
                                                      if e.published and e.scope and not e.for_user))
#: Scopes of published operations that act for a user: what a user's password or consent can reach.
USER_SCOPES: tuple[str, ...] = tuple(dict.fromkeys(e.scope for e in ENDPOINTS
                                                   if e.published and e.scope and e.for_user))
