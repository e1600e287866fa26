"""Exercise checks speak in plain words and never raise."""
from toycoin.exercises import Case, check


def double(x):
    return 2 * x


def test_all_cases_pass(capsys):
    check(double, [Case((1,), 2), Case((5,), 10)])
    assert capsys.readouterr().out == "Correct: all 2 cases pass.\n"


def test_wrong_answer_names_the_case_and_the_hint(capsys):
    check(double, [Case((1,), 2), Case((5,), 11, hint="add one")])
    out = capsys.readouterr().out
    assert out == "Case 2 (5): expected 11, but your function returned 10.\n  hint: add one\n"


def test_unanswered_exercise(capsys):
    def answer(x):
        raise NotImplementedError

    check(answer, [Case((1,), 2)])
    assert capsys.readouterr().out.startswith("Not answered yet: fill in `answer` above")


def test_an_error_in_the_answer_is_reported_not_raised(capsys):
    check(lambda x: 1 / x, [Case((0,), 1, describe="zero")])
    assert capsys.readouterr().out.startswith("Case 1 (zero): your function raised ZeroDivisionError")


def test_show_turns_the_answer_into_what_is_compared_and_printed(capsys):
    check(lambda n: list(range(n)), [Case((3,), 3, hint="count them")], show=len)
    assert capsys.readouterr().out == "Correct: all 1 cases pass.\n"
    check(lambda n: list(range(n)), [Case((3,), 4, hint="count them")], show=len)
    assert capsys.readouterr().out == "Case 1 (3): expected 4, but your function returned 3.\n  hint: count them\n"
