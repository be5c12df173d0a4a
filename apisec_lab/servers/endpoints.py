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
    role: str | None = None    # the user's role the function needs besides the scope (OWASP API5:2023)
    query: tuple[tuple[str, dict], ...] = ()    # query parameters: (name, JSON schema)
    status: int | None = None  # of success: 201 for a POST, 200 otherwise, unless given
    answers: tuple[tuple[int, str], ...] = ()   # other answers it gives: (status, when)

    @property
    def success(self) -> int:
        return self.status or (201 if self.method == "POST" else 200)

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

# -- the account and the print shop (notebook 08: the rest of the OWASP API Security Top 10) ------------------
PROFILE_UPDATE_BODY = {"type": "object", "additionalProperties": False, "minProperties": 1,
                       "properties": {"display_name": {"type": "string", "minLength": 1, "maxLength": 100},
                                      "email": {"type": "string", "maxLength": 200,
                                                "pattern": "^[^@]+@[^@]+$"}}}
CREDITS_BODY = {"type": "object", "required": ["username", "credits"], "additionalProperties": False,
                "properties": {"username": {"type": "string", "maxLength": 100},
                               "credits": {"type": "integer", "minimum": 1, "maximum": 100}}}
COUPON_BODY = {"type": "object", "required": ["code"], "additionalProperties": False,
               "properties": {"code": {"type": "string", "maxLength": 40}}}
WEBHOOK_BODY = {"type": "object", "required": ["url"], "additionalProperties": False,
                "properties": {"url": {"type": "string", "minLength": 1, "maxLength": 2000}}}
PRINT_BODY = {"type": "object", "required": ["photo_id"], "additionalProperties": False,
              "properties": {"photo_id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                             "copies": {"type": "integer", "minimum": 1, "maximum": 20}}}
#: The largest page GET /catalogue serves (unless the unlimited_page_size weakness is on).
MAX_PAGE = 100
CATALOGUE_QUERY = (("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 20}),
                   ("offset", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0}))

ACCOUNT = _object(username=_STRING, role={"type": "string", "enum": ["user", "staff"]},
                  plan={"type": "string", "enum": ["free", "pro"]}, print_credits=_INTEGER)
PERSON = _object(username=_STRING, display_name=_STRING)
PRODUCT = _object(sku=_STRING, size=_STRING, paper=_STRING, frame=_STRING, mount=_STRING, border=_STRING,
                  price_cents=_INTEGER)
CATALOGUE = _object(items={"type": "array", "items": PRODUCT}, total=_INTEGER, limit=_INTEGER, offset=_INTEGER)
REDEEMED = _object(code=_STRING, credits_added=_INTEGER, print_credits=_INTEGER)
WEBHOOK_RESULT = _object(url=_STRING, delivered={"type": "boolean"}, status={"type": ["integer", "null"]},
                         content_type=_STRING, body=_STRING, hops={"type": "array", "items": _STRING}, note=_STRING)
PRINT_ORDER = _object(id=_INTEGER, photo_id=_INTEGER, copies=_INTEGER,
                      paid_with={"type": "string", "enum": ["credits", "card"]}, partner_order=_STRING,
                      status=_STRING, price_cents=_INTEGER)

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
    # Notebook 08.  Each handler lives in servers/account.py or servers/shop.py.
    Endpoint("PATCH", "/me", "update_me", "profile:write", "Change the signed-in user's name or email", "medium",
             body=PROFILE_UPDATE_BODY, response=PROFILE),
    Endpoint("GET", "/me/account", "account", "profile:read", "The user's plan, print credits and role", "low",
             response=ACCOUNT),
    Endpoint("GET", "/people", "people", "profile:read", "Everyone on the service, by name",
             "low", response={"type": "array", "items": PERSON}),
    Endpoint("POST", "/support/credits", "support_credits", "prints:write",
             "Support staff only: give a customer print credits", "high", role="staff", body=CREDITS_BODY,
             response=ACCOUNT, status=200, not_found="No user with that name"),
    Endpoint("GET", "/catalogue", "catalogue", None, "The print products, a page at a time",
             "public", for_user=False, query=CATALOGUE_QUERY, response=CATALOGUE),
    Endpoint("POST", "/coupons/redeem", "redeem_coupon", "prints:write", "Redeem a print coupon for credits",
             "medium", body=COUPON_BODY, response=REDEEMED, status=200, not_found="No coupon with that code",
             answers=((409, "This account has already redeemed that coupon"),)),
    Endpoint("POST", "/webhooks/test", "test_webhook", "prints:write",
             "Test a webhook URL: what it answers", "medium",
             body=WEBHOOK_BODY, response=WEBHOOK_RESULT, status=200),
    Endpoint("POST", "/prints", "order_prints", "prints:write", "Order prints of a photo from the print partner",
             "high", body=PRINT_BODY, response=PRINT_ORDER,
             not_found="No such photo in your account, or nothing to pay with (no credits, no saved card)",
             answers=((502, "The print partner did not answer as agreed"),)),
)

#: Scopes a token without a user (client credentials) can use: those of published operations that need no user.
MACHINE_SCOPES: tuple[str, ...] = tuple(dict.fromkeys(e.scope for e in ENDPOINTS
                                                      if e.published and e.scope and not e.for_user))
#: Scopes of published operations that act for a user: what a user's password or consent can reach.
USER_SCOPES: tuple[str, ...] = tuple(dict.fromkeys(e.scope for e in ENDPOINTS
                                                   if e.published and e.scope and e.for_user))
