"""A lab answers only its owner (apisec_lab/http/owner.py): the account behind a loopback connection.

The real thing: a listening socket in this process, connections from this process (the owner) and
from a child process running as another account (``nobody``), read back from /proc/net/tcp.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys

import pytest

from apisec_lab.http import owner

linux_root = pytest.mark.skipif(not (sys.platform.startswith("linux") and os.geteuid() == 0),
                                reason="needs Linux (/proc/net/tcp) and root (to become another account)")


@pytest.mark.parametrize(("hex_address", "expected"), [
    ("0100007F:1F90", ("127.0.0.1", 8080)),
    ("00000000000000000000000001000000:0050", ("::1", 80)),
    ("0000000000000000FFFF00000100007F:A1B2", ("127.0.0.1", 0xA1B2)),      # IPv4-mapped, as an IPv4 peer
])
def test_proc_net_tcp_addresses_decode(hex_address, expected):
    ip, port = owner._address(hex_address)
    assert (str(ip), port) == expected


def _listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    return server


def _connect_as(uid: int, port: int) -> subprocess.Popen:
    """A child process running as ``uid`` that connects to ``port`` and holds on until its stdin closes."""
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")   # not a Python under root's home
    if python is None:
        pytest.skip("no system python3 that another account can run")
    child = subprocess.Popen(
        [python, "-c", "import socket, sys\n"
         f"c = socket.create_connection(('127.0.0.1', {port}))\nprint('connected', flush=True)\nsys.stdin.read()"],
        user=uid, group=uid, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "connected\n"
    return child


@pytest.mark.skipif(not owner.available(), reason="no /proc/net/tcp")
def test_own_connection_is_the_owners():
    server = _listener()
    with server, socket.create_connection(server.getsockname()):
        conn, _ = server.accept()
        with conn:
            assert owner.peer_uid(conn) == os.getuid()
            assert owner.allowed(conn)
            assert not owner.allowed(conn, owner=os.getuid() + 1)


@linux_root
def test_another_accounts_connection_is_refused():
    nobody = pwd.getpwnam("nobody").pw_uid
    server = _listener()
    with server:
        child = _connect_as(nobody, server.getsockname()[1])
        conn, _ = server.accept()
        try:
            assert owner.peer_uid(conn) == nobody
            assert not owner.allowed(conn)
        finally:
            conn.close()
            child.communicate(timeout=10)


@pytest.mark.skipif(not owner.available(), reason="no /proc/net/tcp")
def test_a_vanished_peer_is_refused():
    server = _listener()
    with server:
        client = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
        peer = conn.getpeername()
        client.close()
        conn.close()
        assert owner.socket_owner(peer, ("127.0.0.1", 1)) is None


def test_without_proc_net_tcp_everyone_is_the_owner(monkeypatch):
    monkeypatch.setattr(owner, "available", lambda: False)
    server = _listener()
    with server, socket.create_connection(server.getsockname()):
        conn, _ = server.accept()
        with conn:
            assert owner.allowed(conn, owner=12345)


@pytest.mark.skipif(not owner.available(), reason="no /proc/net/tcp")
@pytest.mark.parametrize("ask", ["sock_diag", "proc"])
def test_both_ways_of_asking_the_kernel_agree(ask, monkeypatch):
    if ask == "proc":      # as where netlink is unavailable
        monkeypatch.setattr(owner, "_sock_diag_owner", lambda *a: (_ for _ in ()).throw(OSError("no netlink")))
    server = _listener()
    with server, socket.create_connection(server.getsockname()):
        conn, _ = server.accept()
        with conn:
            assert owner.socket_owner(conn.getpeername(), conn.getsockname()) == os.getuid()
            assert owner.socket_owner(("127.0.0.1", 1), conn.getsockname()) is None
