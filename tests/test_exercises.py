"""Exercise checks speak in plain words and never raise."""
import pytest

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
    out = capsys.readouterr().out
    assert out == "Case 1 (3): expected 4, but your function returned 3.\n  hint: count them\n"


# --- chapter 08: the cases of the notebook, run against plausible wrong answers ---------

def chapter_08_cases():
    """Run chapter 08's two check cells (as stored in the notebook) on an offline chain."""
    import json
    from dataclasses import replace
    from pathlib import Path

    from toycoin.block import Block
    from toycoin.keys import PrivateKey
    from toycoin.tamper import ChainCopy, change_amount, recommit, reseal
    from test_tamper import LEDGER, RECOMMITTED

    notebook = Path(__file__).resolve().parent.parent / "chapters" / "08_the_block_chain.ipynb"
    cells = ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
             if c["cell_type"] == "code"]

    def unanswered(*args):
        raise NotImplementedError

    namespace = {"net": {"A": type("Node", (), {"ledger": LEDGER})}, "recommitted": RECOMMITTED,
                 "ChainCopy": ChainCopy, "PrivateKey": PrivateKey, "change_amount": change_amount,
                 "recommit": recommit, "reseal": reseal, "broken": unanswered, "relink": unanswered,
                 "replace": replace, "Block": Block}
    for marker in ("cases = [", "cases2 = ["):
        exec(next(c for c in cells if marker in c), namespace)  # noqa: S102 - the course's own notebook
    return namespace


def check_08(capsys, answer, which):
    ns = chapter_08_cases()
    capsys.readouterr()
    if which == "cases":
        check(answer, ns["cases"])
    else:
        check(answer, ns["cases2"], show=ns["short_hashes"])
    return capsys.readouterr().out


def broken_from_genesis(blocks):  # blocks[-1] is the tip: genesis "breaks"
    return [h for h in range(len(blocks)) if blocks[h].header.prev_block_hash != blocks[h - 1].hash]


def broken_by_hex(blocks):  # text against bytes: every link "breaks"
    return [h for h in range(1, len(blocks)) if blocks[h].header.prev_block_hash != blocks[h - 1].hash_hex]


def broken_on_the_parent(blocks):  # names the changed block, not the one whose link broke
    return [h - 1 for h in range(1, len(blocks)) if blocks[h].header.prev_block_hash != blocks[h - 1].hash]


def cut_off_from_the_first_break(blocks):  # every block above the first break
    bad = [h for h in range(1, len(blocks)) if blocks[h].header.prev_block_hash != blocks[h - 1].hash]
    return list(range(bad[0], len(blocks))) if bad else []


def first_break_only(blocks):
    bad = [h for h in range(1, len(blocks)) if blocks[h].header.prev_block_hash != blocks[h - 1].hash]
    return bad[:1]


@pytest.mark.parametrize("wrong, says", [
    (broken_from_genesis, "genesis has no parent"),
    (broken_by_hex, "compare bytes with bytes"),
    (broken_on_the_parent, "a link belongs to the block that names its parent"),
    (cut_off_from_the_first_break, "a link belongs to the block that names its parent"),
    (first_break_only, "report every broken link"),
])
def test_chapter_08_exercise_1_names_each_mistake(capsys, wrong, says):
    out = check_08(capsys, wrong, "cases")
    assert out.startswith("Case ") and f"hint: {says}" in out, out


def relink_from_the_old_list(blocks, changed):  # each parent read from the chain as it was
    from dataclasses import replace

    from toycoin.block import Block
    return [b if h <= changed else Block(replace(b.header, prev_block_hash=blocks[h - 1].hash), b.txs)
            for h, b in enumerate(blocks)]


def relink_the_next_block_only(blocks, changed):
    from dataclasses import replace

    from toycoin.block import Block
    chain = list(blocks)
    if changed + 1 < len(chain):
        chain[changed + 1] = Block(replace(chain[changed + 1].header, prev_block_hash=chain[changed].hash),
                                   chain[changed + 1].txs)
    return chain


@pytest.mark.parametrize("wrong, says", [
    (relink_from_the_old_list, "read each parent from your new list"),
    (relink_the_next_block_only, "re-seal every block up to the tip"),
])
def test_chapter_08_exercise_2_names_each_mistake(capsys, wrong, says):
    out = check_08(capsys, wrong, "cases2")
    assert out.startswith("Case 1 (block 2 changed)") and says in out, out


def test_chapter_08_worked_solutions_pass(capsys):
    ns = chapter_08_cases()
    from toycoin.tamper import ChainCopy, broken_links, reseal
    capsys.readouterr()
    check(lambda blocks: broken_links(ChainCopy(blocks)), ns["cases"])
    check(lambda blocks, changed: reseal(blocks, changed + 1), ns["cases2"], show=ns["short_hashes"])
    assert capsys.readouterr().out == "Correct: all 4 cases pass.\nCorrect: all 3 cases pass.\n"
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


