"""A scripted web browser: what a victim's browser does with a link, close enough that attacks are real.

>>> alice = Browser("Alice", proxies=lab.wiretap.proxies)        # doctest: +SKIP
>>> page = alice.visit("http://127.0.0.1:PORT/login")            # doctest: +SKIP
>>> alice.frame()                                                # every request it made    doctest: +SKIP

What it does, after the HTML, Fetch, Referrer Policy and RFC 6265bis cookie specifications:

- **Navigations** follow redirects (301, 302, 303 turn into GET; 307, 308 keep method and body), at most
  :data:`MAX_REDIRECTS` in a row.  URLs are parsed as browsers parse them: a redirect's ``..`` and ``.``
  path segments are resolved (``/callback/../out`` is ``/out``), and user info is dropped from the request
  (``http://site@other/`` goes to ``other``; it is never sent as credentials).
- **Pages**: ``<img>``, ``<script src>`` and ``<link rel=stylesheet>`` are fetched from their origins (not
  executed), in document order; then a page that submits a form by itself (a ``<form>`` and the one line
  such pages use, ``document.forms[0].submit()``, in a script or ``onload``) has it submitted; then a
  ``<meta http-equiv=refresh>`` is followed.  Nothing else in a script runs.
- **Referer**: by the page's Referrer-Policy (its header, or a ``<meta name=referrer>``, which wins), the
  default being ``strict-origin-when-cross-origin`` as in today's browsers; a redirect's own
  Referrer-Policy header applies to the next hop.  Navigations this browser starts (:meth:`visit`: a link
  in an e-mail, a typed address) send none.
- **Cookies** are kept per origin (scheme, host, port).  Every lab server is on 127.0.0.1, where a real
  browser would share cookies across ports; here each origin is its own site, as two domains would be.
  ``SameSite`` is honoured, ``Lax`` when unset (Chrome's default): a cross-site image or form POST does
  not carry a Lax cookie, a top-level GET navigation does; a cross-site subresource cannot set one.
  ``Max-Age`` and ``Expires`` count on the *clock* given (the lab's).

Every request goes through *proxies* (the lab's wiretap), so the wire shows it; :attr:`history` keeps one
:class:`Hop` per request, :attr:`page` the document shown now.  :meth:`submit` fills in and submits the
shown page's form, as a person does.
"""
from __future__ import annotations

import html.parser
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import pandas as pd
import requests

from ..core.cast import browser_agent

MAX_REDIRECTS = 20
#: Navigations (form submissions, refreshes) one :meth:`Browser.visit` follows from page to page.
MAX_NAVIGATIONS = 8
#: Bytes of a page the browser reads.
MAX_PAGE = 1024 * 1024
POLICIES = {"no-referrer", "no-referrer-when-downgrade", "same-origin", "origin", "strict-origin",
            "origin-when-cross-origin", "strict-origin-when-cross-origin", "unsafe-url"}
DEFAULT_POLICY = "strict-origin-when-cross-origin"
NAVIGATE_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT = {"img": "image/avif,image/webp,image/*,*/*;q=0.8", "script": "*/*", "style": "text/css,*/*;q=0.1"}
#: The one line an auto-submitting page uses, whichever way it names its form.
AUTO_SUBMIT = re.compile(r"""(?:document\.)?(?:forms\s*\[\s*(?P<index>\d+)\s*\]"""
                         r"""|forms\s*\[\s*['"](?P<name>[\w-]+)['"]\s*\]"""
                         r"""|getElementById\(\s*['"](?P<id>[\w-]+)['"]\s*\)|querySelector\(\s*['"]form['"]\s*\))"""
                         r"""\s*\.\s*submit\s*\(\s*\)""")
_DOT = {".", "%2e"}
_DOTDOT = {"..", ".%2e", "%2e.", "%2e%2e"}


class BrowserError(ValueError):
    """What the browser was asked to open is not a web address it can open."""


