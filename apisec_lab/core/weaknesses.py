"""Deliberate weaknesses: named switches, every one off by default.

The hardened lab is the default.  A notebook that teaches an attack turns on
exactly the switch it needs, preferably for one block::

    with lab.weaknesses.turned_on(basic_auth=True):
        ...

Switches are read on every request, so flipping one takes effect at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import pandas as pd

from . import switches


def _switch(doc: str):
    return field(default=False, metadata={"doc": doc})


@dataclass(slots=True)
class Weaknesses:
    basic_auth: bool = _switch(
        "The API accepts HTTP Basic with the user's own password (the pre-OAuth era; OWASP API2:2023, "
        "broken authentication): every request carries the password, and the password unlocks everything.")
    token_in_query: bool = _switch(
        "The API accepts ?access_token= in the URL (RFC 6750 section 2.3: SHOULD NOT be used), "
        "where logs, proxies and browser history keep it.")
    pkce_optional: bool = _switch(
        "The authorization server lets the code flow run without PKCE (RFC 9700 section 2.1.1: PKCE for "
        "every client), so an intercepted authorization code can be redeemed by whoever holds it.")
    bola: bool = _switch(
        "The API forgets the object-level check on GET /photos/{id}: any valid token reads "
        "anyone's photo (OWASP API1:2023, broken object level authorization).")
    open_admin_route: bool = _switch(
        "The API's unpublished GET /admin/users answers without any token, on the theory that a route "
        "nobody published is a route nobody finds (OWASP API5:2023 and API9:2023).")
    password_grant: bool = _switch(
        "The authorization server accepts the resource owner password credentials grant "
        "(grant_type=password) from a client registered for it, and advertises it: the app collects the "
        "user's password itself (RFC 9700 section 2.4: MUST NOT be used).")
    # -- notebook 06: the authorization flow under attack --------------------------------------------------
    redirect_uri_prefix: bool = _switch(
        "The authorization server matches redirect URIs as string prefixes: any redirect_uri that starts with a "
        "registered one is accepted, and the token endpoint checks the client's registration instead of the code's "
        "own redirect_uri, so a code can be sent to a URL the client never registered (RFC 9700 section 4.1: "
        "exact string matching, section 2.1).")
    open_redirect: bool = _switch(
        "PhotoPrint's website forwards /out?to= to any URL, other query parameters included: an open redirector "
        "on the client's own origin, through which a code can leave (RFC 9700 section 4.11.1: clients MUST NOT "
        "expose open redirectors).")
    client_skips_state: bool = _switch(
        "PhotoPrint's website accepts an authorization response without checking that its state belongs to a "
        "sign-in this browser started, so an attacker's code can be planted in the victim's session: login CSRF, "
        "forced account linking (RFC 9700 section 4.7, RFC 6749 section 10.12).")
    pkce_plain: bool = _switch(
        "The authorization server accepts (and advertises) the PKCE method plain, where the challenge is the "
        "verifier itself: whoever reads the authorization request can redeem its intercepted code (RFC 9700 "
        "section 2.1.1; RFC 7636 section 7.2).")
    referrer_leak: bool = _switch(
        "PhotoPrint's website shows its welcome page at the callback URL, code still in it, with a partner's "
        "tracking pixel and the partner's referrer setting (no-referrer-when-downgrade), so the code leaves in the "
        "Referer header (RFC 9700 section 4.2.1).")
    # -- notebook 07: JWT verifier flaws ---------------------------------------------------------------------
    jwt_alg_none: bool = _switch(
        "The API accepts a JWT access token whose header says alg 'none': no signature at all, so anyone "
        "writes any claims (RFC 8725 sections 3.1 and 3.2; OWASP API2:2023).")
    jwt_no_verify: bool = _switch(
        "The API decodes JWT access tokens without checking their signature: any signature, or none, will "
        "do (RFC 8725 section 3.3: validate all cryptographic operations; RFC 7515 section 5.2).")
    jwt_weak_secret: bool = _switch(
        "The authorization server signs JWT access tokens HS256 with a shared secret from a public wordlist, "
        "and the API's second verifier accepts any token signed with it: crack one token, mint them all "
        "(RFC 8725 section 3.5: keys with sufficient entropy).")
    jwt_alg_confusion: bool = _switch(
        "The API lets the token's header choose the algorithm: HS256 is verified with the RS256 public key "
        "as the HMAC secret, and the public key is public (RFC 8725 section 3.1: algorithm verification).")
    jwt_kid_injection: bool = _switch(
        "The API finds an HS256 key by joining the token's kid to its key folder's path, so a kid such as "
        "../../../dev/null picks a key the attacker knows (RFC 8725 section 3.10; RFC 7515 section 4.1.4).")
    jwt_jku: bool = _switch(
        "The API fetches verification keys from the URL in the token's jku header (loopback lab servers "
        "only), so whoever writes the token picks the key (RFC 8725 section 3.10; RFC 7515 section 4.1.2).")
    jwt_claims_unchecked: bool = _switch(
        "The API checks a JWT's signature but not its aud, iss or exp: an expired token, or one minted for "
        "another API, is accepted (RFC 7519 sections 4.1.3 and 4.1.4; RFC 8725 sections 3.8 and 3.9).")
    # Notebook 08: the rest of the OWASP API Security Top 10 (2023).
    mass_assignment: bool = _switch(
        "PATCH /me binds every field of the body onto the account, so a user sets their own role, plan or print "
        "credits (OWASP API3:2023, broken object property level authorization: mass assignment).")
    excessive_data_exposure: bool = _switch(
        "GET /people answers with every user's whole record (email, role, plan, credits) and leaves it to the app to "
        "show only names (OWASP API3:2023, broken object property level authorization: excessive data exposure).")
    bfla: bool = _switch(
        "POST /support/credits, a staff function, checks the token's scope but not that the user is staff: the app "
        "hides the button, the API does not (OWASP API5:2023, broken function level authorization).")
    unlimited_page_size: bool = _switch(
        "GET /catalogue serves as many items as ?limit= asks for in one response, so one request costs what "
        "hundreds do, whatever the rate limit (OWASP API4:2023, unrestricted resource consumption).")
    unlimited_coupon: bool = _switch(
        "POST /coupons/redeem lets one account redeem the free-print coupon again and again (OWASP API6:2023, "
        "unrestricted access to sensitive business flows).")
    ssrf: bool = _switch(
        "POST /webhooks/test fetches whatever URL it is given, the lab's internal services included (the metadata "
        "service and its credentials), though never beyond the lab's own servers (OWASP API7:2023, server side "
        "request forgery).")
    trust_third_party: bool = _switch(
        "POST /prints trusts the print partner's answers: it follows a redirect, resending the order with the card "
        "details wherever it points, and keeps whatever reply comes back (OWASP API10:2023, unsafe consumption of "
        "APIs).")

    def enabled(self) -> list[str]:
        """Names of the switches that are on."""
        return [f.name for f in fields(self) if getattr(self, f.name)]

    def reset(self) -> None:
        """Every switch back to its secure default."""
        switches.reset(self)

    def table(self) -> pd.DataFrame:
        """Every switch, its state and what it does, for a notebook to show."""
        return pd.DataFrame([{"switch": f.name, "on": getattr(self, f.name), "what it does": f.metadata["doc"]}
                             for f in fields(self)]).set_index("switch")

    def turned_on(self, **values: bool):
        """Set switches for the duration of a ``with`` block, then restore them."""
        return switches.changed(self, "such weakness", **values)
