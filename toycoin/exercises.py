"""Exercises: checks that tell a learner what is wrong in plain words.

Each chapter ends with exercises: a cell for the learner's answer (a function
that starts as ``raise NotImplementedError``), a check cell, and a collapsed
worked solution. The check cell calls ``check`` with a few cases; it never
raises, so a notebook with unanswered exercises still runs top to bottom.

What is in here:
    Case    one input, the expected answer, a hint for when it is wrong, and the
            known wrong answers with the mistake each one betrays
    check   run the learner's function on every case and say what happened
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Case:
    args: tuple
    expected: Any
    hint: str = ""
    describe: str = ""  # how to name the input in feedback; default: repr of args
    kwargs: dict = field(default_factory=dict)
    # Wrong answers that betray a known mistake, and the words that name it (said instead of the hint).
    mistakes: dict = field(default_factory=dict)


def check(answer: Callable[..., Any], cases: list[Case],
          equal: Callable[[Any, Any], bool] | None = None) -> None:
    """Run `answer` on each case; print what passed, or one plain sentence about what did not."""
    equal = equal or (lambda got, want: got == want)
    for number, case in enumerate(cases, start=1):
        given = case.describe or ", ".join(map(repr, case.args))
        try:
            got = answer(*case.args, **case.kwargs)
        except NotImplementedError:
            print(f"Not answered yet: fill in `{answer.__name__}` above, run it, then run this cell again.")
            return
        except Exception as exc:  # the learner's code: report any error in words
            print(f"Case {number} ({given}): your function raised {type(exc).__name__}: {exc}")
            if case.hint:
                print(f"  hint: {case.hint}")
            return
        if not equal(got, case.expected):
            print(f"Case {number} ({given}): expected {case.expected!r}, "
                  f"but your function returned {got!r}.")
            mistake = _mistake(case, got)
            if mistake or case.hint:
                print(f"  {'mistake' if mistake else 'hint'}: {mistake or case.hint}")
            return
    print(f"Correct: all {len(cases)} cases pass.")


def _mistake(case: Case, got: Any) -> str:
    """The words naming the mistake that gives ``got``, if it is a known one."""
    try:
        return case.mistakes.get(got, "")
    except TypeError:  # an unhashable answer is no known mistake
        return ""
