"""``python -m apisec_lab open`` opens the workbook in JupyterLab;
``python -m apisec_lab serve`` runs the same lab in a terminal, for curl, Postman or a browser;
``python -m apisec_lab progress`` shows progress through the workbook (``--help``: a room's, solution locks);
``python -m apisec_lab nbgrader COURSE_DIR`` writes the workbook as an nbgrader assignment.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit


class StopSignals:
    """SIGTERM, SIGINT (Ctrl-C) and SIGHUP, caught from the moment this is made.

    The handler only notes the signal; the C-level handler also writes its
    number to a socket (``signal.set_wakeup_fd``), so :meth:`wait` returns at
    once whether the signal came before the wait began or during it.  Made
    before the lab starts, it turns a signal at any moment of start-up or
    service into the same clean stop, run by the main thread.
    """

    #: SIGINT first: Python catches it already (KeyboardInterrupt); the others it leaves to the default action.
    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self):
        self.received: list[int] = []
        self._wakeup, self._trip = socket.socketpair()
        self._trip.setblocking(False)
        signal.set_wakeup_fd(self._trip.fileno(), warn_on_full_buffer=False)
        self._caught = [getattr(signal, n) for n in self.NAMES if hasattr(signal, n)]
        for signum in self._caught:
            signal.signal(signum, self._note)

    def _note(self, signum, frame) -> None:
        self.received.append(signum)

    def wait(self) -> None:
        """Return once a stop signal has arrived."""
        if not self.received:
            self._wakeup.recv(64)

    def release(self) -> None:
        """Back to the default dispositions (before the process becomes another program)."""
        for signum in self._caught:
            signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        self._wakeup.close()
        self._trip.close()


def client_option(value: str, public: bool) -> tuple[str, str, bool]:
    """``NAME=REDIRECT_URI`` -> ``(name, redirect_uri, public)``; an absolute URI without fragment (RFC 6749 s3.1.2)."""
    name, eq, uri = value.partition("=")
    parts = urlsplit(uri)
    if not (eq and name.strip() and parts.scheme and parts.netloc) or parts.fragment:
        raise argparse.ArgumentTypeError(f"{value!r}: write NAME=REDIRECT_URI, the redirect URI absolute and "
                                         f"without a #fragment, e.g. swagger=http://127.0.0.1:8000/oauth2-redirect.html")
    return name.strip(), uri, public


def register_own_clients(lab, clients: list[tuple[str, str, bool]], token_format: str = "opaque") -> list:
    """Register each ``(name, redirect_uri, public)``: authorization code (PKCE S256) + refresh, for every scope
    a published operation needs for a user; ``token_format="jwt"``: RFC 9068 JWT access tokens.
    Returns ``[(credentials, redirect_uri), ...]``."""
    from .servers.endpoints import ENDPOINTS

    scopes = sorted({e.scope for e in ENDPOINTS if e.scope and e.for_user and e.published})
    return [(lab.register_client(name, redirect_uris=[uri], scopes=scopes, public=public,
                                 description="Brought by whoever started the lab (serve --client).",
                                 token_format=token_format), uri)
            for name, uri, public in clients]


def serve(host: str, weaknesses: list[str], signals: StopSignals, cors_origins: list[str] = (),
          clients: list = (), token_format: str = "opaque") -> None:
    """Run the lab until SIGTERM, SIGINT or SIGHUP, then stop every server and delete the store."""
    from . import start

    lab = start(host=host, cors_origins=cors_origins)
    try:
        for name in weaknesses:
            setattr(lab.weaknesses, name, True)
        own = register_own_clients(lab, clients, token_format)
        if not signals.received:
            announce(lab, own)
        signals.wait()
    finally:
        lab.stop()
    print("stopped.", flush=True)


def announce(lab, own: list = ()) -> None:
    """The ready lines: URLs, demo users, client secrets (the caller's own clients too), and two commands to try."""
    from . import CAST, DEMO_PASSWORDS

    out = sys.stdout
    print("apisec-lab is running (Ctrl-C to stop)", file=out)
    print(f"  resource API          {lab.api_url}   (OpenAPI: {lab.api_url}/openapi.json)", file=out)
    if getattr(lab, "gateway_url", None):
        print(f"  API gateway           {lab.gateway_url}", file=out)
    print(f"  authorization server  {lab.issuer}   (metadata: {lab.issuer}/.well-known/oauth-authorization-server)",
          file=out)
    print(f"  JWT signing keys      {lab.issuer}/jwks   (for clients registered with token_format=\"jwt\")", file=out)
    print(f"  apps (redirect URIs)  {lab.apps_url}", file=out)
    if getattr(lab, "web_url", None):
        print(f"  PhotoPrint's website  {lab.web_url}   (sign in with the lab: {lab.web_url}/login)", file=out)
    if getattr(lab, "attacker", None):
        print(f"  attacker's server     {lab.attacker.url}", file=out)
    print(f"  wiretap proxy         {lab.wiretap.url}", file=out)
    if getattr(lab, "metadata_service", None):
        print(f"  metadata service      {lab.metadata_service.url}   (internal: the gateway never forwards there, "
              "the API reaches it; notebook 08)", file=out)
        print(f"  print partner         {lab.partner.url}   (a third party the API calls; notebook 08)", file=out)
    print("demo users (published demo credentials):", file=out)
    for user, password in DEMO_PASSWORDS.items():
        print(f"  {user:8} {password}", file=out)
    print("clients:", file=out)
    for cid, creds in lab.clients.items():
        secret = creds.client_secret or "(public client: no secret, use PKCE)"
        print(f"  {cid:16} secret {secret}", file=out)
        print(f"  {'':16} {CAST.get(cid, '')}", file=out)
    for creds, uri in own:
        secret = creds.client_secret or "(public client: no secret, use PKCE S256)"
        print(f"  {creds.client_id:16} secret {secret}", file=out)
        print(f"  {'':16} yours ({'--client' if creds.client_secret else '--public-client'} {creds.name}): "
              f"redirect URI {uri}", file=out)
    print(f"CORS: {', '.join(lab.cors_origins) or 'off (no --cors)'}", file=out)
    print(f"weaknesses on: {', '.join(lab.weaknesses.enabled()) or 'none (hardened)'}", file=out)
    print("try:", file=out)
    print(f"  curl -s {lab.api_url}/health", file=out)
    print(f"  curl -s -u backup-bot:{lab.clients['backup-bot'].client_secret} "
          f"-d grant_type=client_credentials {lab.issuer}/token", file=out)
    out.flush()


def jupyter_lab_command(extra: list[str], as_root: bool) -> list[str]:
    """The JupyterLab command that opens the workbook at its first notebook, on loopback.

    JupyterLab refuses to run as root (as in many containers) unless told;
    the workbook's servers stay on 127.0.0.1 either way.
    """
    first = Path(__file__).resolve().parent.parent / "notebooks" / "00-start-here.ipynb"
    command = [sys.executable, "-m", "jupyterlab", str(first), "--ServerApp.ip=127.0.0.1"]
    if as_root:
        command.append("--allow-root")
    return command + extra


def _origin(value: str) -> str:
    from .http.cors import exact_origin

    try:
        return exact_origin(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    # First of all: from here on a stop signal ends `serve` cleanly, even one that
    # arrives while the lab's libraries load or its servers start.
    signals = StopSignals()
    from .core.weaknesses import Weaknesses

    parser = argparse.ArgumentParser(prog="python -m apisec_lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the lab until Ctrl-C")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to bind (default 127.0.0.1; anything else exposes a training lab to the network)")
    known = list(Weaknesses.__dataclass_fields__)
    p.add_argument("--weak", action="append", default=[], metavar="SWITCH",
                   help=f"turn on a deliberate weakness (repeatable): {', '.join(known)}")
    p.add_argument("--cors", action="append", default=[], metavar="ORIGIN", type=_origin,
                   help="let pages from this exact origin (e.g. http://127.0.0.1:8000, where Swagger UI runs) call "
                        "the API, the gateway and the token, revocation, introspection and metadata endpoints "
                        "(repeatable; never /authorize)")
    p.add_argument("--client", action="append", default=[], metavar="NAME=REDIRECT_URI", dest="clients",
                   type=lambda v: client_option(v, public=False),
                   help="register a confidential client with this redirect URI; its id and secret are printed "
                        "(repeatable)")
    p.add_argument("--public-client", action="append", default=[], metavar="NAME=REDIRECT_URI", dest="clients",
                   type=lambda v: client_option(v, public=True),
                   help="register a public client (no secret: PKCE S256) with this redirect URI (repeatable)")
    p.add_argument("--jwt", action="store_const", const="jwt", default="opaque", dest="token_format",
                   help="the clients of --client and --public-client get RFC 9068 JWT access tokens (RS256, "
                        "verifiable with the key set at the metadata's jwks_uri) instead of opaque ones")
    sub.add_parser("open", help="open the workbook in JupyterLab (any further arguments go to JupyterLab)")
    sub.add_parser("progress", help="progress through the workbook: yours, a room's (table and picture), "
                                    "solution locks; see progress --help")
    g = sub.add_parser("nbgrader", help="write the workbook as an nbgrader assignment (source notebooks)")
    g.add_argument("course_dir", type=Path, help="nbgrader's course folder: writes source/<assignment>/")
    g.add_argument("--assignment", default="apisec-lab")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["progress"]:            # its own parser (apisec_lab/book/progress.py)
        signals.release()
        from .book import progress
        return progress.main(argv[1:])
    args, extra = parser.parse_known_args(argv)
    if args.command == "open":
        command = jupyter_lab_command(extra, as_root=hasattr(os, "geteuid") and os.geteuid() == 0)
        if "--allow-root" in command and "--allow-root" not in extra:
            print("apisec-lab: running as root, so JupyterLab is started with --allow-root", file=sys.stderr)
        sys.stdout.flush()
        signals.release()
        if signals.received:
            return 0
        os.execv(command[0], command)   # become JupyterLab: Ctrl-C and signals reach it directly
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "nbgrader":
        signals.release()
        from .book import grading
        for name, keys in grading.export(args.course_dir, args.assignment).items():
            print(f"{args.course_dir / 'source' / args.assignment / name}: {', '.join(keys)}")
        return 0
    if args.command == "serve":
        bad = [w for w in args.weak if w not in known]
        if bad:
            parser.error(f"unknown weakness {bad}; known: {known}")
        serve(args.host, args.weak, signals, args.cors, args.clients, args.token_format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
