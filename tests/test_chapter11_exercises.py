"""Chapter 11's exercise checks: plausible wrong answers are caught, and named as the mistake they are.

Each check cell of the chapter is run (tests/exercise_cells.py) against wrong
answers a learner might write, and against the worked solution.
"""


import pytest

import exercise_cells

NOTEBOOK = "11_network_shapes.ipynb"


def run_check(capsys, defines: str, name: str, answer) -> str:
    return exercise_cells.run_check(capsys, NOTEBOOK, defines, name, answer)


BUCKET_MISTAKES = [
    (lambda own, other: bin(own ^ other).count("1"), "a Hamming distance"),
    (lambda own, other: (own ^ other).bit_length(), "off by one"),
    (lambda own, other: abs(own - other).bit_length() - 1, "the numeric difference"),
    (lambda own, other: (own ^ other).bit_length() - 1 if own != other else 0, None),  # right
]


@pytest.mark.parametrize(("answer", "named"), BUCKET_MISTAKES)
def test_bucket_exercise_names_each_mistake(capsys, answer, named):
    out = run_check(capsys, "bucket_cases", "bucket_for", answer)
    exercise_cells.assert_verdict(out, named, cases=4)


FLOOD_MISTAKES = [
    (lambda n, d: n * d, "does not send the query back"),
    (lambda n, d: n * d // 2, "both directions"),
    (lambda n, d: n - 1, "nodes reached, not the messages"),
    (lambda n, d: n * d - n, "the origin has no one to leave out"),
    (lambda n, d: n * d - (n - 1), None),  # right
]


@pytest.mark.parametrize(("answer", "named"), FLOOD_MISTAKES)
def test_flood_exercise_names_each_mistake(capsys, answer, named):
    out = run_check(capsys, "flood_cases", "flood_messages", answer)
    exercise_cells.assert_verdict(out, named, cases=3)


def test_the_flood_formula_matches_a_measured_flood():
    # The exercise's answer is what toycoin.flood sends on a real graph (see tests/test_flood.py).
    from toycoin.crowd import Crowd
    from toycoin.flood import MAX_TTL, FloodNode, flood_search

    crowd = Crowd(lambda name: FloodNode(name), prefix="x")
    try:
        crowd.add(12, links_each=1)  # a tree: every node is first reached by its only path
        n, degree_sum = 12, 2 * len(crowd.links)
        search = flood_search(crowd.peers, crowd.peers[0], bytes(32), MAX_TTL)
        assert search.queries == degree_sum - (n - 1)
    finally:
        crowd.stop()
