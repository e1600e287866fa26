"""Why merchants wait: an attacker's chance of catching up, by formula and by race.

Mallory pays a merchant, who waits until the payment is ``z`` blocks deep.
Meanwhile Mallory mines, in secret, a branch in which the same coin pays
herself. She holds a share ``q`` of the hash rate, the honest nodes ``p = 1 - q``.
If her branch ever catches up with the honest chain, she can publish it and
the merchant's payment is undone. Section 11 of Bitcoin's whitepaper
computes her chance; this module computes it, and reads the same thing off
real races.

    attacker_success(q, z)         the whitepaper's formula, as its C code computes it
    attacker_success_exact(q, z)   the same question without its Poisson approximation
    blocks_to_wait(q, p_max)       the least z that brings her chance below p_max
    catch_up_trials(finds, ...)    cut a sequence of block finds ("H" honest, "A" attacker)
                                   into independent races, and say for each z who won
    success_rates(trials)          the share of races the attacker won, for each z

How the formula reasons: while the honest nodes find ``z`` blocks, the
attacker finds on average ``z * q / p``; the whitepaper takes her count to be
Poisson with that mean. From ``k`` blocks she needs ``z - k`` more than the
honest nodes, and a gambler who gains one with chance q and loses one with
chance p ever gets ``d`` ahead with chance ``(q / p) ** d`` (1 if q >= p).
Her count is really negative binomial (the honest nodes' z blocks take a
random time too); ``attacker_success_exact`` uses that, and a real race follows it.

As in the whitepaper, catching up means drawing level: the attacker has as
many blocks after the fork as the honest chain. (With equal work per block, a
node switches only to a branch with *more* work, so in practice she needs one
block more; the formula's count is the usual one to compare with.)

Reference: https://bitcoin.org/bitcoin.pdf, section 11 (Calculations)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def attacker_success(q: float, z: int) -> float:
    """The whitepaper's AttackerSuccessProbability(q, z): her chance of ever catching up
    from ``z`` blocks behind with a share ``q`` of the hash rate."""
    _check(q, z)
    p = 1.0 - q
    if q >= p:
        return 1.0  # she finds blocks at least as fast: she catches up for certain
    mean = z * q / p  # lambda: her expected blocks while the honest nodes find z
    total, poisson = 1.0, math.exp(-mean)  # poisson: the chance she has found exactly k blocks
    for k in range(z + 1):
        if k:
            poisson *= mean / k  # as the whitepaper's loop builds it: no huge powers or factorials
        total -= poisson * (1 - (q / p) ** (z - k))
    return total


def attacker_success_exact(q: float, z: int) -> float:
    """Her chance when her blocks while the honest nodes find z follow the negative binomial
    distribution (the honest nodes' time is random too), not the Poisson approximation."""
    _check(q, z)
    p = 1.0 - q
    if q >= p:
        return 1.0
    total = 1.0
    for k in range(z):  # from k >= z blocks she is level already: those cases succeed
        chance_of_k = math.comb(k + z - 1, k) * p**z * q**k
        total -= chance_of_k * (1 - (q / p) ** (z - k))
    return total


def blocks_to_wait(q: float, p_max: float = 0.001) -> int:
    """The least z for which attacker_success(q, z) is below ``p_max`` (the whitepaper's
    second table); ValueError if she holds half the hash rate or more: no z is enough."""
    if not 0 <= q < 0.5:
        raise ValueError(f"q = {q}: with half the hash rate or more she always catches up; "
                         "give q between 0 and 0.5")
    z = 0
    while attacker_success(q, z) >= p_max:
        z += 1
    return z


def catch_up_trials(finds: Iterable[str], z_max: int, give_up: int = 12) -> list[tuple[bool, ...]]:
    """Cut ``finds``, who found each block in order ("H" honest, "A" attacker), into races.

    A race starts where the last one ended, with both sides at 0 blocks past
    the fork. For each z from 0 to ``z_max`` she wins when, at or after the
    moment the honest side has z blocks, she has at least as many. She loses
    once she is ``give_up`` blocks behind after that moment (her chance from
    there, (q/p)**give_up, is left out). A race ends when every z is decided;
    the one unfinished at the end of ``finds`` is dropped. Block finds are
    memoryless, so the races are independent.
    """
    trials, honest, attacker = [], 0, 0
    won = _decide(0, 0, [None] * (z_max + 1), give_up)
    for who in finds:
        if who not in ("H", "A"):
            raise ValueError(f"a block find is 'H' (honest) or 'A' (attacker), not {who!r}")
        honest, attacker = honest + (who == "H"), attacker + (who == "A")
        won = _decide(honest, attacker, won, give_up)
        if all(w is not None for w in won):
            trials.append(tuple(won))
            honest, attacker = 0, 0
            won = _decide(0, 0, [None] * (z_max + 1), give_up)
    return trials


def _decide(honest: int, attacker: int, won: list, give_up: int) -> list:
    """Decide each z still open, now that the race stands at ``honest`` to ``attacker``."""
    for z, result in enumerate(won):
        if result is None and honest >= z:
            if attacker >= honest:
                won[z] = True
            elif honest - attacker >= give_up:
                won[z] = False
    return won


def success_rates(trials: Sequence[tuple[bool, ...]]) -> list[float]:
    """The share of ``trials`` she won, for each z (ValueError if there are none)."""
    if not trials:
        raise ValueError("no finished race: let the miners find more blocks")
    return [sum(t[z] for t in trials) / len(trials) for z in range(len(trials[0]))]


def _check(q: float, z: int) -> None:
    if not 0 <= q <= 1:
        raise ValueError(f"q is the attacker's share of the hash rate, between 0 and 1, not {q}")
    if z < 0:
        raise ValueError(f"z counts blocks, so it cannot be negative: {z}")