# -- URLs, as a browser parses them ---------------------------------------------------------
def _remove_dot_segments(path: str) -> str:
    """RFC 3986 s5.2.4 (and WHATWG URL: ``%2e`` is a dot too): ``/a/b/../c`` is ``/a/c``."""
    segments = path.split("/")
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        low = segment.lower()
        if low in _DOTDOT:
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        elif low in _DOT:
            if last:
                out.append("")
        else:
            out.append(segment)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def normalize(url: str, base: str | None = None) -> str:
    """*url* (relative to *base*) as a browser would request it: absolute, dot segments resolved, no fragment.

    User info stays in the string (it names no one on the wire: :func:`target` drops it).
    Raises :class:`BrowserError` for anything but an http URL.
    """
    if not isinstance(url, str) or not url.strip():
        raise BrowserError(f"a web address is a non-empty string, not {url!r}")
    url = url.strip().replace("\\", "/")            # WHATWG: a backslash is a slash in http URLs
    try:
        absolute = urljoin(base, url) if base else url
        parts = urlsplit(absolute)
        port = parts.port
    except ValueError as e:
        raise BrowserError(f"{url!r} is not a web address: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BrowserError(f"{url!r} is not an http(s) web address")
    del port                                    # parsed only to refuse a port that is not one
    return urlunsplit((parts.scheme, parts.netloc, _remove_dot_segments(parts.path or "/"), parts.query, ""))


def origin(url: str) -> str:
    """``scheme://host:port`` of *url* (user info dropped)."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{parts.hostname}:{port}"


def target(url: str) -> str:
    """What goes on the wire for *url*: the URL without user info (browsers never send it as credentials here)."""
    parts = urlsplit(url)
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def referrer(policy: str, document: str | None, request_url: str) -> str | None:
    """The ``Referer`` a page at *document* sends with a request to *request_url* (W3C Referrer Policy s8.3).

    The full URL loses its user info and fragment; "origin only" is ``scheme://host[:port]/``.
    """
    if document is None or policy == "no-referrer":
        return None
    full = target(document)
    parts = urlsplit(full)
    only_origin = f"{parts.scheme}://{parts.netloc}/"
    same = origin(document) == origin(request_url)
    downgrade = urlsplit(document).scheme == "https" and urlsplit(request_url).scheme == "http"
    return {
        "unsafe-url": full,
        "no-referrer-when-downgrade": None if downgrade else full,
        "same-origin": full if same else None,
        "origin": only_origin,
        "strict-origin": None if downgrade else only_origin,
        "origin-when-cross-origin": full if same else only_origin,
        "strict-origin-when-cross-origin": full if same else (None if downgrade else only_origin),
    }.get(policy, full if same else (None if downgrade else only_origin))


def parse_policy(value: str | None) -> str | None:
    """The policy a ``Referrer-Policy`` value sets: the last token browsers know (Referrer Policy s4.1), or None."""
    known = [t.strip().lower() for t in (value or "").split(",") if t.strip().lower() in POLICIES]
    return known[-1] if known else None


# -- pages ------------------------------------------------------------------------------
@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]]                  # what it submits as it is (hidden and filled-in inputs)
    buttons: list[tuple[str, str]]                 # (name, value) of its submit buttons
    id: str = ""
    name: str = ""
    checkboxes: list[tuple[str, str, bool]] = field(default_factory=list)   # (name, value, checked)


class _PageParser(html.parser.HTMLParser):
    """What the browser needs from a page: subresources, forms, refresh, referrer policy, scripts, title."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.subresources: list[tuple[str, str]] = []       # (kind, url)
        self.forms: list[Form] = []
        self.refresh: str | None = None
        self.policy: str | None = None
        self.scripts: list[str] = []
        self.onload = ""
        self.title = ""
        self._in = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "img" and a.get("src"):
            self.subresources.append(("img", a["src"]))
        elif tag == "script":
            if a.get("src"):
                self.subresources.append(("script", a["src"]))
            self._in = "script"
            self.scripts.append("")
        elif tag == "link" and "stylesheet" in a.get("rel", "").lower().split() and a.get("href"):
            self.subresources.append(("style", a["href"]))
        elif tag == "meta":
            if a.get("name", "").lower() == "referrer":
                self.policy = parse_policy(a.get("content")) or self.policy
            elif a.get("http-equiv", "").lower() == "refresh" and self.refresh is None:
                m = re.match(r"\s*\d*\s*[;,]?\s*(?:url\s*=\s*)?['\"]?([^'\"]*)", a.get("content", ""), re.I)
                if m and m.group(1).strip():
                    self.refresh = m.group(1).strip()
        elif tag == "body":
            self.onload = a.get("onload", "")
        elif tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower(), [], [], a.get("id", ""),
                                   a.get("name", "")))
        elif tag in ("input", "button") and self.forms:
            form, name = self.forms[-1], a.get("name")
            kind = a.get("type", "text" if tag == "input" else "submit").lower()
            if kind == "submit":
                if name:
                    form.buttons.append((name, a.get("value", "")))
            elif kind == "checkbox":
                if name:
                    form.checkboxes.append((name, a.get("value", "on"), "checked" in a))
            elif name and kind not in ("button", "reset", "file", "image"):
                form.fields.append((name, a.get("value", "")))
        elif tag in ("title", "style"):
            self._in = tag

    def handle_endtag(self, tag):
        if tag in ("script", "title", "style"):
            self._in = None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in == "title":
            self.title += data
        elif self._in != "style":
            self._text.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self._text).split())


