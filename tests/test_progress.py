"""The progress record, the instructor's view of a room, and solution locks (apisec_lab/book/progress.py)."""
from __future__ import annotations

import importlib
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from apisec_lab.book import progress
from apisec_lab.book.exercises import Exercise

EXERCISES = [("nb00.warmup", "Warm-up"), ("nb01.q1", "Try it 1"), ("nb01.q2", "Try it 2"), ("nb02.q1", "Try it 1")]


@pytest.fixture(autouse=True)
def _no_inherited_places(monkeypatch):
    for name in (progress.PROGRESS_FILE_ENV, progress.PROGRESS_DIR_ENV, progress.LOCK_FILE_ENV, "JUPYTERHUB_USER"):
        monkeypatch.delenv(name, raising=False)


def write(path, *events):
    """Record ``(exercise, event, passed)`` triples, one second apart, into ``path``."""
    for i, (key, event, passed) in enumerate(events):
        progress.record(key, key, event, passed=passed, answered=passed is not None or event != "check",
                        path=path, now=1_000 + i)


# -- where the record lives --------------------------------------------------------------------------
def test_record_file_is_in_the_learners_jupyter_data_dir_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    assert progress.progress_file() == tmp_path / "data" / "apisec-lab" / "progress.jsonl"


def test_a_shared_folder_gets_one_file_per_learner_named_by_the_hub(monkeypatch, tmp_path):
    monkeypatch.setenv(progress.PROGRESS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("JUPYTERHUB_USER", "ann")
    assert progress.progress_file() == tmp_path / "ann.jsonl"
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(tmp_path / "mine.jsonl"))   # an explicit file wins
    assert progress.progress_file() == tmp_path / "mine.jsonl"


def test_record_appends_one_json_line_per_event(tmp_path):
    path = tmp_path / "sub" / "progress.jsonl"
    assert progress.record("nb02.q1", "Try it 1 (S256 by hand)", "check", passed=False, path=path, now=5.0)
    assert progress.record("nb02.q1", "Try it 1 (S256 by hand)", "hint", path=path, now=6.0)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines == [
        {"at": 5.0, "learner": progress.learner(), "exercise": "nb02.q1", "title": "Try it 1 (S256 by hand)",
         "event": "check", "passed": False, "answered": True},
        {"at": 6.0, "learner": progress.learner(), "exercise": "nb02.q1", "title": "Try it 1 (S256 by hand)",
         "event": "hint"},
    ]


def test_an_unwritable_record_never_breaks_the_check(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert progress.record("nb00.warmup", "Warm-up", "check", passed=True, path=blocker / "progress.jsonl") is False
    assert progress.last_error and "a-file" in progress.last_error
    assert progress.record("nb00.warmup", "Warm-up", "hint", path=tmp_path / "ok.jsonl")
    assert progress.last_error is None


def test_unknown_event_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="event must be one of"):
        progress.record("nb00.warmup", "Warm-up", "peeked", path=tmp_path / "p.jsonl")


