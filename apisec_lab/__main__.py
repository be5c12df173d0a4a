"""``python -m apisec_lab open`` opens the workbook in JupyterLab;
``python -m apisec_lab serve`` runs the same lab in a terminal, for curl, Postman or a browser.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from . import CAST, DEMO_PASSWORDS, start
from .core.weaknesses import Weaknesses


def serve(host: str, weaknesses: list[str]) -> None:
    lab = start(host=host)
    for name in weaknesses:
        setattr(lab.weaknesses, name, True)
    out = sys.stdout
    print("apisec-lab is running (Ctrl-C to stop)", file=out)
    print(f"  resource API          {lab.api_url}   (OpenAPI: {lab.api_url}/openapi.json)", file=out)
    if getattr(lab, "gateway_url", None):
        print(f"  API gateway           {lab.gateway_url}", file=out)
    print(f"  authorization server  {lab.issuer}   (metadata: {lab.issuer}/.well-known/oauth-authorization-server)",
          file=out)
    print(f"  apps (redirect URIs)  {lab.apps_url}", file=out)
    print(f"  wiretap proxy         {lab.wiretap.url}", file=out)
    print("demo users (published demo credentials):", file=out)
    for user, password in DEMO_PASSWORDS.items():
        print(f"  {user:8} {password}", file=out)
    print("clients:", file=out)
    for cid, creds in lab.clients.items():
        secret = creds.client_secret or "(public client: no secret, use PKCE)"
        print(f"  {cid:16} secret {secret}", file=out)
        print(f"  {'':16} {CAST.get(cid, '')}", file=out)
    print(f"weaknesses on: {', '.join(lab.weaknesses.enabled()) or 'none (hardened)'}", file=out)
    print("try:", file=out)
    print(f"  curl -s {lab.api_url}/health", file=out)
    print(f"  curl -s -u backup-bot:{lab.clients['backup-bot'].client_secret} "
          f"-d grant_type=client_credentials {lab.issuer}/token", file=out)
    out.flush()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    lab.stop()
    print("stopped.", file=out)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apisec_lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the lab until Ctrl-C")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to bind (default 127.0.0.1; anything else exposes a training lab to the network)")
    known = list(Weaknesses.__dataclass_fields__)
    p.add_argument("--weak", action="append", default=[], metavar="SWITCH",
                   help=f"turn on a deliberate weakness (repeatable): {', '.join(known)}")
    sub.add_parser("open", help="open the workbook in JupyterLab (any further arguments go to JupyterLab)")
    args, extra = parser.parse_known_args(argv)
    if args.command == "open":
        command = jupyter_lab_command(extra, as_root=hasattr(os, "geteuid") and os.geteuid() == 0)
        if "--allow-root" in command and "--allow-root" not in extra:
            print("apisec-lab: running as root, so JupyterLab is started with --allow-root", file=sys.stderr)
        sys.stdout.flush()
        os.execv(command[0], command)   # become JupyterLab: Ctrl-C and signals reach it directly
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "serve":
        bad = [w for w in args.weak if w not in known]
        if bad:
            parser.error(f"unknown weakness {bad}; known: {known}")
        serve(args.host, args.weak)
    return 0


if __name__ == "__main__":
    sys.exit(main())
