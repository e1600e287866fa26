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


# --- chapter 09's exercises: the cases as in the notebook, and the usual wrong answers ----------

def chapter_09_cases():
    from toycoin.pow import COURSE_POW, target_to_bits

    bits_cases = [
        Case((0x03123456,), 0x123456, hint="exponent 3: the target is the mantissa itself"),
        Case((0x1D00FFFF,), 0xFFFF * 2**208,
             hint="the exponent counts bytes: multiply by 256 ** (exponent - 3), not 2 ** (exponent - 3)"),
        Case((0x2000FFFF,), COURSE_POW.limit, describe="the course's limit",
             hint="the mantissa is bits & 0xFFFFFF"),
        Case((0x02008000,), 0x80, hint="an exponent below 3 shifts the mantissa right: 0x008000 // 256"),
    ]
    easy, hard = COURSE_POW.limit_bits, target_to_bits(COURSE_POW.limit // 4)
    chain_cases = [
        Case(({"X": [easy] * 3, "Y": [easy] * 5},), "Y", hint="same bits on both: more headers, more work"),
        Case(({"few big targets": [easy] * 2, "many small": [hard] * 2 + [easy]},), "many small",
             hint="a bigger target is an easier header: work is 2**256 // (target + 1), not the target"),
        Case(({"long": [easy] * 8, "short": [hard] * 3},), "short",
             hint="count work, not blocks: 3 headers at a target 4 times smaller outweigh 8 easy ones"),
        Case(({"A": [easy] * 4, "B": [hard], "C": [easy] * 2 + [hard]},), "C",
             hint="sum the work of every header of each chain and take the largest"),
    ]
    return bits_cases, chain_cases


def hint_of(capsys):
    out = capsys.readouterr().out
    assert not out.startswith("Correct"), out
    return out.split("hint: ", 1)[1].strip()


def test_chapter_09_bits_exercise_names_each_mistake(capsys):
    from toycoin.pow import bits_to_target

    bits_cases, _ = chapter_09_cases()
    check(bits_to_target, bits_cases)
    assert capsys.readouterr().out == "Correct: all 4 cases pass.\n"
    check(lambda bits: (bits & 0xFFFFFF) << ((bits >> 24) - 3), bits_cases)  # shifts by bits, not bytes
    assert hint_of(capsys).startswith("the exponent counts bytes")
    check(lambda bits: (bits & 0xFFFF) * 256 ** ((bits >> 24) - 3), bits_cases)  # a two-byte mantissa
    assert hint_of(capsys).startswith("exponent 3")
    check(lambda bits: (bits & 0xFFFFFF) * 256 ** max((bits >> 24) - 3, 0), bits_cases)  # never shifts right
    assert hint_of(capsys).startswith("an exponent below 3")


def test_chapter_09_best_chain_exercise_names_each_mistake(capsys):
    from toycoin.pow import bits_to_target, block_work

    _, chain_cases = chapter_09_cases()
    check(lambda chains: max(chains, key=lambda n: sum(block_work(b) for b in chains[n])), chain_cases)
    assert capsys.readouterr().out == "Correct: all 4 cases pass.\n"
    check(lambda chains: max(chains, key=lambda n: len(chains[n])), chain_cases)  # most blocks
    assert hint_of(capsys).startswith("count work, not blocks")
    check(lambda chains: max(chains, key=lambda n: sum(bits_to_target(b) for b in chains[n])), chain_cases)
    assert hint_of(capsys).startswith("a bigger target is an easier header")
    check(lambda chains: max(chains, key=lambda n: max(block_work(b) for b in chains[n])), chain_cases)
    assert hint_of(capsys).startswith("same bits on both")  # the hardest header is not the chain's work