def test_a_dict_of_known_wrong_answers_names_the_mistake(capsys):
    cases = [Case((5,), 10, hint="double it", mistakes={25: "you squared it"})]
    check(lambda x: x * x, cases)
    assert capsys.readouterr().out == ("Case 1 (5): expected 10, but your function returned 25.\n"
                                       "  hint: you squared it\n")
    check(lambda x: [x], cases)  # unknown: the hint
    assert capsys.readouterr().out.endswith("  hint: double it\n")


# --- chapter 10: the cases of the notebook, run against plausible wrong answers ---------

def chapter_10_cases():
    """Run chapter 10's two check cells (as stored in the notebook): they need no network."""
    import json
    from pathlib import Path

    notebook = Path(__file__).resolve().parent.parent / "chapters" / "10_forks_and_reorganisation.ipynb"
    cells = ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
             if c["cell_type"] == "code"]
    def unanswered(*args):
        raise NotImplementedError

    namespace: dict = {"winner": unanswered, "catch_up": unanswered}
    for marker in ("cases = [", "cases2 = ["):
        exec(next(c for c in cells if marker in c), namespace)  # noqa: S102 - the course's own notebook
    return namespace


def check_10(capsys, answer, which):
    ns = chapter_10_cases()
    capsys.readouterr()
    if which == "cases":
        check(answer, ns["cases"])
    else:
        check(answer, ns["cases2"], show=ns["seven_places"])
    return capsys.readouterr().out


def winner_by_length(branches):  # most blocks, not most work
    longest = max(len(blocks) for blocks in branches.values())
    best = [name for name, blocks in branches.items() if len(blocks) == longest]
    return best[0] if len(best) == 1 else None


def winner_by_bits(branches):  # adds up the bits themselves: bigger bits are an easier target
    total = {name: sum(blocks) for name, blocks in branches.items()}
    best = [name for name, t in total.items() if t == max(total.values())]
    return best[0] if len(best) == 1 else None


def winner_without_ties(branches):  # max() picks the first of equals
    from toycoin.pow import block_work
    return max(branches, key=lambda name: sum(block_work(bits) for bits in branches[name]))


def winner_of_two(branches):  # only ever compares the first two branches
    from toycoin.pow import block_work
    (a, bits_a), (b, bits_b) = list(branches.items())[:2]
    work_a, work_b = sum(map(block_work, bits_a)), sum(map(block_work, bits_b))
    return None if work_a == work_b else a if work_a > work_b else b


@pytest.mark.parametrize("wrong, says", [
    (winner_by_length, "compare work, not blocks"),
    (winner_by_bits, "compare work, not blocks"),
    (winner_without_ties, "with equal work no branch wins"),
    (winner_of_two, "there can be more than two branches"),
])
def test_chapter_10_exercise_1_names_each_mistake(capsys, wrong, says):
    out = check_10(capsys, wrong, "cases")
    assert out.startswith("Case ") and f"hint: {says}" in out, out


def gamblers_ruin_only(q, z):  # forgets that she mines while the merchant waits
    return 1.0 if q >= 1 - q else (q / (1 - q)) ** z


def poisson_mean_without_p(q, z):  # lambda = z * q
    import math
    p = 1 - q
    if q >= p:
        return 1.0
    lam = z * q
    return 1 - sum(lam**k * math.exp(-lam) / math.factorial(k) * (1 - (q / p) ** (z - k))
                   for k in range(z + 1))


def first_term_only(q, z):  # only k = 0: she found nothing while the merchant waited
    import math
    p = 1 - q
    if q >= p:
        return 1.0
    lam = z * q / p
    return 1 - math.exp(-lam) * (1 - (q / p) ** z)


def formula_for_every_q(q, z):  # no case for q >= p
    import math
    p = 1 - q
    lam = z * q / p
    return 1 - sum(lam**k * math.exp(-lam) / math.factorial(k) * (1 - (q / p) ** (z - k))
                   for k in range(z + 1))


@pytest.mark.parametrize("wrong, says", [
    (gamblers_ruin_only, "she mines while the merchant waits"),
    (poisson_mean_without_p, "the honest side finds p of the blocks"),
    (first_term_only, "sum over every k from 0 to z"),
    (formula_for_every_q, "with q ≥ p she always catches up"),
])
def test_chapter_10_exercise_2_names_each_mistake(capsys, wrong, says):
    out = check_10(capsys, wrong, "cases2")
    assert out.startswith("Case ") and says in out, out


def test_chapter_10_worked_solutions_pass(capsys):
    from toycoin.attack import attacker_success
    from toycoin.pow import block_work
    ns = chapter_10_cases()
    capsys.readouterr()

    def winner(branches):
        work = {name: sum(map(block_work, blocks)) for name, blocks in branches.items()}
        best = [name for name, w in work.items() if w == max(work.values())]
        return best[0] if len(best) == 1 else None

    check(winner, ns["cases"])
    check(attacker_success, ns["cases2"], show=ns["seven_places"])
    assert capsys.readouterr().out == "Correct: all 4 cases pass.\nCorrect: all 5 cases pass.\n"
