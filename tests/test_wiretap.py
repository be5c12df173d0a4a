"""The wiretap: exact bytes on the wire, as records and a DataFrame; never an open proxy."""
import socket

import apisec_lab

from .conftest import code_flow

ALICE = ("alice", apisec_lab.DEMO_PASSWORDS["alice"])


def test_captures_the_raw_request_and_response(lab):
    lab.weaknesses.basic_auth = True
    with lab.session(tapped=True) as s:
        r = s.get(f"{lab.api_url}/messages", auth=ALICE)
    assert r.status_code == 200
    x = lab.wiretap.last()
    assert x.server == "api" and x.method == "GET" and x.path == "/messages" and x.status == 200
    assert x.request.raw.startswith(b"GET /messages HTTP/1.1\r\n")
    assert b"Authorization: Basic YWxpY2U6d29uZGVybGFuZC0yMDI2\r\n" in x.request.raw
    assert x.response.raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert x.response.json() == r.json()
    assert "Off with your head" in x.response.text()


def test_frame_has_one_row_per_exchange(lab):
    lab.weaknesses.basic_auth = True
    with lab.session(tapped=True) as s:
        s.get(f"{lab.api_url}/health")
        s.get(f"{lab.api_url}/photos", auth=ALICE)
        s.get(f"{lab.issuer}/.well-known/oauth-authorization-server")
    df = lab.wiretap.frame()
    assert list(df["path"]) == ["/health", "/photos", "/.well-known/oauth-authorization-server"]
    assert list(df["server"]) == ["api", "api", "issuer"]
    assert list(df["status"]) == [200, 200, 200]
    assert df["authorization"].iloc[1].startswith("Basic ")
    assert (df["request_bytes"] > 0).all()
    lab.wiretap.clear()
    assert lab.wiretap.frame().empty


def test_the_password_crosses_to_the_issuer_only_in_a_token_flow(lab):
    from requests_oauthlib import OAuth2Session

    oauth = OAuth2Session("photocli", redirect_uri=f"{lab.apps_url}/photocli/callback", scope=["photos:read"],
                          pkce="S256")
    url, _ = oauth.authorization_url(lab.metadata["authorization_endpoint"])
    back = lab.authorize(url, *ALICE, tapped=True)
    oauth.proxies = lab.wiretap.proxies
    oauth.trust_env = False
    oauth.fetch_token(lab.metadata["token_endpoint"], authorization_response=back.url, include_client_id=True)
    oauth.get(f"{lab.api_url}/photos")
    carrying = lab.wiretap.find(ALICE[1])
    assert [x.server for x in carrying] == ["issuer"] and carrying[0].path.startswith("/authorize")
    assert [x.server for x in lab.wiretap.records] == ["issuer", "issuer", "api"]


def test_relays_only_to_the_labs_own_servers(lab):
    host, port = lab.wiretap.url.split("//")[1].split(":")
    for target in (b"http://example.org/", b"http://127.0.0.1:22/", b"/relative"):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = s.recv(65536)
        assert reply.split(b" ")[1] == b"403", reply
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"NONSENSE\r\n\r\n")
        assert s.recv(65536).split(b" ")[1] == b"400"
    with lab.session(tapped=True) as s:
        assert s.get(f"{lab.api_url}/health").status_code == 200


def test_tokens_in_a_flow_show_up_in_the_capture(lab):
    token = code_flow(lab, "photoprint", ["photos:read"])
    with lab.session(tapped=True) as s:
        s.get(f"{lab.api_url}/photos", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert lab.wiretap.find(token["access_token"])[0].path == "/photos"
