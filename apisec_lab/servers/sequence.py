"""Sequence diagrams of what the wiretap captured: who sent what to whom, in time order.

``lab.wiretap.sequence()`` (:meth:`~apisec_lab.servers.wiretap.Wiretap.sequence`) reads captured
exchanges and draws them: one lane per party that took part, one arrow per request (method, path and
the parameters that matter), a dashed arrow back per answer (status, and what came back: a redirect's
target, a token's type, an error), and a tinted band behind every arrow on which a credential crosses.
In JupyterLab (4.1 and later) it displays as a Mermaid sequence diagram, an output of type
``text/vnd.mermaid`` that JupyterLab draws itself, offline, in the theme's own colours; everywhere
else, and for nbval, as text (``text/plain``).

**Who sent a request?**  The wiretap sees only the bytes, so the answer is read from them:

1. the lab's own actors name themselves in ``User-Agent``
   (:func:`apisec_lab.core.cast.user_agent`): the browser the lab plays, each app, an attacker's
   script.  A real attacker would not; a library's default agent (``python-requests/...``) names
   nobody (:func:`apisec_lab.core.cast.named_by`);
2. what the request carries: the authorization endpoint and redirect URIs are the browser's (RFC
   6749 section 4.1: the user-agent is sent there); a token, revocation or introspection request
   names its client (HTTP Basic or ``client_id``, section 2.3.1); a Bearer token belongs to a
   grant the store knows, and the grant to a client;
3. else an unnamed ``Client``.

When 1 and 2 disagree (an attacker's script presenting PhotoCLI's refresh token), the request is
drawn in the lane of the agent that sent it, marked ``as PhotoCLI``: what it claimed, and what the
server could not tell apart.

**Who answered?**  The server the wiretap relayed to.  Behind the gateway, the answer's
``Proxy-Status`` (RFC 9209) says whether the gateway forwarded the request to the API
(``received-status``: the diagram draws that hop) or answered it itself (``error``, with the policy's
reason in ``details``).

Secrets are never drawn: values go through the gateway's access-log masks
(:func:`~apisec_lab.servers.gateway.accesslog.mask_parameter`: ``state=***``, ``code_challenge=***``),
and credentials are named in words (``password of alice (form)``, ``access token (Bearer)``) by
:func:`request_credentials`, which :mod:`apisec_lab.client.wire` also uses.
"""
from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from ..core.cast import BROWSER, named_by
from ..http.basic import parse_basic
from .gateway.accesslog import mask_parameter, mask_target, mask_text

#: What each server is called in a diagram (``Exchange.server`` -> lane).
SERVER_LANES = {"issuer": "Authorization server", "gateway": "Gateway", "api": "API",
                "attacker": "Attacker's server", "apps": "Apps' web server", "photoprint": "PhotoPrint website",
                "metadata": "Metadata service", "partner": "Print partner"}
#: A lane for requests whose sender nothing names.
UNNAMED = "Client"
#: Parameters worth showing on a request's arrow, in this order (credentials are named in words instead).
PARAMETERS = ("grant_type", "client_id", "scope", "state", "code_challenge", "code_challenge_method",
              "redirect_uri", "token_type_hint", "decision", "error")
#: Parameters whose names the access-log masks would take for secrets, though their values are protocol words.
PUBLIC_PARAMETERS = frozenset({"token_type_hint", "code_challenge_method"})
#: Tints behind arrows on which a credential crosses: translucent, so they sit on the light and the dark
#: theme's page alike and the theme's own text colour stays readable over them (a picture drawn by Mermaid
#: cannot use JupyterLab's CSS variables: JupyterLab shows it as an image).
TINTS = {"password": "rgba(229, 57, 53, 0.2)", "secret": "rgba(30, 136, 229, 0.16)"}
_LONG = 48
#: A diagram's label lines wrap at about this many characters.
_WIDTH = 60
_PAGE_ERROR = re.compile(r"id=error>(.*?)</p>", re.S)