def test_two_kernels_appending_at_once_lose_no_line(tmp_path):
    path = tmp_path / "progress.jsonl"

    def kernel(n):
        for i in range(200):
            progress.record(f"nb0{n}.q1", "x" * 300, "check", passed=i % 2 == 0, path=path)

    threads = [threading.Thread(target=kernel, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(progress.load(path)) == 400
    assert len(path.read_text().splitlines()) == 400


def test_load_skips_a_torn_last_line_and_foreign_lines(tmp_path):
    path = tmp_path / "progress.jsonl"
    write(path, ("nb00.warmup", "check", True))
    with open(path, "a") as f:
        f.write('[1, 2]\n{"event": "check"}\n{"event": "danced", "exercise": "nb00.warmup"}\n{"at": 3, "exer')
    assert [e["exercise"] for e in progress.load(path)] == ["nb00.warmup"]
    assert progress.load(tmp_path / "missing.jsonl") == []


# -- the workbook's exercises ---------------------------------------------------------------------------
def test_workbook_exercises_are_exactly_the_chapters_exercise_objects():
    found = progress.workbook_exercises()
    expected = []
    for n in range(len(list((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")))):
        module = importlib.import_module(f"apisec_lab.book.nb0{n}")
        expected += [(f"nb0{n}.{name}", value.name) for name, value in vars(module).items()
                     if isinstance(value, Exercise)]
    assert sorted(found) == sorted(expected)
    assert [k for k, _ in found] == sorted((k for k, _ in found), key=lambda k: k.split(".")[0])  # notebook order
    assert len(found) >= 6


# -- one learner ------------------------------------------------------------------------------------------
def test_tally_tells_solved_from_tried_from_opened():
    events = []
    for key, event, passed, answered in [
            ("nb00.warmup", "check", False, False),       # the untouched placeholder: no attempt
            ("nb00.warmup", "check", True, True),
            ("nb01.q1", "check", False, True), ("nb01.q1", "hint", None, True), ("nb01.q1", "check", False, True),
            ("nb01.q2", "solution", None, True), ("nb01.q2", "check", True, True),
            ("nb02.q1", "locked", None, True)]:
        e = {"at": len(events), "exercise": key, "event": event}
        if event == "check":
            e.update(passed=passed, answered=answered)
        events.append(e)
    t = progress.tally(events)
    assert {k: v["status"] for k, v in t.items()} == {
        "nb00.warmup": progress.SOLVED, "nb01.q1": progress.TRIED, "nb01.q2": progress.SOLVED_AFTER_SOLUTION,
        "nb02.q1": progress.OPENED}
    assert (t["nb00.warmup"]["attempts"], t["nb01.q1"]["attempts"], t["nb01.q1"]["hints"]) == (1, 2, 1)
    assert (t["nb01.q2"]["solutions"], t["nb02.q1"]["locked"]) == (1, 1)


def test_a_check_after_solving_does_not_unsolve():
    events = [{"at": 1, "exercise": "nb00.warmup", "event": "check", "passed": True},
              {"at": 2, "exercise": "nb00.warmup", "event": "check", "passed": False}]
    assert progress.tally(events)["nb00.warmup"]["status"] == progress.SOLVED


def test_summary_lists_every_exercise_in_workbook_order_untouched_ones_too(tmp_path):
    path = tmp_path / "p.jsonl"
    write(path, ("nb01.q2", "check", False), ("nb01.q2", "hint", None), ("nb01.q2", "check", True))
    table = progress.summary(progress.load(path), EXERCISES)
    assert list(table.index) == [k for k, _ in EXERCISES]
    assert table.loc["nb01.q2"].to_dict() == {"notebook": "nb01", "title": "Try it 2", "status": progress.SOLVED,
                                              "attempts": 2, "hints": 1, "solutions": 0}
    assert table.loc["nb00.warmup", "status"] == progress.NOT_STARTED


# -- a room -------------------------------------------------------------------------------------------------
@pytest.fixture
def room_dir(tmp_path):
    shared = tmp_path / "shared"
    write(shared / "ann.jsonl", ("nb00.warmup", "check", True), ("nb01.q1", "check", False),
          ("nb01.q1", "hint", None))
    write(shared / "ben.jsonl", ("nb00.warmup", "solution", None), ("nb00.warmup", "check", True),
          ("nb01.q1", "check", True), ("nb02.q1", "check", False))
    return shared


def test_gather_homes_reads_each_learners_own_record(tmp_path):
    for name, events in {"ann": [("nb00.warmup", "check", True)], "ben": [("nb01.q1", "hint", None)]}.items():
        write(tmp_path / "home" / name / progress.HOME_RECORD, *events)
    (tmp_path / "home" / "carl").mkdir()                       # a learner who never started
    room = progress.gather_homes(str(tmp_path / "home" / "*"))
    assert sorted(room) == ["ann", "ben"]
    assert room["ann"][0]["exercise"] == "nb00.warmup"


def test_room_table_says_who_is_stuck_where(room_dir):
    table = progress.room_table(progress.gather_dir(room_dir), EXERCISES)
    assert table[["solved", "attempts", "hints", "solutions", "stuck on"]].to_dict("index") == {
        "ann": {"solved": "1/4", "attempts": 2, "hints": 1, "solutions": 0, "stuck on": "nb01.q1"},
        "ben": {"solved": "2/4", "attempts": 3, "hints": 0, "solutions": 1, "stuck on": "nb02.q1"},
    }


def test_picture_in_the_terminal(room_dir):
    picture = progress.Picture(progress.gather_dir(room_dir), EXERCISES)
    assert repr(picture).splitlines() == [
        "           00 | 01    | 02",
        "ann         # |  x  . |  .   1/4",
        "ben         s |  #  . |  x   2/4",
        "solved by   2 |  1  0 |  0",
        "",
        "# solved  s solved after the solution  x tried  ? opened  . not started",
    ]


def test_picture_in_a_notebook_names_every_square(room_dir):
    page = progress.Picture(progress.gather_dir(room_dir), EXERCISES)._repr_html_()
    assert page.count("<td ") == 2 * len(EXERCISES)
    assert "title='ann, nb01.q1: tried'" in page
    assert "title='ben, nb00.warmup: solved after the solution'" in page
    assert "var(--jp-border-color1" in page     # follows the JupyterLab theme, light or dark


def test_mine_is_this_learners_row_even_before_any_check(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTERHUB_USER", "ann")
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(tmp_path / "p.jsonl"))
    assert repr(progress.mine(exercises=EXERCISES)).splitlines()[1] == "you         . |  .  . |  .   0/4"
    write(tmp_path / "p.jsonl", ("nb01.q2", "check", True))
    assert repr(progress.mine(exercises=EXERCISES)).splitlines()[1] == "you         . |  .  # |  .   1/4"


def test_an_empty_room_says_so():
    assert repr(progress.Picture({}, EXERCISES)) == "(no learner has a progress record yet)"


# -- locks ------------------------------------------------------------------------------------------------------
def test_a_lock_holds_matching_solutions_until_it_runs_out(tmp_path):
    path = tmp_path / "locks.json"
    progress.lock(["nb02.*"], minutes=15, note="timed exercise", path=path, now=1_000)
    held = progress.lock_for("nb02.q2", path, now=1_000 + 14 * 60)
    assert held == progress.Lock("nb02.*", 1_000 + 15 * 60, "timed exercise")
    assert progress.lock_for("nb03.q1", path, now=1_000) is None
    assert progress.lock_for("nb02.q2", path, now=1_000 + 15 * 60) is None     # ran out
    assert "locked by your instructor until" in held.message("Try it 2") and "timed exercise" in held.message("x")


def test_release_one_pattern_or_all(tmp_path):
    path = tmp_path / "locks.json"
    progress.lock(["nb02.q2", "nb03.*"], path=path)
    assert [lk.pattern for lk in progress.release(["nb02.q2"], path=path)] == ["nb03.*"]
    assert progress.release(path=path) == []
    assert progress.lock_for("nb03.q1", path) is None


def test_lock_file_is_readable_by_learners_and_written_whole(tmp_path):
    path = tmp_path / "etc" / "locks.json"
    progress.lock(["*"], path=path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert json.loads(path.read_text()) == {"locks": [{"pattern": "*", "until": None, "note": ""}]}
    assert [p.name for p in path.parent.iterdir()] == ["locks.json"]       # no temporary file left behind


@pytest.mark.parametrize("content", ["", "{", "[]", '{"locks": 3}', '{"locks": [{"until": 5}, 7]}'])
def test_a_missing_or_broken_lock_file_locks_nothing(tmp_path, content):
    path = tmp_path / "locks.json"
    path.write_text(content)
    assert progress.locks(path) == []
    assert progress.locks(tmp_path / "absent.json") == []


def test_the_lock_file_comes_from_the_environment(monkeypatch, tmp_path):
    assert progress.lock_file() == progress.DEFAULT_LOCK_FILE
    monkeypatch.setenv(progress.LOCK_FILE_ENV, str(tmp_path / "l.json"))
    progress.lock(["nb01.q1"])
    assert progress.lock_for("nb01.q1").pattern == "nb01.q1"


# -- the command line -------------------------------------------------------------------------------------------
def test_cli_prints_the_learners_own_table(monkeypatch, tmp_path, capsys):
    path = tmp_path / "p.jsonl"
    write(path, ("nb00.warmup", "check", True))
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(path))
    assert progress.main([]) == 0
    out = capsys.readouterr().out
    assert f"({path})" in out
    assert [line.split()[:3] for line in out.splitlines() if line.startswith("nb00.warmup")] == [
        ["nb00.warmup", "nb00", "Warm-up"]]
    assert "solved" in out and "not started" in out


def test_cli_prints_a_rooms_table_and_picture(room_dir, capsys):
    assert progress.main(["--dir", str(room_dir)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2].split()[:2] == ["ann", f"1/{len(progress.workbook_exercises())}"]
    assert "solved by" in out and "# solved" in out


def test_cli_says_when_a_room_has_no_record(tmp_path, capsys):
    assert progress.main(["--dir", str(tmp_path)]) == 1
    assert "no progress records found" in capsys.readouterr().err


def test_cli_locks_and_releases(tmp_path, capsys):
    path = tmp_path / "locks.json"
    assert progress.main(["lock", "nb02.q2", "--minutes", "10", "--note", "timed", "--lock-file", str(path)]) == 0
    assert "nb02.q2" in capsys.readouterr().out
    assert progress.lock_for("nb02.q2", path) is not None
    assert progress.main(["release", "--lock-file", str(path)]) == 0
    assert "every solution is open" in capsys.readouterr().out
    assert progress.lock_for("nb02.q2", path) is None


# -- the exercises record, and respect locks --------------------------------------------------------------------
@pytest.fixture
def recorded(monkeypatch, tmp_path):
    path = tmp_path / "progress.jsonl"
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(path))
    monkeypatch.setenv(progress.LOCK_FILE_ENV, str(tmp_path / "locks.json"))
    return path


def test_an_exercise_knows_its_key():
    from apisec_lab.book import nb00, nb02

    assert (nb00.warmup.key, nb02.q3.key) == ("nb00.warmup", "nb02.q3")


def test_check_hint_and_solution_are_recorded(recorded, capsys):
    from apisec_lab.book import nb02
    from apisec_lab.book.exercises import ____

    nb02.q1.check(____)
    nb02.q1.check("not the challenge")
    nb02.q1.hint()
    nb02.q1.solution()
    nb02.q1.check(nb02.q1.reference_answer())
    assert "Correct:" in capsys.readouterr().out.splitlines()[-1]
    events = [(e["exercise"], e["event"], e.get("passed"), e.get("answered")) for e in progress.load(recorded)]
    assert events == [("nb02.q1", "check", False, False), ("nb02.q1", "check", False, True),
                      ("nb02.q1", "hint", None, None), ("nb02.q1", "solution", None, None),
                      ("nb02.q1", "check", True, True)]
    assert progress.summary(progress.load(recorded)).loc["nb02.q1", "status"] == progress.SOLVED_AFTER_SOLUTION


def test_a_locked_solution_says_so_and_is_not_shown(recorded, tmp_path, capsys):
    from apisec_lab.book import nb02

    progress.lock(["nb02.*"], minutes=10, note="timed exercise")
    nb02.q2.solution()
    out = capsys.readouterr().out
    assert out.startswith("Solution (Try it 2 (redeem a code)): locked by your instructor until ")
    assert "timed exercise" in out and nb02.q2.solution_text not in out
    nb02.q2.hint()                                                    # hints stay open
    assert nb02.q2.hint_text in capsys.readouterr().out
    progress.release()
    nb02.q2.solution()
    assert nb02.q2.solution_text in capsys.readouterr().out
    assert [e["event"] for e in progress.load(recorded)] == ["locked", "hint", "solution"]


def test_a_check_works_when_the_record_cannot_be_written(monkeypatch, tmp_path, capsys):
    from apisec_lab.book import nb00

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(blocker / "progress.jsonl"))
    nb00.warmup.check({"status": "ok"})
    assert capsys.readouterr().out == "Warm-up: Correct: the lab answers. Every exercise works like this one.\n"


def test_python_m_apisec_lab_progress_is_this_command(room_dir, capsys):
    from apisec_lab.__main__ import main

    assert main(["progress", "--dir", str(room_dir)]) == 0
    assert "solved by" in capsys.readouterr().out
