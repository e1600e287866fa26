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


def test_a_known_mistake_is_named_instead_of_the_hint(capsys):
    case = Case((3,), 6, hint="double it",
                mistakes=((9, "you squared it"), (lambda got: got < 0, "negative")))
    check(lambda x: x * x, [case])
    assert capsys.readouterr().out.endswith("  hint: you squared it\n")
    check(lambda x: -x, [case])
    assert capsys.readouterr().out.endswith("  hint: negative\n")
    check(lambda x: x + 1, [case])
    assert capsys.readouterr().out.endswith("  hint: double it\n")
    check(lambda x: "six", [case])  # a test that cannot compare "six" < 0 does not match
    assert capsys.readouterr().out.endswith("  hint: double it\n")
