"""The API's own outgoing requests: the lab's network, the fuse that keeps them on the lab's servers, the fetcher.

OWASP API7:2023 (server side request forgery) and API10:2023 (unsafe consumption of APIs) are about the
requests an API sends by itself; servers/outbound.py sends all of them, through the wiretap.
"""
from __future__ import annotations

import socket

import pytest

from apisec_lab.servers.outbound import LabNetwork, Outbound, Refused


@pytest.fixture
def meta(lab) -> str:
    """The metadata service's base URL."""
    return f"http://127.0.0.1:{lab._metadata.port}"


@pytest.fixture
def no_lookups(monkeypatch):
    """Fail the test if anything asks the resolver about a name (a DNS query would leave the machine)."""
    asked = []

    def refuse(host, *args, **kwargs):
        if host not in ("127.0.0.1", "::1"):
            asked.append(host)
            raise AssertionError(f"a name was looked up: {host!r}")
        return real(host, *args, **kwargs)

    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return asked


def test_every_lab_server_is_on_the_network_map_in_its_zone(lab):
    frame = lab.network.frame()
    assert sorted(frame.index) == sorted(s.name for s in lab._servers)
    assert frame.loc["api", "zone"] == frame.loc["metadata", "zone"] == "internal"
    assert set(frame.loc[["gateway", "issuer", "apps", "attacker", "partner"], "zone"]) == {"public"}
    assert lab.network.ports("internal") == sorted([lab._api.port, lab._metadata.port])
    assert lab.wiretap.targets is lab.network.names, "the wiretap relays to exactly the lab's servers"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "0x7f000001", "0177.0.0.1",
                                  "[::ffff:127.0.0.1]", "localhost", "LOCALHOST"])
def test_the_fuse_reads_every_spelling_of_the_loopback_address(lab, meta, host, no_lookups):
    d = lab.network.destination(f"http://{host}:{lab._metadata.port}/latest/meta-data/?x=1")
    assert (d.server, d.zone, d.url) == ("metadata", "internal", f"{meta}/latest/meta-data/?x=1")


@pytest.mark.parametrize("url, why", [
    ("http://evil.example/", "not one of the lab's servers"),
    ("http://169.254.169.254/latest/meta-data/", "not one of the lab's servers"),
    ("http://10.0.0.1/", "not one of the lab's servers"),
    ("http://127.0.0.2:{api}/", "not one of the lab's servers"),
    ("http://[::1]:{api}/", "not one of the lab's servers"),
    ("http://127.0.0.1 .evil.example:{api}/", "not one of the lab's servers"),
    ("http://127.0.0.1:1/", "no lab server listens on port 1"),
    ("http://127.0.0.1/", "no lab server listens on port 80"),
    ("http://127.0.0.1:99999/", "cannot be parsed"),
    ("http://[::1/", "cannot be parsed"),
    ("https://127.0.0.1:{api}/", "only http://"),
    ("file:///etc/passwd", "only http://"),
    ("gopher://127.0.0.1:{api}/_GET", "only http://"),
    ("//127.0.0.1:{api}/", "only http://"),
    ("", "only http://"),
])
def test_the_fuse_refuses_anything_but_plain_http_to_a_lab_server(lab, url, why, no_lookups):
    with pytest.raises(Refused, match=why):
        lab.network.destination(url.format(api=lab._api.port))


def test_even_an_allow_everything_fetch_never_leaves_the_labs_servers(lab, no_lookups):
    """OWASP API7:2023: with no policy at all (the ssrf weakness), the fuse still holds, and nothing is sent."""
    outbound = Outbound(lab.network, lab.wiretap.proxies)
    lab.wiretap.clear()
    for url in ["http://evil.example/", "http://8.8.8.8/", "http://127.0.0.1:1/", "file:///etc/passwd",
                "http://[2001:db8::1]/"]:
        fetched = outbound.fetch(url)
        assert not fetched.delivered and fetched.last.note.startswith("refused by the lab's fuse"), url
    assert lab.wiretap.records == [] and no_lookups == []


