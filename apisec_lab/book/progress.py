"""Progress through the workbook: the learner's own record, the instructor's view of a room, solution locks.

**The record.** Every exercise check, hint and solution appends one JSON line to the learner's own
file (no network, no server): :func:`record`. The file is, first match wins:

1. ``$APISEC_PROGRESS_FILE``, if set;
2. ``$APISEC_PROGRESS_DIR/<learner>.jsonl``, if set: a shared folder the hub mounts into every
   learner's server (make it ``chmod 1777``, like ``/tmp``: each learner creates and appends to
   their own file, and the sticky bit stops them removing or replacing anyone else's);
3. ``<Jupyter data dir>/apisec-lab/progress.jsonl``: ``~/.local/share/jupyter/apisec-lab/`` on
   Linux (``$JUPYTER_DATA_DIR`` moves it), in the learner's home, which the hub keeps between
   sessions.

Appending whole lines keeps two kernels of the same learner (two notebooks open) from clobbering
each other; a torn last line is skipped when read.

**The view.** :func:`summary` is one learner's table; :func:`gather_homes` / :func:`gather_dir` read a
room's files, :func:`room_table` makes one table of it and :class:`Picture` the grid of solved per
exercise per learner (text in a terminal, HTML in a notebook). ``python -m apisec_lab progress``
prints them (:func:`main`).

**Locks.** During a timed exercise the instructor locks solutions (:func:`lock`, ``python -m
apisec_lab progress lock nb02.q2 --minutes 15``) in a file learners can read but not write:
``$APISEC_LOCK_FILE``, else ``/etc/apisec-lab/locks.json`` (root's on The Littlest JupyterHub, a
read-only ConfigMap on Kubernetes). ``q.solution()`` then says so until the lock runs out or is
released. This is a classroom courtesy, not a secret: the solutions ship inside the package.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import getpass
import glob
import html
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

PROGRESS_FILE_ENV = "APISEC_PROGRESS_FILE"
PROGRESS_DIR_ENV = "APISEC_PROGRESS_DIR"
LOCK_FILE_ENV = "APISEC_LOCK_FILE"
DEFAULT_LOCK_FILE = Path("/etc/apisec-lab/locks.json")
#: Where, under a home folder, a learner's record lives by default (Linux, the hub's case).
HOME_RECORD = Path(".local/share/jupyter/apisec-lab/progress.jsonl")
EVENTS = ("check", "hint", "solution", "locked")
BOOK = Path(__file__).resolve().parent


# -- the learner's record -----------------------------------------------------------------------
def learner() -> str:
    """Who is learning: the hub's user name under JupyterHub, else the OS account."""
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


def jupyter_data_dir() -> Path:
    """Jupyter's per-user data folder, as ``jupyter --data-dir`` prints it."""
    try:
        from jupyter_core.paths import jupyter_data_dir as found
        return Path(found())
    except ImportError:   # jupyter_core comes with every kernel; a bare install still gets a sane place
        return Path(os.environ.get("JUPYTER_DATA_DIR") or Path.home() / ".local" / "share" / "jupyter")


def progress_file(user: str | None = None) -> Path:
    """The file this learner's record goes to (see the module docstring for the order)."""
    if os.environ.get(PROGRESS_FILE_ENV):
        return Path(os.environ[PROGRESS_FILE_ENV])
    if os.environ.get(PROGRESS_DIR_ENV):
        return Path(os.environ[PROGRESS_DIR_ENV]) / f"{user or learner()}.jsonl"
    return jupyter_data_dir() / "apisec-lab" / "progress.jsonl"


#: The last reason a record could not be written (a read-only home, a full disk), or None.
last_error: str | None = None


