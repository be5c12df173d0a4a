"""Checked exercises, in the manner of Kaggle's learntools.

A notebook poses an exercise as an :class:`Exercise` kept in the package
(not in a cell).  The learner's cell replaces the placeholder and calls the
check; hint and solution are one call away::

    from apisec_lab.book.exercises import ____
    answer = ____                      # the learner edits this line
    nb01.q1.check(answer)              # prints a verdict, never raises
    nb01.q1.hint()
    nb01.q1.solution()

Every check, hint and solution is recorded in the learner's own progress file, and a solution the
instructor has locked for a timed exercise is not shown (:mod:`apisec_lab.book.progress`).

Tests call :meth:`Exercise.evaluate` (a :class:`Verdict`) with the untouched
placeholder and with :meth:`Exercise.reference_answer`, so every check is
proven to fail on the placeholder and to pass on the solution.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any, Callable

from . import progress


class _Placeholder:
    """The blank a learner replaces.  Its repr is what the cell shows."""

    def __repr__(self) -> str:
        return "____"


#: The blank in every exercise cell.
____ = _Placeholder()


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return ("Correct: " if self.passed else "Not yet: ") + self.message


@dataclass
class Exercise:
    """One "Try it" exercise.

    ``checker(answer)`` returns None when the answer is right, otherwise a
    sentence saying what is wrong.  ``solver()`` computes the reference answer
    against the running lab (answers such as tokens are only known live).
    ``success`` is the sentence for a right answer, or ``success(answer)``
    builds it from the learner's actual answer.

    ``pose()``, if given, runs when the untouched placeholder is checked (the
    exercise cell's first run, in Run All) and its value is kept as
    :attr:`posed`: a check can then refuse work that was done before the
    exercise was posed (by a demo cell above it), so every exercise needs the
    learner's own action.
    """

    name: str
    checker: Callable[[Any], str | None]
    hint_text: str
    solution_text: str
    solver: Callable[[], Any]
    success: str | Callable[[Any], str] = "well done."
    pose: Callable[[], Any] | None = None
    posed: Any = None

    def evaluate(self, answer: Any) -> Verdict:
        if isinstance(answer, _Placeholder):
            if self.pose is not None:
                self.posed = self.pose()
            return Verdict(False, "replace ____ with your answer, then run the cell again.")
        try:
            problem = self.checker(answer)
            if problem is None:
                return Verdict(True, self.success(answer) if callable(self.success) else self.success)
        except Exception as e:  # a learner's odd answer must not look like a lab bug
            problem = f"the check could not use that answer ({type(e).__name__}: {e})."
        return Verdict(False, problem)

    def __post_init__(self):
        # The chapter module that defines this exercise (the key's first half; see ``key``).
        self._module = sys._getframe(2).f_globals.get("__name__", "")

    @property
    def key(self) -> str:
        """``"nb02.q1"``: the chapter module and the name it gives this exercise (the progress record's key)."""
        module = sys.modules.get(self._module)
        name = next((k for k, v in vars(module).items() if v is self), self.name) if module else self.name
        chapter = next((part for part in reversed(self._module.split(".")) if re.fullmatch(r"nb\d\d", part)),
                       self._module.rpartition(".")[2])       # nb05's exercises live in nb05/exercises.py
        return f"{chapter}.{name}"

    def check(self, answer: Any) -> None:
        """Print whether *answer* is right, or what is wrong with it (and record it, see :mod:`.progress`)."""
        verdict = self.evaluate(answer)
        progress.record(self.key, self.name, "check", passed=verdict.passed,
                        answered=not isinstance(answer, _Placeholder))
        print(f"{self.name}: {verdict}")

    def hint(self) -> None:
        progress.record(self.key, self.name, "hint")
        print(f"Hint ({self.name}): {self.hint_text}")

    def solution(self) -> None:
        """Print the solution, unless the instructor has locked it for a timed exercise."""
        held = progress.lock_for(self.key)
        if held is not None:
            progress.record(self.key, self.name, "locked")
            print(held.message(self.name))
            return
        progress.record(self.key, self.name, "solution")
        print(f"Solution ({self.name}):\n{self.solution_text}")

    def reference_answer(self) -> Any:
        return self.solver()