# -- credentials, in words -------------------------------------------------------------------------
def form_of(message) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (repeated fields joined by spaces), else ``{}``."""
    if not message.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    form: dict[str, str] = {}
    for k, v in parse_qsl(message.body.decode("utf-8", "replace"), keep_blank_values=True):
        form[k] = f"{form[k]} {v}" if k in form else v
    return form


def query_of(target: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))


def _basic_name(header: str) -> str | None:
    try:
        found = parse_basic(header)
    except ValueError:
        return "?"
    return None if found is None else unquote_plus(found[0])   # a client's id is form-encoded (RFC 6749 s2.3.1)


def request_credentials(exchange, store=None) -> list[str]:
    """In words, the credentials a captured request carried: its ``Authorization`` header, form body and URL.

    ``password of alice (Basic)``, ``client secret of backup-bot (Basic)``, ``access token (Bearer)``,
    ``password of alice (form)``, ``code + code verifier``, ``refresh token``, ``code (in the URL)``...
    *store* tells a client's id from a user's name in HTTP Basic.
    """
    found = []
    request = exchange.request
    header = request.headers.get("Authorization", "")
    scheme = header.partition(" ")[0].lower()
    if scheme == "basic":
        who = _basic_name(header) or "?"
        kind = "client secret" if store is not None and store.client(who) is not None else "password"
        found.append(f"{kind} of {who} (Basic)")
    elif scheme == "bearer":
        found.append("access token (Bearer)")
    form = form_of(request)
    if "password" in form:
        found.append(f"password of {form.get('username', '?')} (form)")
    if "client_secret" in form:
        found.append("client secret (form)")
    if "code" in form:
        found.append("code + code verifier" if "code_verifier" in form else "code")
    if "refresh_token" in form:
        found.append("refresh token")
    if "token" in form:                  # RFC 7009 revocation, RFC 7662 introspection
        row = store.token(form["token"]) if store is not None else None
        found.append(f"{row['kind']} token" if row is not None else "token")
    query = query_of(exchange.path)
    if "code" in query:
        found.append("code (in the URL)")
    if "code" in query_of(request.headers.get("Referer", "")):
        found.append("code (in the Referer)")         # RFC 9700 s4.2: the page it was on told the next server
    if "access_token" in query:
        found.append("access token (in the URL)")
    return found


def _answer_credentials(exchange) -> list[str]:
    found = []
    location = exchange.response.headers.get("Location", "")
    if "code" in query_of(location):
        found.append("code (in the Location URL)")
    body = _json(exchange.response)
    if isinstance(body, dict):
        for name in ("access_token", "refresh_token"):
            if name in body:
                found.append(name.replace("_", " "))
    return found


def _json(message):
    if "json" not in message.headers.get("Content-Type", ""):
        return None
    try:
        return json.loads(message.body)
    except ValueError:
        return None


# -- one arrow ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arrow:
    """One arrow of a :class:`Sequence`: a request (solid) or an answer (dashed), from one lane to another.

    *head* is its first line (``3 · POST /token``, ``200 OK``), *details* the parameters that matter
    (masked), *carries* the credentials that cross on it, in words.
    """

    exchange: int
    source: str
    target: str
    head: str
    details: tuple[str, ...] = ()
    carries: tuple[str, ...] = ()
    answer: bool = False

    @property
    def kind(self) -> str | None:
        """``"password"`` if a user's password crosses on this arrow, ``"secret"`` for another credential, else None."""
        if any(c.startswith("password of") for c in self.carries):
            return "password"
        return "secret" if self.carries else None

    def lines(self, width: int | None = None) -> list[str]:
        """The label's lines: head, details, credentials; with *width*, details and credentials wrapped."""
        parts = [[self.head]]
        if self.details:
            parts.append(list(self.details))
        if self.carries:
            parts.append([f"carries {self.carries[0]}", *self.carries[1:]])
        return [line for items in parts for line in _wrap(items, width)]


def _wrap(items: list[str], width: int | None) -> list[str]:
    """*items* joined by ", ", as lines of at most about *width* characters (one line without a width)."""
    if width is None:
        return [", ".join(items)]
    lines = [items[0]]
    for item in items[1:]:
        if len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += ", " + item
        else:
            lines[-1] += ","
            lines.append(item)
    return lines


def _status(status: int | None) -> str:
    if status is None:
        return "no answer"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _retry_after(value: str) -> str:
    """``Retry-After`` (RFC 9110 s10.2.3) in whole minutes from a minute on: the same picture a second later."""
    if not value.isdigit():
        return "Retry-After"
    seconds = int(value)
    return f"retry after {seconds} s" if seconds < 60 else f"retry after {math.ceil(seconds / 60)} min"


def _short(text: str, limit: int = _LONG) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