def record(exercise: str, title: str, event: str, *, passed: bool | None = None, answered: bool = True,
           path: Path | None = None, now: float | None = None) -> bool:
    """Append one event for ``exercise`` (a key such as ``"nb02.q1"``) to the learner's record.

    ``event`` is ``check`` (with ``passed``, and ``answered=False`` for the untouched placeholder),
    ``hint``, ``solution`` or ``locked`` (a solution asked for while locked). Returns False, and sets
    :data:`last_error`, when the file cannot be written: the learner's check must work regardless.
    """
    global last_error
    if event not in EVENTS:
        raise ValueError(f"event must be one of {EVENTS}, not {event!r}")
    line = {"at": round(time.time() if now is None else now, 3), "learner": learner(), "exercise": exercise,
            "title": title, "event": event}
    if event == "check":
        line.update(passed=bool(passed), answered=bool(answered))
    target = Path(path) if path is not None else progress_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a", encoding="utf-8") as f:    # one write of one line: appends do not interleave
            f.write(json.dumps(line) + "\n")
    except OSError as e:
        last_error = f"{target}: {e.strerror or e}"
        return False
    last_error = None
    return True


def load(path: Path) -> list[dict]:
    """The events in a record file, oldest first; unreadable lines (a torn write) are skipped."""
    events = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return events
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("event") in EVENTS and isinstance(item.get("exercise"), str):
            events.append(item)
    return events


# -- the workbook's exercises ---------------------------------------------------------------------
def workbook_exercises(book: Path = BOOK) -> list[tuple[str, str]]:
    """Every exercise of the workbook as ``(key, title)``, in notebook order: ``("nb02.q1", "Try it 1 ...")``.

    Read from the source of the book's ``nbNN.py`` modules and ``nbNN/`` packages (each
    ``q1 = Exercise("title", ...)`` or ``Exercise(name="title", ...)`` at module level), not imported:
    the exercises module records progress, so importing the chapters from here would run in a circle.
    """
    found = []
    sources = [(p.stem, p) for p in book.glob("nb[0-9][0-9].py")]
    sources += [(p.parent.name, p) for p in book.glob("nb[0-9][0-9]/*.py")]     # a chapter that is a package
    for chapter, module in sorted(sources):
        for node in ast.parse(module.read_text(encoding="utf-8")).body:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call)
                    and getattr(node.value.func, "id", None) == "Exercise"):
                continue
            given = [k.value for k in node.value.keywords if k.arg == "name"] + node.value.args[:1]
            title = next((g.value for g in given if isinstance(g, ast.Constant)), node.targets[0].id)
            found.append((f"{chapter}.{node.targets[0].id}", title))
    return found


# -- one learner's table --------------------------------------------------------------------------
SOLVED, SOLVED_AFTER_SOLUTION, TRIED, OPENED, NOT_STARTED = (
    "solved", "solved after the solution", "tried", "opened", "not started")


def tally(events: list[dict]) -> dict[str, dict]:
    """Per exercise: status, attempts (checks with an answer), hints, solutions, locked, last event time."""
    out: dict[str, dict] = {}
    for e in sorted(events, key=lambda e: e.get("at", 0)):
        t = out.setdefault(e["exercise"], {"title": e.get("title", e["exercise"]), "attempts": 0, "hints": 0,
                                           "solutions": 0, "locked": 0, "solved": False,
                                           "solution_first": False, "last": None})
        t["last"] = e.get("at")
        if e["event"] == "check" and e.get("answered", True):
            t["attempts"] += 1
            if e.get("passed") and not t["solved"]:
                t["solved"] = True
                t["solution_first"] = t["solutions"] > 0
        elif e["event"] == "hint":
            t["hints"] += 1
        elif e["event"] == "solution":
            t["solutions"] += 1
        elif e["event"] == "locked":
            t["locked"] += 1
    for t in out.values():
        t["status"] = (SOLVED_AFTER_SOLUTION if t["solved"] and t["solution_first"] else SOLVED if t["solved"]
                       else TRIED if t["attempts"] else OPENED if t["hints"] or t["solutions"] or t["locked"]
                       else NOT_STARTED)
    return out


