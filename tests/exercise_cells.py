"""A chapter's exercise check, run against answers a learner might write.

The cases are read from the chapter itself, so a notebook and its test cannot
drift apart: the check cell that defines ``<defines> = [...]`` is run with the
answer under test bound to the name the chapter asks for.
"""

import json
from pathlib import Path

from toycoin.exercises import Case, check

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"


def check_cell(notebook: str, defines: str) -> str:
    cells = json.loads((CHAPTERS / notebook).read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return next(s for s in sources if f"{defines} = [" in s)


def run_check(capsys, notebook: str, defines: str, name: str, answer) -> str:
    """What the chapter's check prints for ``answer``."""
    exec(check_cell(notebook, defines), {name: answer, "Case": Case, "check": check})  # noqa: S102 - the chapter's cell
    return capsys.readouterr().out


def assert_verdict(out: str, named: str | None, cases: int) -> None:
    """The right answer passes every case; a wrong one gets a hint that names its mistake."""
    if named is None:
        assert out == f"Correct: all {cases} cases pass.\n"
    else:
        assert "hint:" in out and named in out, out
