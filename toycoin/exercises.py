"""Exercises: checks that tell a learner what is wrong in plain words.

Each chapter ends with exercises: a cell for the learner's answer (a function
that starts as ``raise NotImplementedError``), a check cell, and a collapsed
worked solution. The check cell calls ``check`` with a few cases; it never
raises, so a notebook with unanswered exercises still runs top to bottom.

What is in here:
    Case    one input, the expected answer, a hint for when it is wrong, and
            the plausible wrong answers (``mistakes``), each with a sentence
            that names that mistake
    check   run the learner's function on every case and say what happened

A mistake is ``(wrong, words)``: ``wrong`` is a wrong answer (compared with
``==``) or a test of one (a function of the answer that returns True), and
``words`` replace the hint when the learner's answer is that one.
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
    mistakes: Any = ()  # (a wrong answer or a test of one, what is wrong) pairs, or a dict of them

    def __post_init__(self) -> None:
        if isinstance(self.mistakes, dict):
            object.__setattr__(self, "mistakes", tuple(self.mistakes.items()))

    def diagnose(self, got: Any) -> str:
        """The words for the mistake ``got`` makes, if it is a known one; else the hint."""
        for wrong, words in self.mistakes:
            try:
                known = wrong(got) if callable(wrong) else got == wrong
            except Exception:  # a test of one kind of answer, given another kind
                known = False
            if known:
                return words
        return self.hint


def check(answer: Callable[..., Any], cases: list[Case],
          equal: Callable[[Any, Any], bool] | None = None,
          show: Callable[[Any], Any] | None = None) -> None:
    """Run `answer` on each case; print what passed, or one plain sentence about what did not.

    ``show`` turns what the function returned into what is compared with the
    expected answer and printed (for example a list of blocks into their short hashes).
    """
    equal = equal or (lambda got, want: got == want)
    for number, case in enumerate(cases, start=1):
        given = case.describe or ", ".join(map(repr, case.args))
        try:
            got = answer(*case.args, **case.kwargs)
            if show is not None:
                got = show(got)
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
            if case.diagnose(got):
                print(f"  hint: {case.diagnose(got)}")
            return
    print(f"Correct: all {len(cases)} cases pass.")
