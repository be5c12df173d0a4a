"""The scripted browser (apisec_lab/agents/browser.py): what it sends, follows, loads and keeps.

Pages are written on the attacker's server and PhotoPrint's website, and the browser goes through the wiretap,
so every assertion is about real requests.  The Referer rules are the W3C Referrer Policy's table; the cookie
rules RFC 6265bis's SameSite and Chrome's Lax-by-default.
"""
from __future__ import annotations

import pytest

from apisec_lab.agents.browser import (
    DEFAULT_POLICY,
    BrowserError,
    normalize,
    parse_policy,
    referrer,
)

A, B = "http://127.0.0.1:1000/page?code=x#frag", "http://127.0.0.1:2000/img.gif"
SAME = "http://127.0.0.1:1000/other"


@pytest.mark.parametrize("policy, cross, same", [
    ("no-referrer", None, None),
    ("no-referrer-when-downgrade", "http://127.0.0.1:1000/page?code=x", "http://127.0.0.1:1000/page?code=x"),
    ("same-origin", None, "http://127.0.0.1:1000/page?code=x"),
    ("origin", "http://127.0.0.1:1000/", "http://127.0.0.1:1000/"),
    ("strict-origin", "http://127.0.0.1:1000/", "http://127.0.0.1:1000/"),
    ("origin-when-cross-origin", "http://127.0.0.1:1000/", "http://127.0.0.1:1000/page?code=x"),
    ("strict-origin-when-cross-origin", "http://127.0.0.1:1000/", "http://127.0.0.1:1000/page?code=x"),
    ("unsafe-url", "http://127.0.0.1:1000/page?code=x", "http://127.0.0.1:1000/page?code=x"),
])
def test_referrer_policy_s8_3_what_each_policy_sends(policy, cross, same):
    assert referrer(policy, A, B) == cross and referrer(policy, A, SAME) == same


def test_referrer_policy_downgrade_https_to_http_sends_nothing_under_the_strict_policies():
    for policy in ("no-referrer-when-downgrade", "strict-origin", "strict-origin-when-cross-origin"):
        assert referrer(policy, "https://a.example/x", "http://b.example/") is None
    assert DEFAULT_POLICY == "strict-origin-when-cross-origin"


def test_referrer_never_carries_user_info_or_a_fragment():
    assert referrer("unsafe-url", "http://u:p@127.0.0.1:1000/p#f", B) == "http://127.0.0.1:1000/p"


def test_parse_policy_takes_the_last_known_token():
    assert parse_policy("unsafe-url, no-such-thing") == "unsafe-url"
    assert parse_policy("no-referrer, origin") == "origin" and parse_policy("nonsense") is None


@pytest.mark.parametrize("given, expected", [
    ("http://h:1/callback/../prints?x=1", "http://h:1/prints?x=1"),
    ("http://h:1/a/./b/%2e%2E/c", "http://h:1/a/c"),
    ("http://h:1/../../x", "http://h:1/x"),
    ("http://h:1\\a\\..\\b", "http://h:1/b"),
    ("http://h:1/p#frag", "http://h:1/p"),
])
def test_whatwg_url_dot_segments_and_backslashes_are_resolved(given, expected):
    assert normalize(given) == expected


@pytest.mark.parametrize("bad", ["", "javascript:alert(1)", "ftp://h/x", "http://[::1/", "http://h:99999/", None])
def test_only_web_addresses_are_opened(bad):
    with pytest.raises(BrowserError):
        normalize(bad)


def test_a_visit_sends_no_referer_and_a_page_sends_its_policys(lab):
    b = lab.browser("Test")
    lab.attacker.serve("/img.gif", b"GIF89a", content_type="image/gif")
    url = lab.attacker.serve("/page", f"<img src='/img.gif'><img src='{lab.web_url}/prints'>")
    b.visit(url + "?secret=1")
    visit, same, cross = b.history[:3]
    assert visit.referer is None
    assert same.referer == url + "?secret=1", "same origin: the full URL (strict-origin-when-cross-origin)"
    assert cross.referer == lab.attacker.url + "/", "cross origin: the origin only"


def test_a_meta_referrer_wins_over_the_header(lab):
    b = lab.browser("Test")
    url = lab.attacker.serve("/page", f"<meta name=referrer content=unsafe-url><img src='{lab.web_url}/prints'>",
                             headers={"Referrer-Policy": "no-referrer"})
    b.visit(url + "?secret=1")
    assert b.history[1].referer == url + "?secret=1" and b.page.policy == "unsafe-url"


def test_redirects_are_followed_and_a_redirects_own_policy_applies_to_the_next_hop(lab):
    b = lab.browser("Test")
    lab.attacker.serve("/end", "<p>end</p>")
    lab.attacker.serve("/hop", "", status=302, headers={"Location": "/end", "Referrer-Policy": "no-referrer"})
    start = lab.attacker.serve("/start", f"<meta http-equiv=refresh content='0;url={lab.attacker.url}/hop'>",
                               headers={"Referrer-Policy": "unsafe-url"})
    page = b.visit(start)
    assert page.url == lab.attacker.url + "/end" and [h.kind for h in b.history] == ["visit", "refresh", "redirect"]
    assert b.history[1].referer == start and b.history[2].referer is None