class _Reader:
    """Reads exchanges into arrows; knows the store (tokens, clients) and the lab's ports (redirect targets)."""

    def __init__(self, store=None, servers: dict[int, str] | None = None):
        self.store = store
        self.servers = servers or {}

    # -- names ---------------------------------------------------------------------------------
    def client_name(self, client_id: str) -> str:
        client = self.store.client(client_id) if self.store is not None else None
        return client.name if client is not None else client_id

    def lane_of(self, server: str, path: str) -> str:
        """The lane a request to *server* at *path* is drawn to: an app's redirect URI is the app's."""
        if server == "apps":
            parts = path.strip("/").split("/")
            if len(parts) == 2 and parts[1] == "callback" and parts[0]:
                return self.client_name(parts[0])
        return SERVER_LANES.get(server, server)

    def lane_of_url(self, url: str) -> str:
        try:
            parts = urlsplit(url)
            server = self.servers.get(parts.port) if parts.hostname in ("127.0.0.1", "localhost") else None
        except ValueError:
            return "?"
        if server is None:
            return parts.hostname or "?"
        return self.lane_of(server, parts.path)

    def named_client(self, exchange) -> str | None:
        """The client a request names or holds a token of (RFC 6749 s2.3.1; a Bearer token's grant)."""
        request, path = exchange.request, urlsplit(exchange.path).path
        if exchange.server == "issuer" and path != "/authorize":
            header = request.headers.get("Authorization", "")
            client_id = (_basic_name(header) if header.lower().startswith("basic") else None) \
                or form_of(request).get("client_id") or query_of(exchange.path).get("client_id")
            return self.client_name(client_id) if client_id and client_id != "?" else None
        if exchange.server in ("api", "gateway") and self.store is not None:
            header = request.headers.get("Authorization", "")
            bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
            token = bearer or query_of(exchange.path).get("access_token")
            row = self.store.token(token) if token else None
            if row is not None:
                return self.client_name(row["client_id"])
        return None

    def sender(self, exchange) -> tuple[str, str | None]:
        """``(lane, claimed)``: who sent the request, and whom it claimed to be when that differs."""
        path = urlsplit(exchange.path).path
        evidence = BROWSER if (exchange.server == "issuer" and path == "/authorize") or exchange.server == "apps" \
            else self.named_client(exchange)
        agent = named_by(exchange.request.headers.get("User-Agent"))
        lane = agent or evidence or UNNAMED
        claimed = evidence if evidence not in (None, BROWSER, lane) else None
        return lane, claimed

    # -- labels --------------------------------------------------------------------------------
    def request_details(self, exchange, sender: str, receiver: str, claimed: str | None) -> list[str]:
        params = {**query_of(exchange.path), **form_of(exchange.request)}   # the form's scope: what was ticked
        details = [f"as {claimed}"] if claimed else []
        expected = {sender, receiver, claimed, self.named_client(exchange),
                    self.client_name(params["client_id"]) if params.get("client_id") else None}
        for name in PARAMETERS:
            if name not in params:
                continue
            value = params[name]
            if name == "code_challenge_method" and value == "S256":
                continue
            if name == "decision" and value == "approve":
                continue
            if name == "redirect_uri":
                to = self.lane_of_url(value)
                if to not in expected:       # only a redirect URI that leads somewhere unexpected is news
                    details.append(f"redirect_uri → {to}")
                continue
            shown = value if name in PUBLIC_PARAMETERS and mask_text(value) == value else mask_parameter(name, value)
            details.append(f"{name}={_short(shown, 40)}")
        return details

    def answer_details(self, exchange) -> tuple[str, list[str]]:
        response = exchange.response
        head, details = _status(exchange.status), []
        location = response.headers.get("Location")
        if location:
            head += f" → {self.lane_of_url(location)}"
            query = query_of(location)
            details += [f"{k}={mask_parameter(k, query[k])}" for k in ("error", "state") if k in query]
        body = _json(response)
        hop = proxy_status(response.headers.get("Proxy-Status", ""))
        if isinstance(body, dict):
            if "access_token" in body:
                details.append(f"token_type={body.get('token_type', '?')}")
                if body.get("scope"):
                    details.append(f"scope={_short(str(body['scope']), 40)}")
            elif body.get("error"):
                details.append(f"error={_short(str(body['error']), 40)}")
                if body.get("error_description") and not hop.get("error"):    # the gateway's reason says it
                    details.append(_short(mask_text(str(body["error_description"])).rstrip("."), _LONG))
            elif "active" in body:
                details.append(f"active={json.dumps(body['active'])}")
        elif "text/html" in response.headers.get("Content-Type", ""):
            m = _PAGE_ERROR.search(response.body.decode("utf-8", "replace"))
            if m:
                details.append(f"page: {_short(html.unescape(m.group(1)).rstrip('.'), 80)}")
        if "Retry-After" in response.headers:
            details.append(_retry_after(response.headers["Retry-After"]))
        if hop.get("error"):
            details.append(f"refused by the gateway: {hop.get('details') or hop['error']}")
        return head, details

    # -- one exchange --------------------------------------------------------------------------
    def arrows(self, exchange) -> list[Arrow]:
        path = urlsplit(exchange.path).path
        sender, claimed = self.sender(exchange)
        receiver = self.lane_of(exchange.server, path)
        carries = tuple(request_credentials(exchange, self.store))
        shown_path = _short(mask_target(path))
        arrows = [Arrow(exchange.id, sender, receiver, f"{exchange.id} · {exchange.method} {shown_path}",
                        tuple(self.request_details(exchange, sender, receiver, claimed)), carries)]
        hop = proxy_status(exchange.response.headers.get("Proxy-Status", ""))
        if exchange.server == "gateway" and "received-status" in hop:
            upstream = SERVER_LANES["api"]
            arrows.append(Arrow(exchange.id, receiver, upstream, f"forwards {exchange.method} {shown_path}",
                                carries=carries))
            received = int(hop["received-status"]) if hop["received-status"].isdigit() else None
            arrows.append(Arrow(exchange.id, upstream, receiver, _status(received), answer=True))
        head, details = self.answer_details(exchange)
        arrows.append(Arrow(exchange.id, receiver, sender, head, tuple(details),
                            tuple(_answer_credentials(exchange)), answer=True))
        return arrows