@dataclass
class Page:
    """The document the browser shows now."""

    url: str
    status: int | None
    title: str = ""
    text: str = ""
    policy: str = DEFAULT_POLICY
    forms: list[Form] = field(default_factory=list, repr=False)
    body: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"<Page {self.status} {self.url}: {self.title or self.text[:60]!r}>"


@dataclass(frozen=True)
class Hop:
    """One request the browser made, and what came back."""

    number: int
    kind: str               # visit, redirect, form, refresh, img, script, style
    method: str
    url: str
    status: int | None      # None: no answer (nothing listening there)
    referer: str | None
    cookies_sent: tuple[str, ...]
    cookies_set: tuple[str, ...]
    location: str | None = None
    note: str = ""


@dataclass
class _Cookie:
    name: str
    value: str
    path: str
    samesite: str           # lax, strict, none
    expires: float | None   # on the browser's clock


class Browser:
    """A web browser for one person; see the module docstring for what it does.

    *proxies* route every request (the lab's wiretap); *clock* (``.now()``)
    times cookies (default: wall time).
    """

    def __init__(self, name: str, *, proxies: dict | None = None, clock=None, user_agent: str | None = None):
        self.name = name
        self.proxies = dict(proxies or {})
        self.clock = clock
        self.user_agent = user_agent or browser_agent(f"{name}'s browser")
        self.history: list[Hop] = []
        self.page: Page | None = None
        self._jar: dict[str, dict[str, _Cookie]] = {}

    # -- the public face -----------------------------------------------------------------------
    def visit(self, url: str) -> Page:
        """Open *url* as a link clicked in an e-mail (no Referer), and everything its pages make the browser do."""
        url = normalize(url)
        return self._navigate("GET", url, None, kind="visit", initiator=None, policy=DEFAULT_POLICY, document=None)

    def submit(self, form: int = 0, **values) -> Page:
        """Fill in the shown page's *form* (its index) with *values* and submit it, as a person does.

        A value for a submit button's name picks that button; a list gives a
        field (a checkbox group) several values; ``True`` ticks a checkbox.
        """
        if self.page is None or len(self.page.forms) <= form:
            raise BrowserError(f"{self.name}'s browser shows no form {form} to fill in")
        chosen = self.page.forms[form]
        pairs = [(k, v) for k, v in chosen.fields if k not in values]
        for name, value, checked in chosen.checkboxes:
            if name not in values and checked:
                pairs.append((name, value))
        for name, given in values.items():
            boxes = [v for n, v, _ in chosen.checkboxes if n == name]
            if given is True:
                pairs += [(name, v) for v in boxes] or [(name, "on")]
            elif given is False or given is None:
                continue
            elif isinstance(given, (list, tuple)):
                pairs += [(name, str(v)) for v in given]
            else:
                pairs.append((name, str(given)))
        return self._submit_form(chosen, pairs, kind="form")

    def cookies(self, site: str) -> dict[str, str]:
        """The cookies this browser holds for *site* (any URL on it): name -> value."""
        jar = self._jar.get(origin(normalize(site)), {})
        now = self._now()
        return {c.name: c.value for c in jar.values() if c.expires is None or c.expires > now}

    def forget(self) -> None:
        """A fresh profile: no cookies, no history, no page."""
        self._jar.clear()
        self.history.clear()
        self.page = None

    def frame(self, last: int | None = None) -> pd.DataFrame:
        """One row per request: what the browser sent and got back (cookies by name only)."""
        hops = self.history[-last:] if last else self.history
        rows = [{"#": h.number, "kind": h.kind, "method": h.method, "url": h.url,
                 "status": "no answer" if h.status is None else h.status, "referer": h.referer or "",
                 "cookies sent": ", ".join(h.cookies_sent), "cookies set": ", ".join(h.cookies_set),
                 "note": h.note} for h in hops]
        columns = ["#", "kind", "method", "url", "status", "referer", "cookies sent", "cookies set", "note"]
        return pd.DataFrame(rows, columns=columns).set_index("#")

    def __repr__(self) -> str:
        where = self.page.url if self.page else "nothing yet"
        return f"<Browser {self.name}: {len(self.history)} requests, showing {where}>"

    # -- navigating ----------------------------------------------------------------------------
    def _navigate(self, method: str, url: str, body: dict | list | None, *, kind: str, initiator: str | None,
                  policy: str, document: str | None, depth: int = 0) -> Page:
        """One navigation: the request, its redirects, then what the page it lands on does."""
        cross_site = False
        for _ in range(MAX_REDIRECTS + 1):
            cross_site = cross_site or (initiator is not None and initiator != origin(url))
            sent_referer = referrer(policy, document, url)
            response, hop = self._fetch(method, url, body, kind=kind, referer=sent_referer, navigation=True,
                                        cross_site=cross_site, initiator=initiator, policy=policy)
            if response is None:
                self.page = Page(url, None, "", hop.note)
                return self.page
            if response.status_code in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                try:
                    nxt = normalize(response.headers["Location"], url)
                except BrowserError as e:
                    self.page = Page(url, response.status_code, "", f"bad redirect: {e}")
                    return self.page
                if response.status_code in (301, 302, 303) and method != "GET":
                    method, body = "GET", None
                policy = parse_policy(response.headers.get("Referrer-Policy")) or policy
                url, kind = nxt, "redirect"
                continue
            return self._show(url, response, depth)
        self.page = Page(url, None, "", f"more than {MAX_REDIRECTS} redirects: stopped")
        return self.page

    def _show(self, url: str, response: requests.Response, depth: int) -> Page:
        """Render a response: load its subresources, then follow what the page does by itself."""
        content_type = response.headers.get("Content-Type", "")
        text = response.content[:MAX_PAGE].decode(response.encoding or "utf-8", "replace")
        if "html" not in content_type:
            self.page = Page(url, response.status_code, "", text[:200], body=text)
            return self.page
        parsed = _PageParser()
        try:
            parsed.feed(text)
            parsed.close()
        except (AssertionError, ValueError):        # html.parser gives up on some broken markup
            pass
        policy = parsed.policy or parse_policy(response.headers.get("Referrer-Policy")) or DEFAULT_POLICY
        self.page = page = Page(url, response.status_code, parsed.title.strip(), parsed.text, policy, parsed.forms,
                                text)
        for kind, src in parsed.subresources:
            try:
                sub = normalize(src, url)
            except BrowserError:
                continue
            self._subresource(kind, sub, url, policy)
        if depth >= MAX_NAVIGATIONS:
            return page
        auto = self._auto_submitted(parsed)
        if auto is not None:
            return self._submit_form(auto, list(auto.fields), kind="form", depth=depth + 1)
        if parsed.refresh:
            try:
                nxt = normalize(parsed.refresh, url)
            except BrowserError:
                return page
            return self._navigate("GET", nxt, None, kind="refresh", initiator=origin(url), policy=policy,
                                  document=url, depth=depth + 1)
        return page

    @staticmethod
    def _auto_submitted(parsed: _PageParser) -> Form | None:
        """The form the page's one-line script (or ``onload``) submits, if any."""
        for code in [*parsed.scripts, parsed.onload]:
            for m in AUTO_SUBMIT.finditer(code or ""):
                if m.group("index") is not None:
                    index = int(m.group("index"))
                    if index < len(parsed.forms):
                        return parsed.forms[index]
                elif m.group("id") or m.group("name"):
                    for form in parsed.forms:
                        if ((m.group("id") and form.id == m.group("id"))
                                or (m.group("name") and form.name == m.group("name"))):
                            return form
                elif parsed.forms:                  # querySelector('form'): the first one
                    return parsed.forms[0]
        return None

    def _submit_form(self, form: Form, pairs: list[tuple[str, str]], *, kind: str, depth: int = 0) -> Page:
        document = self.page.url if self.page else None
        policy = self.page.policy if self.page else DEFAULT_POLICY
        try:
            action = normalize(form.action or document or "", document)
        except BrowserError as e:
            raise BrowserError(f"the form's action is not a web address: {e}") from None
        initiator = origin(document) if document else None
        if form.method == "post":
            return self._navigate("POST", action, pairs, kind=kind, initiator=initiator, policy=policy,
                                  document=document, depth=depth)
        parts = urlsplit(action)
        action = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs), ""))
        return self._navigate("GET", action, None, kind=kind, initiator=initiator, policy=policy,
                              document=document, depth=depth)

    def _subresource(self, kind: str, url: str, document: str, policy: str) -> None:
        """An image, script or stylesheet: fetched (redirects followed), never executed."""
        initiator = origin(document)
        for _ in range(MAX_REDIRECTS + 1):
            response, _hop = self._fetch("GET", url, None, kind=kind, referer=referrer(policy, document, url),
                                         navigation=False, cross_site=initiator != origin(url),
                                         initiator=initiator, policy=policy)
            if response is None or response.status_code not in (301, 302, 303, 307, 308):
                return
            try:
                url = normalize(response.headers.get("Location", ""), url)
            except BrowserError:
                return
            policy = parse_policy(response.headers.get("Referrer-Policy")) or policy

    # -- one request ---------------------------------------------------------------------------
    def _fetch(self, method, url, body, *, kind, referer, navigation, cross_site, initiator, policy):
        headers = {"User-Agent": self.user_agent,
                   "Accept": NAVIGATE_ACCEPT if navigation else ACCEPT.get(kind, "*/*"),
                   "Accept-Language": "en-GB,en;q=0.8"}
        if referer:
            headers["Referer"] = referer
        if method == "POST":
            headers["Origin"] = "null" if initiator is None or policy == "no-referrer" else initiator
        sent = self._cookies_for(url, navigation=navigation, method=method, cross_site=cross_site)
        if sent:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in sent.items())
        number = len(self.history) + 1
        try:
            with requests.Session() as s:
                s.trust_env = False
                s.proxies.update(self.proxies)
                response = s.request(method, target(url), headers=headers, data=body, allow_redirects=False,
                                     timeout=10)
        except requests.RequestException as e:
            hop = Hop(number, kind, method, target(url), None, referer, tuple(sent), (),
                      note=f"no answer ({type(e).__name__})")
            self.history.append(hop)
            return None, hop
        if self.proxies and _wiretap_refused(response):
            hop = Hop(number, kind, method, target(url), None, referer, tuple(sent), (),
                      note="no answer: nothing the lab runs listens there")
            self.history.append(hop)
            return None, hop
        set_names = self._store_cookies(url, response, navigation=navigation, cross_site=cross_site)
        hop = Hop(number, kind, method, target(url), response.status_code, referer, tuple(sent), tuple(set_names),
                  response.headers.get("Location"))
        self.history.append(hop)
        return response, hop

    # -- cookies -------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.clock.now() if self.clock is not None else time.time()

    def _cookies_for(self, url: str, *, navigation: bool, method: str, cross_site: bool) -> dict[str, str]:
        now, path = self._now(), urlsplit(url).path or "/"
        out = {}
        for c in self._jar.get(origin(url), {}).values():
            if c.expires is not None and c.expires <= now:
                continue
            if not (path == c.path or path.startswith(c.path.rstrip("/") + "/") or c.path == "/"):
                continue
            if cross_site and c.samesite == "strict":
                continue
            if cross_site and c.samesite == "lax" and not (navigation and method == "GET"):
                continue
            out[c.name] = c.value
        return out

    def _store_cookies(self, url: str, response: requests.Response, *, navigation: bool,
                       cross_site: bool) -> list[str]:
        headers = response.raw.headers.getlist("Set-Cookie") if response.raw is not None else []
        stored = []
        for header in headers:
            jar = SimpleCookie()
            try:
                jar.load(header)
            except CookieError:
                continue
            for name, morsel in jar.items():
                samesite = (morsel["samesite"] or "lax").lower()
                if samesite not in ("lax", "strict", "none"):
                    samesite = "lax"
                if cross_site and not navigation and samesite != "none":
                    continue        # a cross-site subresource may not set a Lax or Strict cookie
                expires = None
                if morsel["max-age"]:
                    try:
                        expires = self._now() + int(morsel["max-age"])
                    except ValueError:
                        pass
                elif morsel["expires"]:
                    try:
                        expires = self._now() + (parsedate_to_datetime(morsel["expires"]).timestamp() - time.time())
                    except (TypeError, ValueError):
                        pass
                path = morsel["path"] or (urlsplit(url).path.rsplit("/", 1)[0] or "/")
                site = self._jar.setdefault(origin(url), {})
                if expires is not None and expires <= self._now():
                    site.pop(name, None)
                else:
                    site[name] = _Cookie(name, morsel.value, path, samesite, expires)
                stored.append(name)
        return stored


def _wiretap_refused(response: requests.Response) -> bool:
    """The wiretap answered for a server that is not there: nothing listens on that port (or it is no lab server)."""
    if not response.headers.get("Content-Type", "").startswith("application/json"):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and (body.get("error") == "bad_gateway" or (
        body.get("error") == "forbidden" and "wiretap" in str(body.get("error_description", ""))))


def query(url: str) -> dict[str, str]:
    """The query parameters of *url*."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
