"""The API's own outgoing requests: the lab's network, the fuse, and a fetcher for URLs the API did not choose.

Two features of the API call out to other servers: the webhook test (``POST /webhooks/test`` fetches a URL
the user typed) and print orders (``POST /prints`` calls the print partner, a third party). Both use
:class:`Outbound`, which sends every request through the lab's wiretap, so ``lab.wiretap`` shows what the
API itself sent and what came back (OWASP API7:2023 and API10:2023 are about exactly those requests).

**The lab's network** (:class:`LabNetwork`): every lab server listens on 127.0.0.1 on a port of its own, in
one of two zones:

- ``public``: what anyone on the internet can reach: the gateway (the API's one public door), the
  authorization server, the apps' pages, the attacker's server and the print partner;
- ``internal``: what only the API's own network reaches: the API itself (behind the gateway) and the
  metadata service, with the API's cloud credentials.

**The fuse**, always on, whatever the switches: a URL is fetched only if it is plain ``http`` and names a lab
server: its host is an IPv4 address in any spelling the C library reads (``127.0.0.1``, ``127.1``,
``2130706433``, ``0x7f.0.0.1``), an IPv6 literal mapped onto it (``[::ffff:127.0.0.1]``) or ``localhost``,
and its port is one a lab server listens on. No name is ever looked up, so neither a request nor a DNS
query leaves the machine, however the URL is spelt.

**Policies** decide which of the URLs the fuse lets through may be fetched: a callable ``allow(url) -> bool``,
asked before the first request and before every redirect it follows. :meth:`LabNetwork.is_public` is the
API's hardened policy (OWASP's first SSRF defence: an allow-list of destinations, checked on the address
the request will really go to, every hop).
"""
from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urljoin, urlsplit

import pandas as pd
import requests

from ..core.cast import user_agent
from ..http.wsgi import LOOPBACK

ZONES = ("public", "internal")
#: Redirect statuses (RFC 9110 section 15.4); 307 and 308 keep the method and the body.
REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: What one fetch reads of an answer's body (bytes), at most.
MAX_BYTES = 64 * 1024
#: Characters an IPv4 address can be spelt with (decimal, octal, hex parts).
_IPV4_SPELLING = re.compile(r"[0-9A-Fa-fXx.]{1,40}")
#: How the API's own requests name themselves (what a sequence diagram draws them from: the API's lane).
USER_AGENT = user_agent("API")


class Refused(Exception):
    """The fuse refused a URL: it is not plain HTTP to one of the lab's own servers."""


@dataclass(frozen=True)
class Destination:
    """Where a URL really leads in the lab's network."""

    url: str          # the URL as the fetcher will send it: http://127.0.0.1:PORT/path?query
    port: int
    server: str       # the lab server's name: "metadata", "attacker", ...
    zone: str         # "public" or "internal"