def proxy_status(value: str) -> dict[str, str]:
    """The parameters of the last member of a ``Proxy-Status`` field (RFC 9209), e.g. ``{"received-status": "200"}``."""
    member = value.split(",")[-1]
    params = {}
    for part in member.split(";")[1:]:
        key, _, v = part.strip().partition("=")
        params[key.strip()] = v.strip().strip('"')
    return params


# -- the diagram -------------------------------------------------------------------------------------
_ESCAPES = {"#": "#35;", ";": "#59;", "<": "#60;", ">": "#62;", "%": "#37;", "\n": " "}
_ESCAPE = re.compile("|".join(re.escape(k) for k in _ESCAPES))


def _m(text: str) -> str:
    """*text* safe inside a Mermaid statement (``;`` ends one, ``#...;`` is an entity, ``<`` starts markup)."""
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group()], text)


@dataclass(frozen=True)
class Sequence:
    """A sequence diagram of captured exchanges (see the module docstring); displays as Mermaid, prints as text.

    :attr:`lanes` are the parties in drawing order, :attr:`arrows` the arrows in time order;
    :meth:`senders` and :meth:`carrying` answer the questions a reader asks of the picture.
    """

    arrows: tuple[Arrow, ...]
    lanes: tuple[str, ...]
    exchanges: tuple[int, ...]
    title: str | None = None

    @property
    def span(self) -> str:
        if not self.exchanges:
            return "no exchanges"
        first, last = self.exchanges[0], self.exchanges[-1]
        return f"exchange {first}" if first == last else f"exchanges {first} to {last}"

    def senders(self) -> list[str]:
        """Lanes that sent at least one request, in order of appearance."""
        return list(dict.fromkeys(a.source for a in self.arrows if not a.answer))

    def carrying(self, text: str) -> list[Arrow]:
        """Arrows on which a credential whose description contains *text* crosses (``"password of alice"``)."""
        return [a for a in self.arrows if any(text in c for c in a.carries)]

    def mermaid(self) -> str:
        """The diagram in Mermaid's sequence-diagram language."""
        ids = {lane: f"p{i}" for i, lane in enumerate(self.lanes, 1)}
        lines = ["sequenceDiagram"]
        title = self.title or f"What the wiretap captured: {self.span}"
        if self.title:
            lines.append(f"    title {_m(self.title)}")
        lines += [f"    accTitle: {_m(title)}",
                  f"    accDescr: {_m(self.summary())}"]
        if not self.lanes:
            return "\n".join(lines + ["    participant p0 as Wiretap", "    Note over p0: nothing captured"])
        lines += [f"    participant {ids[lane]} as {_m(lane)}" for lane in self.lanes]
        for a in self.arrows:
            arrow = f"    {ids[a.source]}{'-->>' if a.answer else '->>'}{ids[a.target]}: " \
                    + "<br/>".join(_m(line) for line in a.lines(_WIDTH))
            if a.kind:
                lines += [f"    rect {TINTS[a.kind]}", "    " + arrow, "    end"]
            else:
                lines.append(arrow)
        kinds = {a.kind for a in self.arrows} - {None}
        if kinds:
            span = ids[self.lanes[0]] + ("" if len(self.lanes) == 1 else f",{ids[self.lanes[-1]]}")
            lines.append(f"    Note over {span}: {_m(legend(kinds))}")
        return "\n".join(lines)

    def summary(self) -> str:
        return f"Wiretap {self.span} between {', '.join(self.lanes) or 'nobody'}."

    def text(self) -> str:
        """The diagram as text, one line per arrow: ``!!`` marks a password crossing, ``*`` another credential."""
        out = [f"{self.title} (wiretap {self.span})" if self.title else f"wiretap {self.span}",
               f"lanes: {' | '.join(self.lanes) or '(none)'}"]
        for a in self.arrows:
            mark = {"password": "!!", "secret": " *"}.get(a.kind, "  ")
            line = f"{mark} {a.source} {'-->' if a.answer else '->'} {a.target}: " + " | ".join(a.lines())
            out.append(line)
        kinds = {a.kind for a in self.arrows} - {None}
        if kinds:
            out.append("(" + "; ".join(f"{m} {w}" for k, m, w in (("password", "!!", "a user's password crosses"),
                                                                  ("secret", "*", "another credential crosses"))
                                      if k in kinds) + ")")
        return "\n".join(out)

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/vnd.mermaid": self.mermaid(), "text/plain": self.text()}