def summary(events: list[dict], exercises: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """One learner's table: a row per exercise of the workbook (untouched ones too), in notebook order."""
    exercises = workbook_exercises() if exercises is None else exercises
    counts = tally(events)
    keys = [k for k, _ in exercises] + sorted(k for k in counts if k not in dict(exercises))
    titles = dict(exercises)
    rows = []
    for key in keys:
        t = counts.get(key, {})
        rows.append({"exercise": key, "notebook": key.split(".")[0], "title": titles.get(key, t.get("title", key)),
                     "status": t.get("status", NOT_STARTED), "attempts": t.get("attempts", 0),
                     "hints": t.get("hints", 0), "solutions": t.get("solutions", 0)})
    columns = ["exercise", "notebook", "title", "status", "attempts", "hints", "solutions"]
    return pd.DataFrame(rows, columns=columns).set_index("exercise")


# -- a room of learners ---------------------------------------------------------------------------
def gather_homes(pattern: str = "/home/*") -> dict[str, list[dict]]:
    """Every learner's record under home folders matching ``pattern``, by learner (the folder's name)."""
    room = {}
    for home in sorted(glob.glob(pattern)):
        path = Path(home) / HOME_RECORD
        if path.is_file():
            room[Path(home).name] = load(path)
    return room


def gather_dir(folder: Path) -> dict[str, list[dict]]:
    """Every ``<learner>.jsonl`` record in a shared folder, by learner."""
    return {path.stem: load(path) for path in sorted(Path(folder).glob("*.jsonl"))}


def room_table(room: dict[str, list[dict]], exercises: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """One row per learner: solved out of all, attempts, hints, solutions opened, where they are stuck."""
    exercises = workbook_exercises() if exercises is None else exercises
    rows = []
    for name, events in sorted(room.items()):
        counts = tally(events)
        solved = sum(1 for t in counts.values() if t["solved"])
        stuck = [k for k, _ in exercises if counts.get(k, {}).get("status") == TRIED]
        last = max((e.get("at", 0) for e in events), default=None)
        rows.append({"learner": name, "solved": f"{solved}/{len(exercises)}",
                     "attempts": sum(t["attempts"] for t in counts.values()),
                     "hints": sum(t["hints"] for t in counts.values()),
                     "solutions": sum(t["solutions"] for t in counts.values()),
                     "stuck on": " ".join(stuck) or "-",
                     "last activity": time.strftime("%H:%M", time.localtime(last)) if last else "-"})
    columns = ["learner", "solved", "attempts", "hints", "solutions", "stuck on", "last activity"]
    return pd.DataFrame(rows, columns=columns).set_index("learner")


#: How each status is drawn: a terminal character (shape, not only colour) and a colour for HTML.
MARKS = {SOLVED: ("#", "#2da44e"), SOLVED_AFTER_SOLUTION: ("s", "#8fd19e"), TRIED: ("x", "#d4a72c"),
         OPENED: ("?", "#afb8c1"), NOT_STARTED: (".", "transparent")}


class Picture:
    """Solved per exercise per learner: a grid, a row per learner and a column per exercise.

    ``repr()`` is the terminal's text grid; in a notebook the same grid is drawn in HTML.
    """

    def __init__(self, room: dict[str, list[dict]], exercises: list[tuple[str, str]] | None = None):
        self.exercises = workbook_exercises() if exercises is None else exercises
        self.rows = {name: {k: t["status"] for k, t in tally(events).items()} for name, events in sorted(room.items())}

    def status(self, name: str, key: str) -> str:
        return self.rows.get(name, {}).get(key, NOT_STARTED)

    def legend(self) -> str:
        return "  ".join(f"{mark} {status}" for status, (mark, _) in MARKS.items())

    def _groups(self) -> list[list[str]]:
        """The exercise keys, one list per notebook, in order."""
        groups: dict[str, list[str]] = {}
        for key, _ in self.exercises:
            groups.setdefault(key.split(".")[0], []).append(key)
        return list(groups.values())

    def __repr__(self) -> str:
        if not self.rows:
            return "(no learner has a progress record yet)"
        groups = self._groups()
        done = (SOLVED, SOLVED_AFTER_SOLUTION)
        width = max(len("solved by"), *(len(n) for n in self.rows))

        def line(label: str, cells) -> str:
            return f"{label:<{width}}  " + " | ".join(" ".join(f"{c:>2}" for c in group) for group in cells)

        lines = [line("", [[g[0].split(".")[0][2:]] + [""] * (len(g) - 1) for g in groups])]
        for name in self.rows:
            solved = sum(self.status(name, k) in done for k, _ in self.exercises)
            lines.append(line(name, [[MARKS[self.status(name, k)][0] for k in g] for g in groups])
                         + f"   {solved}/{len(self.exercises)}")
        lines.append(line("solved by", [[sum(self.status(n, k) in done for n in self.rows) for k in g]
                                        for g in groups]))
        return "\n".join([x.rstrip() for x in lines] + ["", self.legend()])

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<p>{html.escape(repr(self))}</p>"
        cell = ("width:1.4em;height:1.4em;text-align:center;border:1px solid var(--jp-border-color1,#d0d7de);"
                "font-family:var(--jp-code-font-family,monospace);font-size:11px")
        head = "".join(f"<th style='font-weight:normal;font-size:11px;writing-mode:vertical-rl;padding:2px' "
                       f"title='{html.escape(title)}'>{html.escape(key)}</th>" for key, title in self.exercises)
        body = []
        for name in self.rows:
            tds = []
            for key, _ in self.exercises:
                status = self.status(name, key)
                mark, colour = MARKS[status]
                tds.append(f"<td style='{cell};background:{colour}' title='{html.escape(name)}, "
                           f"{html.escape(key)}: {status}'>{'' if status == NOT_STARTED else html.escape(mark)}</td>")
            body.append(f"<tr><th style='text-align:left;padding-right:.6em'>{html.escape(name)}</th>"
                        f"{''.join(tds)}</tr>")
        legend = " &nbsp; ".join(f"<span style='display:inline-block;width:1em;height:1em;vertical-align:middle;"
                                 f"border:1px solid var(--jp-border-color1,#d0d7de);background:{colour}'></span> "
                                 f"{html.escape(status)}" for status, (_, colour) in MARKS.items())
        return (f"<div class='apisec-progress-picture' style='color:var(--jp-ui-font-color1,inherit)'>"
                f"<table style='border-collapse:collapse'><tr><th></th>{head}</tr>{''.join(body)}</table>"
                f"<div style='font-size:11px;margin-top:.4em'>{legend}</div></div>")


def mine(path: Path | None = None, exercises: list[tuple[str, str]] | None = None) -> Picture:
    """This learner's progress across the workbook, as one row ("you") of the room's picture (notebook 00 shows it)."""
    return Picture({"you": load(Path(path) if path is not None else progress_file())}, exercises)


# -- solution locks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lock:
    """A lock on the solutions matching ``pattern`` (fnmatch: ``nb02.q2``, ``nb03.*``, ``*``)."""

    pattern: str
    until: float | None = None
    note: str = ""

    def message(self, title: str) -> str:
        when = (f" until {time.strftime('%H:%M', time.localtime(self.until))}" if self.until else "")
        note = f" ({self.note})" if self.note else ""
        return (f"Solution ({title}): locked by your instructor{when}{note}. The hint still works: "
                f"try .hint(), and .check() your own answer.")


def lock_file() -> Path:
    return Path(os.environ.get(LOCK_FILE_ENV) or DEFAULT_LOCK_FILE)


def locks(path: Path | None = None, now: float | None = None) -> list[Lock]:
    """The locks in force: those in the lock file that have not run out. No file, or a broken one: none."""
    try:
        data = json.loads(Path(path or lock_file()).read_text(encoding="utf-8"))
        entries = data.get("locks") if isinstance(data, dict) else None
    except (OSError, ValueError):
        return []
    now = time.time() if now is None else now
    found = []
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and isinstance(e.get("pattern"), str):
            until = e.get("until") if isinstance(e.get("until"), (int, float)) else None
            if until is None or until > now:
                found.append(Lock(e["pattern"], until, str(e.get("note", ""))))
    return found


def lock_for(exercise: str, path: Path | None = None, now: float | None = None) -> Lock | None:
    """The lock that holds ``exercise``'s solution back right now, or None."""
    return next((lk for lk in locks(path, now) if fnmatch.fnmatchcase(exercise, lk.pattern)), None)


def _write_locks(entries: list[Lock], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"locks": [{"pattern": lk.pattern, "until": lk.until, "note": lk.note} for lk in entries]}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".locks-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1)
    os.chmod(tmp, 0o644)              # learners read it; only its owner (the instructor) writes it
    os.replace(tmp, path)             # readers see the old file or the new one, never half of one


def lock(patterns, minutes: float | None = None, note: str = "", path: Path | None = None,
         now: float | None = None) -> list[Lock]:
    """Lock the solutions matching each pattern, for ``minutes`` (None: until released). Returns the locks in force."""
    path = Path(path or lock_file())
    now = time.time() if now is None else now
    until = None if minutes is None else now + minutes * 60
    kept = [lk for lk in locks(path, now) if lk.pattern not in patterns]
    _write_locks(kept + [Lock(p, until, note) for p in patterns], path)
    return locks(path, now)


def release(patterns=None, path: Path | None = None, now: float | None = None) -> list[Lock]:
    """Release the locks on ``patterns`` (None: all). Returns the locks still in force."""
    path = Path(path or lock_file())
    kept = [] if patterns is None else [lk for lk in locks(path, now) if lk.pattern not in patterns]
    _write_locks(kept, path)
    return locks(path, now)


# -- the command line -----------------------------------------------------------------------------
def main(argv: list[str] | None = None, out=None) -> int:
    """``python -m apisec_lab progress``: see ``--help``."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m apisec_lab progress",
        description="Progress through the workbook: your own table, a room's table and picture, solution locks.")
    sub = parser.add_subparsers(dest="action")
    show = sub.add_parser("show", help="(the default) a table and a picture")
    for p in (parser, show):
        where = p.add_mutually_exclusive_group()
        where.add_argument("--file", type=Path, help="one learner's record file")
        where.add_argument("--homes", metavar="GLOB",
                           help=f"every learner whose home matches GLOB (e.g. '/home/*'): <home>/{HOME_RECORD}")
        where.add_argument("--dir", type=Path, help="a shared folder of <learner>.jsonl records")
    lk = sub.add_parser("lock", help="lock solutions (patterns such as nb02.q2, 'nb03.*', '*')")
    lk.add_argument("patterns", nargs="+")
    lk.add_argument("--minutes", type=float, help="release by itself after this many minutes")
    lk.add_argument("--note", default="", help="what the learners are told, e.g. 'timed exercise'")
    rel = sub.add_parser("release", help="release locks (all, unless patterns are given)")
    rel.add_argument("patterns", nargs="*")
    for p in (lk, rel):
        p.add_argument("--lock-file", type=Path, help=f"default ${LOCK_FILE_ENV} or {DEFAULT_LOCK_FILE}")
    args = parser.parse_args(argv)

    if args.action in ("lock", "release"):
        try:
            held = (lock(args.patterns, args.minutes, args.note, args.lock_file) if args.action == "lock"
                    else release(args.patterns or None, args.lock_file))
        except OSError as e:
            print(f"cannot write the lock file: {e}", file=sys.stderr)
            return 1
        print(f"locks in {args.lock_file or lock_file()}:", file=out)
        for h in held:
            until = time.strftime("%H:%M", time.localtime(h.until)) if h.until else "until released"
            print(f"  {h.pattern:12} {until}  {h.note}", file=out)
        if not held:
            print("  none: every solution is open", file=out)
        return 0

    if args.homes or args.dir:
        room = gather_homes(args.homes) if args.homes else gather_dir(args.dir)
        if not room:
            print(f"no progress records found in {args.homes or args.dir}", file=sys.stderr)
            return 1
        with pd.option_context("display.width", 200, "display.max_colwidth", 80):
            print(room_table(room).to_string(), file=out)
        print("", file=out)
        print(repr(Picture(room)), file=out)
        return 0
    path = args.file or progress_file()
    events = load(path)
    print(f"progress of {learner() if not args.file else path.stem} ({path}):", file=out)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(summary(events).to_string(), file=out)
    return 0
