"""Behind JupyterHub: public URLs for the browser, the hub's credentials dropped (apisec_lab/http/hub.py)."""
from __future__ import annotations

import pytest

from apisec_lab.http.hub import OWNER_KEY, Edge, PublicBase, drop_hub_credentials, drop_hub_header_lines

PORTS = {41001, 41002}
HUB = {"JUPYTERHUB_SERVICE_PREFIX": "/user/ann/"}


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),                                                                    # a laptop
    ({"JUPYTERHUB_SERVICE_PREFIX": ""}, None),
    (HUB, PublicBase("/user/ann/", "")),                                           # Binder: origin unknown
    ({"JUPYTERHUB_SERVICE_PREFIX": "/user/ann"}, PublicBase("/user/ann/", "")),
    ({**HUB, "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/ann/"}, PublicBase("/user/ann/",
                                                                                       "https://hub.example.org")),
    ({**HUB, "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/ann/",
      "APISEC_PUBLIC_URL": "http://hub.test:8000/"}, PublicBase("/user/ann/", "http://hub.test:8000")),
    ({**HUB, "JUPYTERHUB_PUBLIC_URL": "javascript:alert(1)//x"}, PublicBase("/user/ann/", "")),
    ({**HUB, "APISEC_PUBLIC_URL": "http://evil\r\nX: y/"}, PublicBase("/user/ann/", "")),
])
def test_public_base_comes_from_the_hubs_environment(env, expected):
    assert PublicBase.from_environ(env) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:41001/authorize?client_id=x&state=s#f",
     "https://hub.example.org/user/ann/proxy/41001/authorize?client_id=x&state=s#f"),
    ("http://localhost:41002", "https://hub.example.org/user/ann/proxy/41002"),
    ("http://localhost:41002/", "https://hub.example.org/user/ann/proxy/41002/"),
    ("http://127.0.0.1:8888/lab", "http://127.0.0.1:8888/lab"),                 # not one of the lab's servers
    ("https://127.0.0.1:41001/x", "https://127.0.0.1:41001/x"),
    ("http://example.org:41001/x", "http://example.org:41001/x"),
    ("http://127.0.0.1:99999/x", "http://127.0.0.1:99999/x"),                   # not a port at all
    ("/relative", "/relative"),
])
def test_browser_url_translates_only_the_labs_loopback_urls(url, expected):
    assert PublicBase("/user/ann/", "https://hub.example.org").browser_url(url, PORTS) == expected


def test_without_an_origin_links_are_root_relative():
    base = PublicBase("/user/ann/")
    assert base.browser_url("http://127.0.0.1:41001/authorize?a=1", PORTS) == "/user/ann/proxy/41001/authorize?a=1"


def proxied(port=41001, **headers):
    environ = {"HTTP_X_FORWARDED_PREFIX": f"/user/ann/proxy/{port}", "HTTP_HOST": "hub.test:8000",
               "wsgi.url_scheme": "http"}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return environ


def test_a_request_through_the_learners_proxy_gets_the_browsers_view():
    view = PublicBase("/user/ann/").view(proxied(x_forwarded_proto="https,http",
                                                 x_forwarded_host="hub.example.org, 10.0.0.1"), 41001, PORTS)
    assert view.origin == "https://hub.example.org"
    assert view.url("http://127.0.0.1:41002/photocli/callback?code=c") == \
        "https://hub.example.org/user/ann/proxy/41002/photocli/callback?code=c"
    metadata = {"issuer": "http://127.0.0.1:41001", "token_endpoint": "http://127.0.0.1:41001/token",
                "scopes_supported": ["photos:read"], "list": ["http://127.0.0.1:41001/x"], "n": 3}
    assert view.urls(metadata) == {
        "issuer": "https://hub.example.org/user/ann/proxy/41001",
        "token_endpoint": "https://hub.example.org/user/ann/proxy/41001/token",
        "scopes_supported": ["photos:read"], "list": ["https://hub.example.org/user/ann/proxy/41001/x"], "n": 3}


def test_the_issuer_keeps_no_trailing_slash_it_did_not_have():
    view = PublicBase("/user/ann/", "https://h").view(proxied(), 41001, PORTS)
    assert view.url("http://127.0.0.1:41001") == "https://h/user/ann/proxy/41001"



