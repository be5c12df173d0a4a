"""Behind JupyterHub or Binder: where the learner's browser reaches the lab, and the hub's credentials kept out.

On a laptop the browser and the kernel share one machine, and ``http://127.0.0.1:PORT`` is right for
both. Under JupyterHub (The Littlest JupyterHub, Zero to JupyterHub, Binder) the kernel runs on the
hub's host; the browser reaches a lab server only through the learner's own single-user server, by
jupyter-server-proxy: ``{hub origin}{JUPYTERHUB_SERVICE_PREFIX}proxy/{PORT}/...``. The server proxy
strips that prefix (the lab sees ``/authorize``), says where the request came from in
``X-Forwarded-Prefix`` (``/user/<name>/proxy/<port>``), and the hub's proxy adds
``X-Forwarded-Host`` and ``X-Forwarded-Proto``; it rewrites root-relative ``Location`` headers
only, never ``http://127.0.0.1:PORT/...``.

So the lab keeps one identity per side, each consistent in itself:

- **The kernel** (the apps, the resource server, every notebook cell) talks to the lab on loopback:
  its issuer, metadata, redirect URIs and tokens are the loopback ones, exactly as on a laptop.
- **The browser** is shown and sent only public URLs: :meth:`PublicBase.browser_url` translates a
  lab URL for a link in a notebook; a request that arrived through the learner's server proxy gets a
  :class:`BrowserView`, whose ``url`` translates every lab URL in its answer (the metadata, with its
  issuer, the ``Location`` of a redirect, the sign-in page's text), as a reverse proxy rewrites
  ``Location`` headers for the servers behind it (Apache's ``ProxyPassReverse``).

The public origin is ``$APISEC_PUBLIC_URL``'s or ``$JUPYTERHUB_PUBLIC_URL``'s (the hub sets the
latter when it has ``public_url``); else a request's own ``X-Forwarded-Host``/``-Proto`` (or
``Host``) say it, and a link in a notebook is root-relative, which the browser resolves against the
JupyterLab page it is on. Nothing of this applies without ``JUPYTERHUB_SERVICE_PREFIX``.

:func:`drop_hub_credentials` removes, at every server's edge, what the browser sends the lab only
because the lab shares the Jupyter server's origin: the hub's login cookie (``jupyterhub-user-<name>``
and the hub's other ``jupyterhub-*`` cookies), Jupyter's ``_xsrf`` and ``username-*`` cookies, and
an ``Authorization: token ...`` header. The lab then cannot record or display them.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from .owner import REFUSAL

SERVICE_PREFIX_ENV = "JUPYTERHUB_SERVICE_PREFIX"
HUB_PUBLIC_URL_ENV = "JUPYTERHUB_PUBLIC_URL"
PUBLIC_URL_ENV = "APISEC_PUBLIC_URL"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
_PROTO = ("http", "https")
#: Cookies the browser sends to every port of the Jupyter server's host: the hub's and Jupyter's own.
HUB_COOKIE = re.compile(r"^(?:jupyterhub-.*|_xsrf|username-.*)$")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in _PROTO and parts.netloc and _HOST.match(parts.netloc):
        return f"{parts.scheme}://{parts.netloc}"
    return ""


@dataclass(frozen=True)
class PublicBase:
    """The learner's server's public place: ``prefix`` (``/user/ann/``) and, when known, ``origin``."""

    prefix: str
    origin: str = ""

    @classmethod
    def from_environ(cls, env=None) -> "PublicBase | None":
        """The public base the hub gave this kernel, or None (not behind a hub: a laptop)."""
        env = os.environ if env is None else env
        prefix = env.get(SERVICE_PREFIX_ENV, "")
        if not prefix.startswith("/"):
            return None
        prefix = prefix if prefix.endswith("/") else prefix + "/"
        origin = _origin(env.get(PUBLIC_URL_ENV, "")) or _origin(env.get(HUB_PUBLIC_URL_ENV, ""))
        return cls(prefix, origin)

    def proxy_prefix(self, port: int) -> str:
        """``/user/ann/proxy/8123``: the path under which the server proxy forwards to ``port``."""
        return f"{self.prefix}proxy/{port}"

    def browser_url(self, url: str, ports, origin: str | None = None) -> str:
        """``url`` as the learner's browser must follow it: a lab server's loopback URL becomes its proxied one.

        URLs of anything but the lab's own ``ports`` on loopback are returned unchanged. Without an
        origin the result is root-relative (``/user/ann/proxy/8123/authorize?...``).
        """
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            return url
        if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS or port not in set(ports):
            return url
        base = self.origin if origin is None else origin
        path = self.proxy_prefix(port) + parts.path       # an issuer without a path stays without one
        if not base:
            return urlunsplit(("", "", path, parts.query, parts.fragment))
        scheme, netloc = base.split("://", 1)
        return urlunsplit((scheme, netloc, path, parts.query, parts.fragment))

    def view(self, environ: dict, port: int, ports) -> "BrowserView | None":
        """A :class:`BrowserView` when this request came through the learner's server proxy to ``port``.

        That is: ``X-Forwarded-Prefix`` is exactly ``{prefix}proxy/{port}``. Its origin is the
        configured one, else the request's ``X-Forwarded-Proto``/``-Host`` (the first, nearest the
        browser), else its ``Host``.
        """
        forwarded = environ.get("HTTP_X_FORWARDED_PREFIX", "").rstrip("/")
        if forwarded != self.proxy_prefix(port):
            return None
        origin = self.origin
        if not origin:
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
            host = (environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[0].strip()
                    or environ.get("HTTP_HOST", ""))
            proto = proto if proto in _PROTO else environ.get("wsgi.url_scheme", "http")
            origin = f"{proto}://{host}" if _HOST.match(host) else ""
        return BrowserView(self, origin, frozenset(ports))


@dataclass(frozen=True)
class BrowserView:
    """How one proxied request's answer must name the lab's servers: their public URLs."""

    base: PublicBase
    origin: str
    ports: frozenset

    def url(self, url: str) -> str:
        return self.base.browser_url(url, self.ports, self.origin)

    def urls(self, value):
        """Every lab URL in ``value`` (a string, or a JSON-like dict or list of them) translated."""
        if isinstance(value, str):
            return self.url(value)
        if isinstance(value, dict):
            return {k: self.urls(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.urls(v) for v in value]
        return value


def drop_hub_credentials(environ: dict) -> list[str]:
    """Remove the hub's and Jupyter's credentials from a request's WSGI environ; return what went (names only).

    Cookies matching :data:`HUB_COOKIE` leave ``HTTP_COOKIE`` (the header goes when nothing is left), and an
    ``Authorization`` header with Jupyter's ``token`` scheme goes. The lab's own schemes (Basic,
    Bearer) and any other cookie stay.
    """
    dropped = []
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth.split(" ", 1)[0].lower() == "token":
        del environ["HTTP_AUTHORIZATION"]
        dropped.append("Authorization: token")
    raw = environ.get("HTTP_COOKIE")
    if raw:
        names = [part.split("=", 1)[0].strip() for part in raw.split(";") if part.strip()]
        if any(HUB_COOKIE.match(n) for n in names):
            kept = [part.strip() for part in raw.split(";")
                    if part.strip() and not HUB_COOKIE.match(part.split("=", 1)[0].strip())]
            dropped += [f"cookie {n}" for n in names if HUB_COOKIE.match(n)]
            if kept:
                environ["HTTP_COOKIE"] = "; ".join(kept)
            else:
                del environ["HTTP_COOKIE"]
    return dropped


#: Where the server's connection handler leaves its verdict on the peer (see :mod:`.owner`).
OWNER_KEY = "apisec.peer_is_owner"
#: Where :class:`Edge` leaves a proxied request's :class:`BrowserView` for the handlers.
VIEW_KEY = "apisec.browser_view"


class Edge:
    """What every server of one lab does with a request before any handler sees it, and with the answer.

    :meth:`enter` refuses a connection from another account (the handler's verdict in
    ``environ[OWNER_KEY]``), drops the hub's credentials, and for a request that came through the
    learner's server proxy leaves a :class:`BrowserView` in ``environ[VIEW_KEY]``; :meth:`leave`
    translates the ``Location`` of such a request's answer. ``public`` is None on a laptop.
    """

    def __init__(self, public: PublicBase | None = None, ports=()):
        self.public = public
        self.ports = set(ports)

    def enter(self, environ: dict) -> tuple[int, str, str] | None:
        """None to go on, or ``(status, error, description)`` to refuse with."""
        if environ.get(OWNER_KEY) is False:
            return 403, "access_denied", REFUSAL
        drop_hub_credentials(environ)
        if self.public is not None:
            try:
                port = int(environ.get("SERVER_PORT", 0))
            except ValueError:
                port = 0
            environ[VIEW_KEY] = self.public.view(environ, port, self.ports)
        return None

    @staticmethod
    def view(environ: dict) -> BrowserView | None:
        return environ.get(VIEW_KEY)

    def leave(self, environ: dict, headers) -> None:
        """Translate a redirect's ``Location`` for the browser that will follow it (``headers``: werkzeug's)."""
        view = environ.get(VIEW_KEY)
        if view is not None and headers.get("Location"):
            headers["Location"] = view.url(headers["Location"])

    def browser_url(self, url: str) -> str:
        """``url`` for a link a notebook shows (unchanged on a laptop)."""
        return url if self.public is None else self.public.browser_url(url, self.ports)


def drop_hub_header_lines(lines: list[bytes]) -> list[bytes]:
    """:func:`drop_hub_credentials` for raw header lines (``b"Cookie: a=1\\r\\n"``), as the wiretap relays them."""
    kept = []
    for line in lines:
        name, sep, value = line.partition(b":")
        key = name.strip().lower()
        if sep and key in (b"authorization", b"cookie"):
            environ = {f"HTTP_{key.decode('latin-1').upper()}": value.strip().decode("latin-1")}
            drop_hub_credentials(environ)
            left = environ.get(f"HTTP_{key.decode('latin-1').upper()}")
            if left is None:
                continue
            line = name + b": " + left.encode("latin-1") + b"\r\n"
        kept.append(line)
    return kept