class LabNetwork:
    """Which lab server listens on which port, and in which zone (filled in by the lab as it binds them)."""

    def __init__(self):
        #: port -> server name; the wiretap reads it to name (and to allow) what it relays.
        self.names: dict[int, str] = {}
        self._zones: dict[int, str] = {}

    def add(self, port: int, name: str, zone: str) -> None:
        if zone not in ZONES:
            raise ValueError(f"a zone is one of {ZONES}, not {zone!r}")
        self.names[port], self._zones[port] = name, zone

    def ports(self, zone: str | None = None) -> list[int]:
        """The ports of the lab's servers (in *zone*, if given)."""
        return sorted(p for p, z in self._zones.items() if zone is None or z == zone)

    def frame(self) -> pd.DataFrame:
        """Every lab server, internal ones first: its zone and base URL."""
        rows = [{"server": self.names[p], "zone": self._zones[p], "url": f"http://{LOOPBACK}:{p}"}
                for p in sorted(self._zones, key=lambda p: (self._zones[p], self.names[p]))]
        return pd.DataFrame(rows, columns=["server", "zone", "url"]).set_index("server")

    def destination(self, url: str) -> Destination:
        """Where *url* leads; :class:`Refused` (the fuse) unless it is plain HTTP to a lab server."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:                      # "http://[::1/", "http://127.0.0.1:99999/"
            raise Refused(f"the URL cannot be parsed ({e})") from None
        if parts.scheme != "http":
            raise Refused(f"only http:// URLs are fetched, not {parts.scheme or 'a URL without a scheme'}:")
        address = _address(parts.hostname or "")
        if address != LOOPBACK:
            raise Refused(f"{parts.hostname or 'no host'} is not one of the lab's servers (they all listen on "
                          f"{LOOPBACK}; the lab looks no name up and sends nothing beyond this machine)")
        port = 80 if port is None else port
        if port not in self._zones:
            raise Refused(f"no lab server listens on port {port}")
        target = f"http://{LOOPBACK}:{port}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
        return Destination(target, port, self.names[port], self._zones[port])

    def zone(self, url: str) -> str | None:
        """The zone *url* leads to, or None if the fuse refuses it."""
        try:
            return self.destination(url).zone
        except Refused:
            return None

    def is_public(self, url: str) -> bool:
        """The API's hardened policy: fetch only what leads to a public server (a real address, checked as it
        will be connected to, not as it is spelt)."""
        return self.zone(url) == "public"


def _address(host: str) -> str | None:
    """The IPv4 address *host* names without any lookup: a literal in any spelling, or localhost; else None."""
    if host == "localhost":
        return LOOPBACK
    if ":" in host:                                   # an IPv6 literal (urlsplit has taken off the brackets)
        try:
            mapped = ipaddress.IPv6Address(host).ipv4_mapped
        except ValueError:
            return None
        return str(mapped) if mapped else None
    if _IPV4_SPELLING.fullmatch(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))    # the C library's reading: 127.1, 0x7f.1, 2130706433
        except OSError:
            return None
    return None


@dataclass
class Hop:
    """One request of a fetch (the first, or one redirect)."""

    url: str                              # as given, or as the redirect's Location made it
    allowed: bool = False                 # did the policy allow it?
    destination: Destination | None = None    # where it went, if the fuse let it
    status: int | None = None
    note: str = ""

    @property
    def server(self) -> str:
        return self.destination.server if self.destination else ""


@dataclass
class Fetched:
    """What one fetch did: its hops, and the last answer."""

    hops: list[Hop] = field(default_factory=list)
    content_type: str = ""
    body: bytes = b""
    truncated: bool = False

    @property
    def last(self) -> Hop:
        return self.hops[-1]

    @property
    def status(self) -> int | None:
        return self.last.status

    @property
    def delivered(self) -> bool:
        return self.last.status is not None

    def reached(self, zone: str) -> list[Hop]:
        """The hops that were sent to a server in *zone*."""
        return [h for h in self.hops if h.status is not None and h.destination and h.destination.zone == zone]

    def text(self, limit: int = 2000) -> str:
        return self.body.decode("utf-8", "replace")[:limit]


class Outbound:
    """The API's HTTP client for URLs it did not choose, through the lab's wiretap.

    *network* is the :class:`LabNetwork` (its fuse always applies); *proxies* the wiretap's
    (``{"http": url}``), or None to connect straight (tests of this module).
    """

    def __init__(self, network: LabNetwork | None = None, proxies: dict | None = None, timeout: float = 5,
                 max_bytes: int = MAX_BYTES):
        self.network = network if network is not None else LabNetwork()
        self.proxies, self.timeout, self.max_bytes = proxies, timeout, max_bytes

    def fetch(self, url: str, allow: Callable[[str], bool] | None = None, *, method: str = "GET",
              json_body=None, follow: bool = True, max_redirects: int = 3) -> Fetched:
        """Send *method* to *url* (JSON *json_body*, if any) and follow up to *max_redirects* redirects.

        *allow(url)* is asked before every request, the first and each redirect (None: allow all);
        the fuse then refuses anything that is not a lab server. A redirect 307 or 308 repeats the
        method and the body; 301, 302 and 303 turn a POST into a GET without a body (RFC 9110 section
        15.4). Never raises for what the network or the far end does: the hops say what happened.
        """
        result = Fetched()
        for n in range(max_redirects + 1):
            hop = Hop(url)
            result.hops.append(hop)
            try:
                hop.allowed = True if allow is None else bool(allow(url))
            except Exception as e:            # a policy that fails refuses
                hop.note = f"the policy raised {type(e).__name__}: {e}"
                return result
            if not hop.allowed:
                hop.note = hop.note or "refused by the policy"
                return result
            try:
                hop.destination = self.network.destination(url)
            except Refused as e:
                hop.note = f"refused by the lab's fuse: {e}"
                return result
            location = self._send(hop, method, json_body, result)
            if location is None or not follow or n == max_redirects:
                if location is not None:
                    hop.note = "a redirect, not followed"
                return result
            try:
                url = urljoin(url, location)
            except ValueError:
                hop.note = f"a redirect to {location[:200]!r}, which cannot be parsed"
                return result
            if hop.status in (301, 302, 303) and method != "HEAD":
                method, json_body = "GET", None
        return result

    def _send(self, hop: Hop, method: str, json_body, result: Fetched) -> str | None:
        """Send one request; fill in *hop* and *result*; the Location to follow, if it redirected."""
        with requests.Session() as s:
            s.trust_env = False
            if self.proxies:
                s.proxies.update(self.proxies)
            try:
                r = s.request(method, hop.destination.url, json=json_body, allow_redirects=False, stream=True,
                              timeout=self.timeout, headers={"User-Agent": USER_AGENT})
                with r:
                    data = r.raw.read(self.max_bytes + 1, decode_content=True) or b""
            except (requests.RequestException, OSError, ValueError) as e:
                hop.note = f"no answer ({type(e).__name__})"
                return None
        hop.status = r.status_code
        result.content_type = r.headers.get("Content-Type", "")
        result.body, result.truncated = data[:self.max_bytes], len(data) > self.max_bytes
        if r.status_code in REDIRECTS and r.headers.get("Location"):
            hop.note = f"redirected to {r.headers['Location'][:200]}"
            return r.headers["Location"]
        return None
