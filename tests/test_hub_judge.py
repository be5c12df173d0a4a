"""The hub tests judge a learner's run as nbval does (tests/hub/hubtools.py); a difference must read as one.

Runs without a hub: the judge is plain code over nbval.  When it crashed formatting a difference, a hub
run that differed reported an AttributeError instead of what differed.
"""
from nbformat import from_dict

from tests.hub.hubtools import _Judge


def _stdout(text):
    return from_dict({"output_type": "stream", "name": "stdout", "text": text})


def _html(rows):
    return from_dict({"output_type": "display_data", "metadata": {},
                      "data": {"text/html": "<table>" + "".join(f"<tr><td>{r}</td></tr>" for r in rows) + "</table>",
                               "text/plain": "<table>"}})


def test_the_same_outputs_pass():
    assert _Judge().differs([_stdout("port 41234\n")], [_stdout("port 41234\n")]) is None


def test_a_masked_value_is_not_a_difference():
    # tests/sanitize.cfg masks ports in URLs: two runs on two ports are the same run
    assert _Judge().differs([_stdout("http://127.0.0.1:40001/x\n")], [_stdout("http://127.0.0.1:51234/x\n")]) is None


def test_a_difference_names_the_committed_and_the_fresh_lines():
    said = _Judge().differs([_stdout("you 9/26\n")], [_stdout("you 0/26\n")])
    assert said is not None
    assert "-you 0/26" in said and "+you 9/26" in said


def test_an_html_table_differs_by_its_rows():
    said = _Judge().differs([_html(["a", "b", "c"])], [_html(["a", "B", "c"])])
    assert "mismatch 'text/html'" in said
    assert "-<tr><td>B</td></tr>" in said and "+<tr><td>b</td></tr>" in said
