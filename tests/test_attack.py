"""The attacker's chance of catching up: the whitepaper's own tables, and races read off finds.

Reference: https://bitcoin.org/bitcoin.pdf, section 11 (the numbers below are its tables).
"""
import random

import pytest

from toycoin.attack import (attacker_success, attacker_success_exact, blocks_to_wait, catch_up_trials,
                            success_rates)

# The whitepaper's first table: P for q = 0.1 and q = 0.3, as printed (7 decimals).
Q_01 = {0: 1.0, 1: 0.2045873, 2: 0.0509779, 3: 0.0131722, 4: 0.0034552, 5: 0.0009137,
        6: 0.0002428, 7: 0.0000647, 8: 0.0000173, 9: 0.0000046, 10: 0.0000012}
Q_03 = {0: 1.0, 5: 0.1773523, 10: 0.0416605, 15: 0.0101008, 20: 0.0024804, 25: 0.0006132,
        30: 0.0001522, 35: 0.0000379, 40: 0.0000095, 45: 0.0000024, 50: 0.0000006}
# Its second table: the least z for P < 0.1%.
WAIT = {0.10: 5, 0.15: 8, 0.20: 11, 0.25: 15, 0.30: 24, 0.35: 41, 0.40: 89, 0.45: 340}


@pytest.mark.parametrize(("q", "table"), [(0.1, Q_01), (0.3, Q_03)])
def test_the_formula_gives_the_whitepapers_table(q, table):
    for z, printed in table.items():
        assert round(attacker_success(q, z), 7) == printed, (q, z)


@pytest.mark.parametrize(("q", "z"), sorted(WAIT.items()))
def test_blocks_to_wait_for_less_than_one_in_a_thousand(q, z):
    assert blocks_to_wait(q, 0.001) == z


def test_half_the_hash_rate_always_catches_up():
    assert attacker_success(0.5, 10) == attacker_success_exact(0.6, 3) == 1.0
    with pytest.raises(ValueError, match="always catches up"):
        blocks_to_wait(0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        attacker_success(1.5, 1)


def test_the_exact_chance_is_close_to_the_formula_and_agrees_where_it_must():
    assert attacker_success_exact(0.1, 1) == pytest.approx(0.2)  # 1 - (p - q): one step of the walk
    for q in (0.1, 0.2, 0.3):
        assert attacker_success_exact(q, 0) == 1.0
        for z in range(1, 10):
            assert abs(attacker_success_exact(q, z) - attacker_success(q, z)) < 0.03


def test_races_are_cut_and_decided_for_every_z():
    # H H A A: she draws level at 2-2, after the honest side had 1 and 2 blocks: she wins z = 0, 1, 2.
    # Then H x 12: she is 12 behind: z = 0 is hers (level at the start), z = 1 and 2 are lost.
    finds = "HHAA" + "H" * 12
    assert catch_up_trials(finds, z_max=2, give_up=12) == [(True, True, True), (True, False, False)]
    # A race still open at the end is dropped.
    assert catch_up_trials("HHA", z_max=2) == []
    with pytest.raises(ValueError, match="'H' \\(honest\\) or 'A'"):
        catch_up_trials("HX", z_max=1)


def test_races_of_random_finds_follow_the_exact_chance():
    rng = random.Random(10)
    q = 0.3
    finds = ["A" if rng.random() < q else "H" for _ in range(200_000)]
    rates = success_rates(catch_up_trials(finds, z_max=5, give_up=20))
    for z, rate in enumerate(rates):
        assert rate == pytest.approx(attacker_success_exact(q, z), abs=0.01), z
