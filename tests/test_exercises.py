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


def test_a_known_wrong_answer_is_named_as_the_mistake_instead_of_the_hint(capsys):
    cases = [Case((5,), 10, hint="double it", mistakes={25: "you squared it"})]
    check(lambda x: x * x, cases)
    assert capsys.readouterr().out == ("Case 1 (5): expected 10, but your function returned 25.\n"
                                       "  mistake: you squared it\n")
    check(lambda x: [x], cases)  # unhashable and unknown: the hint
    assert capsys.readouterr().out.endswith("  hint: double it\n")