def legend(kinds) -> str:
    """The note under a diagram that says what its bands mean."""
    parts = []
    if "password" in kinds:
        parts.append("red band: a user's password crosses")
    if "secret" in kinds:
        parts.append("blue band: a code, token or client secret crosses")
    return " · ".join(parts)


_SERVER_ORDER = ["Authorization server", "Gateway", "API", "Metadata service", "Print partner", "Attacker's server",
                 "Apps' web server"]


def _in_time_order(exchanges, reader) -> list[Arrow]:
    """Every exchange's arrows, a request made while another was being answered drawn inside it.

    The API's own request (a webhook test fetching a URL, an order sent to a partner) happens between the
    gateway forwarding the client's request and the API's answer: its arrows go there, not after.
    """
    events = []
    for order, x in enumerate(exchanges):
        arrows = reader.arrows(x)
        opening = [a for a in arrows if not a.answer]
        closing = [a for a in arrows if a.answer]
        events.append((x.at, order, 0, opening))
        answered = getattr(x, "answered", None)
        events.append((x.at if answered is None else answered, order, 1, closing))
    return [a for *_, arrows in sorted(events, key=lambda e: e[:3]) for a in arrows]


def draw(exchanges, *, store=None, servers: dict[int, str] | None = None, title: str | None = None) -> Sequence:
    """The :class:`Sequence` of *exchanges* (the wiretap's :class:`~apisec_lab.servers.wiretap.Exchange` records).

    *store* names clients and tells whose tokens are whose; *servers* (port -> server name, the
    wiretap's ``targets``) places redirect targets.  Read once, now: later changes to the store do
    not change the picture.
    """
    reader = _Reader(store, servers)
    exchanges = list(exchanges)
    arrows = tuple(_in_time_order(exchanges, reader))
    seen = list(dict.fromkeys(lane for a in arrows for lane in (a.source, a.target)))
    servers_seen = [lane for lane in _SERVER_ORDER if lane in seen]
    others = [lane for lane in seen if lane not in servers_seen]
    lanes = ([BROWSER] if BROWSER in others else []) + [lane for lane in others if lane != BROWSER] + servers_seen
    return Sequence(arrows, tuple(lanes), tuple(x.id for x in exchanges), title)
