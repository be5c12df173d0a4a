"""The instructor's view on a real hub: each learner's record in their own home, one table over all of them,
and solution locks in a file the instructor writes and the learners can only read."""
from __future__ import annotations

from apisec_lab.book import progress

from .conftest import ANN, BEN


def test_checks_land_in_the_learners_own_home_and_the_instructor_sees_the_room(hub, kernel_of, capsys):
    ann = kernel_of(ANN)
    ann.execute("from apisec_lab.book import nb00\nnb00.warmup.hint()\nnb00.warmup.check({'status': 'ok'})")
    record = hub.accounts[ANN].home / progress.HOME_RECORD
    assert record.stat().st_uid == hub.accounts[ANN].uid
    assert [(e["exercise"], e["event"], e.get("passed")) for e in progress.load(record)][-2:] == [
        ("nb00.warmup", "hint", None), ("nb00.warmup", "check", True)]
    homes = str(hub.accounts[ANN].home.parent / "hubt-*")
    assert progress.main(["--homes", homes]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith(ANN))
    assert row.split()[1] == f"1/{len(progress.workbook_exercises())}", out


def test_the_instructor_locks_a_solution_and_a_learner_cannot_unlock_it(hub, kernel_of):
    ann, ben = kernel_of(ANN), kernel_of(BEN)
    ann.execute("from apisec_lab.book import nb00")
    try:
        progress.lock(["nb00.*"], minutes=10, note="timed exercise", path=hub.lock_file)
        shown = ann.execute("nb00.warmup.solution()").outputs[0]["text"]
        assert "locked by your instructor until" in shown and "timed exercise" in shown, shown
        refused = ben.execute("from apisec_lab.book import progress\nprogress.release()")
        assert refused.error and refused.error["ename"] == "PermissionError", refused.outputs
        assert progress.lock_for("nb00.warmup", hub.lock_file) is not None
    finally:
        progress.release(path=hub.lock_file)
    shown = ann.execute("nb00.warmup.solution()").outputs[0]["text"]
    assert shown.startswith("Solution (Warm-up):"), shown
