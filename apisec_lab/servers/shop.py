"""The resource API's print shop: the catalogue, coupons, the webhook test and print orders.

Mixed into :class:`apisec_lab.servers.api.ResourceAPI`, which gives them ``store``, ``weaknesses``,
``outbound`` (:class:`~apisec_lab.servers.outbound.Outbound`), ``partner_url`` and ``_json_body``; each
handler is named in :data:`apisec_lab.servers.endpoints.ENDPOINTS`. Four carry a weakness, and each
weakness's detector sits in the weakened branch, where the flaw is really used:

- ``unlimited_page_size`` (OWASP API4:2023): ``GET /catalogue`` serves any ``?limit=``;
- ``unlimited_coupon`` (API6:2023): ``POST /coupons/redeem`` lets an account redeem a coupon again and again;
- ``ssrf`` (API7:2023): ``POST /webhooks/test`` fetches any URL the lab's fuse lets through, internal ones
  included, instead of public ones only;
- ``trust_third_party`` (API10:2023): ``POST /prints`` follows the print partner's redirects and keeps any
  reply, instead of refusing both.
"""
from __future__ import annotations

import json
import re

from werkzeug.exceptions import BadRequest, NotFound

from ..http.wsgi import json_error, json_response
from .catalogue import products
from .endpoints import CATALOGUE_QUERY, COUPON_BODY, MAX_PAGE, PRINT_BODY, WEBHOOK_BODY

_DIGITS = re.compile(r"[0-9]{1,18}")
#: What the print partner promised to answer (its API's documentation), checked on every reply.
PARTNER_ORDER_ID = re.compile(r"PP-[0-9]{6}")


class ShopRoutes:
    """The handlers of the print shop's routes (a mixin of :class:`~apisec_lab.servers.api.ResourceAPI`)."""

    # -- OWASP API4:2023: how much one request may cost -----------------------------------------------
    def catalogue(self, request, principal):
        unlimited = self.weaknesses.unlimited_page_size
        (_, limit_schema), (_, offset_schema) = CATALOGUE_QUERY
        limit = _query_int(request, "limit", limit_schema, None if unlimited else MAX_PAGE)
        offset = _query_int(request, "offset", offset_schema, offset_schema["maximum"])
        items = products()
        page = list(items[offset:offset + limit])
        response = json_response({"items": page, "total": len(items), "limit": limit, "offset": offset})
        if len(page) > MAX_PAGE:       # only the weakened limit gets here
            self.store.exploited("unlimited_page_size",
                                 f"one request took {len(page):,} products, {len(response.get_data()):,} bytes of JSON "
                                 f"({len(page) / MAX_PAGE:.0f} times the page limit of {MAX_PAGE})",
                                 getattr(principal, "grant_id", None), getattr(principal, "client_id", None),
                                 getattr(principal, "user", None))
        return response

    # -- OWASP API6:2023: a business flow, automated --------------------------------------------------
    def redeem_coupon(self, request, principal):
        code = self._json_body(request, COUPON_BODY)["code"]
        coupon = self.store.coupon(code)
        if coupon is None:
            raise NotFound("No coupon with that code.")
        once = not self.weaknesses.unlimited_coupon
        times = self.store.redeem(code, principal.user, once=once)
        if times is None:
            return json_error(409, "already_redeemed", f"This account has already redeemed {code}: it is good "
                                                       "once per account.")
        if times > 1:                  # only the weakened rule gets here
            self.store.exploited("unlimited_coupon", f"{principal.user} redeemed {code} for the {_nth(times)} time "
                                                     f"({coupon['description'].lower()})",
                                 principal.grant_id, principal.client_id, principal.user)
        row = self.store.user(principal.user)
        return json_response({"code": code, "credits_added": coupon["credits"], "print_credits": row["print_credits"]})

    # -- OWASP API7:2023: a URL the user chose, fetched by the API -----------------------------------
    def test_webhook(self, request, principal):
        url = self._json_body(request, WEBHOOK_BODY)["url"]
        policy = None if self.weaknesses.ssrf else self.outbound.network.is_public
        fetched = self.outbound.fetch(url, policy)
        for hop in fetched.reached("internal"):        # only the weakened policy gets here
            self.store.exploited("ssrf", f"{principal.user}'s webhook test made the API fetch {hop.destination.url} "
                                         f"from the {hop.server} server (internal)",
                                 principal.grant_id, principal.client_id, principal.user)
        last = fetched.last
        note = last.note
        if not last.allowed and policy is not None:
            note = ("refused: webhooks must be public web servers; this URL leads inside the Photo API's own "
                    "network or outside the lab")
        return json_response({"url": url, "delivered": fetched.delivered, "status": fetched.status,
                              "content_type": fetched.content_type if fetched.delivered else "",
                              "body": fetched.text() if fetched.delivered else "",
                              "hops": [h.url for h in fetched.hops], "note": note})

    # -- OWASP API10:2023: what a third party answers -------------------------------------------------
    def order_prints(self, request, principal):
        body = self._json_body(request, PRINT_BODY)
        user, copies = principal.user, body.get("copies", 1)
        photo = self.store.photo(body["photo_id"])
        if photo is None or photo["owner"] != user:
            raise NotFound(f"No photo {body['photo_id']} in your account.")
        if self.store.spend_credits(user, copies):
            payment = {"method": "credits"}
        else:
            card = self.store.payment(user)
            if card is None:
                raise NotFound("Not enough print credits, and no saved card to pay with.")
            payment = {"method": "card", **{k: card[k] for k in ("card_holder", "card_last4", "expiry")}}
        account, card = self.store.user(user), self.store.payment(user)
        order = {"reference": f"{user}-photo-{photo['id']}", "photo": {"id": photo["id"], "title": photo["title"]},
                 "copies": copies, "ship_to": {"name": account["display_name"],
                                               "city": card["billing_city"] if card else ""},
                 "payment": payment}
        trusting = self.weaknesses.trust_third_party
        fetched = self.outbound.fetch(self.partner_url + "/v1/orders", method="POST", json_body=order,
                                      follow=trusting)
        for hop in fetched.hops[1:]:       # only the trusting client follows a redirect
            if hop.status is not None and hop.server != "partner":
                carried = [k for k in payment if k != "method"]
                sent = f"the card ({', '.join(carried)})" if carried else "the shipping name and city"
                self.store.exploited("trust_third_party",
                                     f"the print partner redirected the order and the API followed, resending "
                                     f"{user}'s order with {sent} to {hop.destination.url} ({hop.server})",
                                     principal.grant_id, principal.client_id, principal.user)
        reply = _partner_reply(fetched, trusting)
        if isinstance(reply, str):
            if payment["method"] == "credits":
                self.store.add_credits(user, copies)        # not placed: the credits go back
            return json_error(502, "bad_gateway", f"The print partner did not answer as agreed ({reply}); "
                                                  "the order was not placed.")
        new_id = self.store.add_print(user, photo["id"], copies, payment["method"], *reply)
        return json_response({"id": new_id, "photo_id": photo["id"], "copies": copies,
                              "paid_with": payment["method"], "partner_order": reply[0], "status": reply[1],
                              "price_cents": reply[2]}, 201)


