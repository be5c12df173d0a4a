"""A lab answers only its owner: the OS account behind each loopback connection.

On a shared host (The Littlest JupyterHub, a Kubernetes node running several learners' servers with
host networking, a classroom server) every account can connect to every loopback port, and the demo
passwords are public: without a check, another learner could sign in to your lab, read your captures
or revoke your tokens. So every server of the lab accepts a connection only when the socket at the
other end belongs to the account that runs the lab.

Linux tells every account who owns each TCP socket: the peer of an accepted loopback connection is
the socket whose local address is the peer's and whose remote address is ours, and the kernel's
socket table gives its owner's uid. The lab asks the kernel for that one socket over netlink
(``sock_diag``, what ``ss`` uses: about 10 microseconds), and reads ``/proc/net/tcp`` and
``/proc/net/tcp6`` (as identd always has) only where netlink is unavailable: that file lists every
socket of the machine, and on a busy host (9,000 rows, seen here) reading it takes some 50 ms.
A connection through the learner's own jupyter-server-proxy comes from the learner's single-user
server, so it carries the learner's uid; another learner's kernel, or another learner's server
proxy, carries theirs.

Where there is no ``/proc/net/tcp`` (macOS, Windows: a laptop, one person) the check does not apply
and every connection is the owner's, as before. Under JupyterHub's ``simple`` spawner every server
runs as root, so the check cannot tell learners apart (the README says to use ``localprocess`` or a
container per learner).
"""
from __future__ import annotations

import ipaddress
import os
import socket
import struct

TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def available() -> bool:
    """True where the kernel says who owns each socket (Linux)."""
    return os.path.exists(TABLES[0])


def _address(hex_address: str) -> tuple[ipaddress._BaseAddress, int]:
    """``0100007F:1F90`` (host byte order, 32-bit words) to ``(127.0.0.1, 8080)``."""
    host, _, port = hex_address.partition(":")
    words = [int(host[i:i + 8], 16) for i in range(0, len(host), 8)]
    packed = struct.pack(f"={len(words)}I", *words)
    ip = ipaddress.ip_address(packed)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip, int(port, 16)


def _normal(address) -> tuple[ipaddress._BaseAddress, int]:
    ip = ipaddress.ip_address(address[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip, int(address[1])


#: linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h
_NETLINK_SOCK_DIAG, _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, _NLMSG_ERROR = 4, 20, 1, 2
_INET_DIAG_NOCOOKIE = 0xFFFFFFFF
#: Offset of ``idiag_uid`` in the answer: nlmsghdr (16) + family, state, timer, retrans (4) +
#: inet_diag_sockid (48) + expires, rqueue, wqueue (12).
_UID_OFFSET = 16 + 4 + 48 + 12


def _sock_diag_owner(local, remote) -> int | None:
    """The owner of one TCP socket, asked of the kernel by its addresses (``inet_diag_req_v2``, no dump).

    Raises OSError where netlink's sock_diag is not available; None when there is no such socket.
    """
    (lip, lport), (rip, rport) = _normal(local), _normal(remote)
    if lip.version != rip.version:
        return None
    family = socket.AF_INET if lip.version == 4 else socket.AF_INET6
    sockid = (struct.pack("!HH", lport, rport) + lip.packed.ljust(16, b"\0") + rip.packed.ljust(16, b"\0")
              + struct.pack("=III", 0, _INET_DIAG_NOCOOKIE, _INET_DIAG_NOCOOKIE))
    request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
    message = struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0) + request
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(2)
        nl.sendto(message, (0, 0))
        answer = nl.recv(8192)
    if len(answer) < _UID_OFFSET + 4 or struct.unpack_from("=H", answer, 4)[0] == _NLMSG_ERROR:
        return None
    return struct.unpack_from("=I", answer, _UID_OFFSET)[0]


def socket_owner(local, remote, tables=TABLES) -> int | None:
    """The uid owning the socket whose local end is ``local`` and whose remote end is ``remote``.

    ``local``/``remote`` are ``(host, port)`` as ``socket.getpeername()`` gives them. None when no
    such socket exists (it closed) or nobody can tell. Asks netlink's sock_diag, else reads ``tables``.
    """
    if tables is TABLES and hasattr(socket, "AF_NETLINK"):
        try:
            return _sock_diag_owner(local, remote)
        except OSError:
            pass                                  # no sock_diag here (some sandboxes): read the tables
    want = (_normal(local), _normal(remote))
    for table in tables:
        try:
            with open(table, encoding="ascii") as f:
                next(f)                                         # the header line
                for line in f:
                    fields = line.split()
                    if len(fields) > 7 and (_address(fields[1]), _address(fields[2])) == want:
                        return int(fields[7])
        except (OSError, ValueError, StopIteration):
            continue
    return None


def peer_uid(conn: socket.socket) -> int | None:
    """The uid of the process at the other end of the accepted connection ``conn`` (Linux), or None."""
    try:
        return socket_owner(conn.getpeername()[:2], conn.getsockname()[:2])
    except OSError:
        return None


def allowed(conn: socket.socket, owner: int | None = None) -> bool:
    """May this connection talk to the lab? A loopback peer only when its account is ``owner`` (default: ours).

    Fails closed on Linux (no row for a loopback peer: refused); open where the check does not exist.
    A peer on another machine (a lab bound to another interface on purpose, which the lab warns about
    loudly, e.g. in a container) has no row here to check, and is let through as before.
    """
    if not available():
        return True
    try:
        peer = conn.getpeername()
    except OSError:
        return False
    if not _normal(peer)[0].is_loopback:
        return True
    return peer_uid(conn) == (os.getuid() if owner is None else owner)


REFUSAL = ("This lab belongs to another account on this machine: it answers only its owner "
           "(connections whose peer is not the owner's OS account are refused).")