def test_a_fetch_goes_through_the_wiretap_and_says_who_it_is(lab, meta):
    fetched = Outbound(lab.network, lab.wiretap.proxies).fetch(f"{meta}/latest/meta-data/")
    assert fetched.status == 200 and fetched.text() == "hostname\ninstance-id\niam/\n"
    assert lab.wiretap.last().server == "metadata"
    assert lab.metadata_service.records[-1].user_agent == "API/1.0", "the API's own requests name themselves"


def test_the_hardened_policy_allows_public_servers_only(lab, meta):
    public = lab.network.is_public
    assert public(lab.attacker.url + "/hook") and public(lab.gateway_url + "/health")
    assert public(f"http://127.1:{lab._partner.port}/v1/status")          # where it goes counts, not the spelling
    assert not public(f"{meta}/latest/") and not public(f"http://localhost:{lab._metadata.port}/")
    assert not public(lab.api_url + "/admin/users"), "the API itself is behind the gateway: internal"
    assert not public("http://evil.example/") and not public("not a url at all")


def test_every_redirect_is_checked_by_the_policy(lab, meta):
    """A public page that redirects inside: the policy is asked again before the second request."""
    go = lab.attacker.redirect("/go", f"{meta}/latest/meta-data/")
    outbound = Outbound(lab.network, lab.wiretap.proxies)
    fetched = outbound.fetch(go, lab.network.is_public)
    assert [h.allowed for h in fetched.hops] == [True, False] and not fetched.reached("internal")
    assert lab.metadata_service.records == []
    fetched = outbound.fetch(go)                     # no policy: the redirect is followed inside
    assert [h.server for h in fetched.hops] == ["attacker", "metadata"] and fetched.reached("internal")


def test_redirects_are_followed_a_few_times_only(lab):
    loop = lab.attacker.redirect("/loop", "/loop")
    fetched = Outbound(lab.network, lab.wiretap.proxies).fetch(loop, max_redirects=3)
    assert len(fetched.hops) == 4 and fetched.last.note == "a redirect, not followed"


@pytest.mark.parametrize("status, method, body", [(307, "POST", True), (308, "POST", True), (302, "GET", False),
                                                  (303, "GET", False)])
def test_rfc9110_s15_4_a_307_repeats_the_post_a_302_turns_it_into_a_get(lab, status, method, body):
    lab.attacker.serve("/landing", "ok")
    start = lab.attacker.redirect("/start", lab.attacker.url + "/landing", status=status)
    Outbound(lab.network, lab.wiretap.proxies).fetch(start, method="POST", json_body={"card": "4242"})
    landed = lab.attacker.records[-1]
    assert (landed.path, landed.method, b"4242" in landed.body) == ("/landing", method, body)


def test_only_so_much_of_an_answer_is_read(lab):
    big = lab.attacker.serve("/big", "x" * 200_000, content_type="text/plain")
    fetched = Outbound(lab.network, lab.wiretap.proxies, max_bytes=1000).fetch(big)
    assert len(fetched.body) == 1000 and fetched.truncated


def test_a_policy_that_raises_refuses(lab):
    def broken(url):
        raise ValueError("oops")
    fetched = Outbound(lab.network, lab.wiretap.proxies).fetch(lab.attacker.url + "/", broken)
    assert not fetched.delivered and fetched.last.note == "the policy raised ValueError: oops"


def test_a_server_that_does_not_answer_is_a_note_not_an_exception(lab):
    net = LabNetwork()
    with socket.socket() as idle:           # a port that is bound and listens, and never answers
        idle.bind(("127.0.0.1", 0))
        idle.listen()
        net.add(idle.getsockname()[1], "silent", "public")
        fetched = Outbound(net, timeout=0.3).fetch(f"http://127.0.0.1:{idle.getsockname()[1]}/")
    assert not fetched.delivered and fetched.last.note.startswith("no answer")


def test_a_zone_must_be_one_of_the_two():
    with pytest.raises(ValueError, match="zone"):
        LabNetwork().add(1, "x", "dmz")