@pytest.mark.parametrize("environ", [
    {"HTTP_HOST": "127.0.0.1:41001"},                                                  # straight to loopback
    proxied(port=41002),                                                               # meant for another server
    {**proxied(), "HTTP_X_FORWARDED_PREFIX": "/user/ben/proxy/41001"},                 # another learner's prefix
])
def test_other_requests_get_no_browser_view(environ):
    assert PublicBase("/user/ann/").view(environ, 41001, PORTS) is None


def test_a_forged_host_gives_root_relative_urls():
    view = PublicBase("/user/ann/").view(proxied(x_forwarded_host="evil.example/x?"), 41001, PORTS)
    assert view.origin == ""
    assert view.url("http://127.0.0.1:41002/cb") == "/user/ann/proxy/41002/cb"


@pytest.mark.parametrize(("environ", "left", "dropped"), [
    ({"HTTP_COOKIE": "jupyterhub-user-ann=abc; _xsrf=2|x; jupyterhub-session-id=s"}, {},
     ["cookie jupyterhub-user-ann", "cookie _xsrf", "cookie jupyterhub-session-id"]),
    ({"HTTP_COOKIE": "username-127-0-0-1-8888=\"2|1:0|x\"; theme=dark"}, {"HTTP_COOKIE": "theme=dark"},
     ["cookie username-127-0-0-1-8888"]),
    ({"HTTP_COOKIE": "theme=dark"}, {"HTTP_COOKIE": "theme=dark"}, []),
    ({"HTTP_AUTHORIZATION": "token 0123abcd"}, {}, ["Authorization: token"]),
    ({"HTTP_AUTHORIZATION": "Token 0123abcd"}, {}, ["Authorization: token"]),
    ({"HTTP_AUTHORIZATION": "Bearer at_x"}, {"HTTP_AUTHORIZATION": "Bearer at_x"}, []),
    ({"HTTP_AUTHORIZATION": "Basic YTpi"}, {"HTTP_AUTHORIZATION": "Basic YTpi"}, []),
    ({}, {}, []),
])
def test_the_hubs_credentials_are_dropped_the_labs_kept(environ, left, dropped):
    environ = dict(environ)
    assert drop_hub_credentials(environ) == dropped
    assert environ == left


def test_the_edge_refuses_another_account_before_anything_else():
    environ = {OWNER_KEY: False, "HTTP_COOKIE": "jupyterhub-user-ann=x"}
    status, error, description = Edge(PublicBase("/user/ann/"), PORTS).enter(environ)
    assert (status, error) == (403, "access_denied") and "answers only its owner" in description


def test_the_edge_drops_credentials_and_gives_proxied_requests_a_view():
    edge = Edge(PublicBase("/user/ann/"), PORTS)
    environ = {**proxied(), OWNER_KEY: True, "SERVER_PORT": "41001", "HTTP_AUTHORIZATION": "token t"}
    assert edge.enter(environ) is None
    assert "HTTP_AUTHORIZATION" not in environ
    assert Edge.view(environ).origin == "http://hub.test:8000"
    headers = {"Location": "http://127.0.0.1:41002/photocli/callback?code=c"}
    edge.leave(environ, headers)
    assert headers["Location"] == "http://hub.test:8000/user/ann/proxy/41002/photocli/callback?code=c"


def test_on_a_laptop_the_edge_changes_no_url():
    edge = Edge(None, PORTS)
    environ = {**proxied(), "SERVER_PORT": "41001", "HTTP_COOKIE": "_xsrf=1"}
    assert edge.enter(environ) is None
    assert Edge.view(environ) is None and "HTTP_COOKIE" not in environ
    headers = {"Location": "http://127.0.0.1:41002/cb"}
    edge.leave(environ, headers)
    assert headers["Location"] == "http://127.0.0.1:41002/cb"
    assert edge.browser_url("http://127.0.0.1:41001/authorize") == "http://127.0.0.1:41001/authorize"
    assert Edge(PublicBase("/user/ann/"), PORTS).browser_url("http://127.0.0.1:41001/authorize") == \
        "/user/ann/proxy/41001/authorize"


def test_raw_header_lines_lose_the_hubs_credentials_too():
    lines = [b"Host: 127.0.0.1:41001\r\n", b"Cookie: jupyterhub-user-ann=x; theme=dark\r\n",
             b"authorization: token abc\r\n", b"Authorization: Bearer at_1\r\n", b"Cookie: _xsrf=2\r\n"]
    assert drop_hub_header_lines(lines) == [b"Host: 127.0.0.1:41001\r\n", b"Cookie: theme=dark\r\n",
                                            b"Authorization: Bearer at_1\r\n"]