def test_auto_submitting_forms_are_submitted_and_other_scripts_are_not_run(lab):
    b = lab.browser("Test")
    lab.attacker.serve("/landed", "<p>landed</p>")
    for script in ("document.forms[0].submit()", "document.getElementById('f').submit()",
                   "document.querySelector('form').submit();"):
        b.forget()
        url = lab.attacker.serve("/auto", f"<form id=f method=post action='/landed'><input name=a value=1></form>"
                                          f"<script>{script}</script>")
        page = b.visit(url)
        assert page.url == lab.attacker.url + "/landed", script
        assert lab.attacker.last().method == "POST" and lab.attacker.last().text() == "a=1"
    b.forget()
    page = b.visit(lab.attacker.serve("/js", "<script>location = '/landed'</script>"))
    assert page.url == lab.attacker.url + "/js", "a script that is not the auto-submit line does not run"


def test_redirect_loops_stop(lab):
    b = lab.browser("Test")
    lab.attacker.serve("/loop", "", status=302, headers={"Location": "/loop"})
    page = b.visit(lab.attacker.url + "/loop")
    assert page.status is None and "redirects" in page.text and len(b.history) == 21


def test_nothing_listening_is_no_answer_not_an_error(lab):
    b = lab.browser("Test")
    page = b.visit("http://127.0.0.1:9/nothing")
    assert page.status is None and b.history[-1].status is None


def test_user_info_is_dropped_from_the_request(lab):
    b = lab.browser("Test")
    url = lab.attacker.serve("/u", "<p>u</p>")
    b.visit(url.replace("http://", "http://someone:secret@"))
    hit = lab.attacker.last()
    assert hit.path == "/u" and "Authorization" not in hit.headers


# -- cookies ------------------------------------------------------------------------------------
def test_cookies_are_kept_per_origin_and_samesite_lax_by_default(lab):
    b = lab.browser("Test")
    lab.attacker.serve("/set", "<p>set</p>", headers={"Set-Cookie": "k=v; Path=/"})
    b.visit(lab.attacker.url + "/set")
    assert b.cookies(lab.attacker.url) == {"k": "v"} and b.cookies(lab.web_url) == {}
    b.visit(lab.attacker.url + "/again")
    assert lab.attacker.last().headers.get("Cookie") == "k=v"


def test_samesite_lax_on_top_level_get_yes_cross_site_image_and_post_no(lab):
    alice = lab.victim
    jar = "photoprint_session"
    lab.attacker.serve("/img", f"<img src='{lab.web_url}/prints'>")
    alice.visit(lab.attacker.url + "/img")
    assert jar not in alice.history[-1].cookies_sent, "a cross-site image carries no Lax cookie"
    lab.attacker.serve("/go", f"<meta http-equiv=refresh content='0;url={lab.web_url}/'>")
    alice.visit(lab.attacker.url + "/go")
    assert jar in alice.history[-1].cookies_sent, "a top-level GET navigation does"
    lab.attacker.serve("/post", f"<form method=post action='{lab.web_url}/'></form>"
                                "<script>document.forms[0].submit()</script>")
    alice.visit(lab.attacker.url + "/post")
    assert jar not in alice.history[-1].cookies_sent and alice.history[-1].method == "POST"


@pytest.mark.parametrize("attributes, kept", [("", False), ("; SameSite=Lax", False), ("; SameSite=None", True)])
def test_a_cross_site_subresource_cannot_set_a_lax_cookie(lab, attributes, kept):
    b = lab.browser("Test")
    lab.attacker.serve("/partner/pixel.gif", b"GIF89a", content_type="image/gif",
                       headers={"Set-Cookie": f"track=1{attributes}"})
    b.visit(lab.web_url + "/prints")                # PhotoPrint's page loads its partner's pixel
    assert b.history[-1].url.startswith(lab.attacker.url + "/partner/pixel.gif") and b.history[-1].status == 200
    assert ("track" in b.cookies(lab.attacker.url)) is kept


def test_max_age_counts_on_the_lab_clock(lab):
    b = lab.browser("Test")
    lab.attacker.serve("/set", "<p>set</p>", headers={"Set-Cookie": "k=v; Max-Age=60"})
    b.visit(lab.attacker.url + "/set")
    lab.clock.advance(seconds=61)
    assert b.cookies(lab.attacker.url) == {}


def test_submit_fills_in_the_shown_form_like_a_person(lab):
    b = lab.browser("Bob")
    b.visit(lab.web_url + "/login")
    page = b.submit(username="bob", password="can-we-fix-it", decision="approve")
    assert page.url == lab.web_url + "/" and "Bob Builder" in page.title
    with pytest.raises(BrowserError):
        b.submit(form=3)


def test_the_history_frame_shows_cookie_names_never_values(lab):
    frame = lab.victim.frame()
    values = [v for site in (lab.web_url, lab.issuer) for v in lab.victim.cookies(site).values()]
    text = frame.to_string()
    assert values and not any(v in text for v in values)
    assert "photoprint_session" in text and "lab_sign_in" in text


def test_the_victim_is_signed_in_once_per_reset(lab):
    first = lab.victim
    assert lab.victim is first and lab.photoprint.session_for(first.cookies(lab.web_url)["photoprint_session"])
    lab.reset()
    assert lab.victim is not first and len(lab.victim.history) == 5


def test_a_lab_browser_names_whose_it_is_and_diagrams_give_it_a_lane(lab):
    from apisec_lab.core.cast import BROWSER, browser_agent, named_by
    assert named_by(browser_agent("Alice's browser")) == "Alice's browser"
    assert named_by("apisec-lab-browser/1.0") == BROWSER
    mark = lab.wiretap.mark()
    lab.browser("Bob").visit(lab.web_url + "/prints")
    drawn = str(lab.wiretap.sequence(first=mark))
    assert "Bob's browser -> PhotoPrint website: " in drawn and "Bob's browser -> Attacker's server" in drawn