def _partner_reply(fetched, trusting: bool) -> tuple[str, str, int] | str:
    """(order id, status, price) from the partner's answer, or why it is not one.

    Hardened: a 201 with exactly the fields the partner's API promises, checked. Trusting: whatever a
    2xx answer says, kept (its values cut to size so they still fit the store).
    """
    if not fetched.delivered:
        return fetched.last.note or "no answer"
    status = fetched.status
    if not 200 <= status < 300 or (not trusting and status != 201):
        return f"HTTP {status}"
    try:
        reply = json.loads(fetched.body)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        return "not a JSON object" if not trusting else ("", "unknown", 0)
    order_id, state, price = reply.get("order_id"), reply.get("status"), reply.get("price_cents")
    if trusting:
        price = price if isinstance(price, int) and not isinstance(price, bool) and abs(price) < 2**62 else 0
        return str(order_id or "")[:60], str(state or "unknown")[:40], price
    if not (isinstance(order_id, str) and PARTNER_ORDER_ID.fullmatch(order_id) and state == "accepted"
            and isinstance(price, int) and not isinstance(price, bool) and 0 <= price <= 10**6):
        return "a reply that is not an accepted order"
    return order_id, state, price


def _query_int(request, name: str, schema: dict, maximum: int | None) -> int:
    values = request.args.getlist(name)
    if not values:
        return schema["default"]
    if len(values) > 1 or not _DIGITS.fullmatch(values[0]):
        raise BadRequest(f"{name} is one whole number from {schema['minimum']}"
                         + (f" to {maximum}." if maximum is not None else "."))
    value = int(values[0])
    if value < schema["minimum"] or (maximum is not None and value > maximum):
        raise BadRequest(f"{name} must be {schema['minimum']} to {maximum}." if maximum is not None
                         else f"{name} must be at least {schema['minimum']}.")
    return value


def _nth(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
