"""How long does it take to rewrite history when blocks are only linked by hashes?

Chapter 08's claim: a tamperer who edits an old block and re-seals every
later block (each header naming the new hash of the block before it) gets a
chain whose every link holds, in milliseconds. This script builds a chain of
N blocks, each with one signed payment, edits Mallory's payment in block 2,
recommits its header, and times re-sealing the N - 2 blocks after it: the
best of --repeat runs, in milliseconds, and per block. It also times
validating the whole rewritten chain (every signature checked), which is
what a new full node spends on it, to compare.

    python benchmarks/bench_tamper.py --blocks 10 100 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import time

from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.node import course_genesis
from toycoin.tamper import ChainCopy, broken_links, change_amount, recommit, reseal, validate_chain
from toycoin.wallet import Wallet

ALICE, BOB, MALLORY = (PrivateKey.from_seed(s) for s in ("alice", "bob", "mallory"))
MINER = PrivateKey.from_seed("miner").address


def build(blocks: int) -> ChainCopy:
    """Chapter 08's chain: Alice pays Mallory 40, Mallory pays Bob 30 (block 2), then each
    block pays Bob 1 coin of Alice's (of the miner's rewards once she runs out)."""
    ledger, miner = Ledger(course_genesis()), PrivateKey.from_seed("miner")
    for height in range(1, blocks + 1):
        payer, to, amount = ((ALICE, MALLORY.address, 40) if height == 1 else
                             (MALLORY, BOB.address, 30) if height == 2 else
                             (ALICE if ledger.balance(ALICE.address) else miner, BOB.address, 1))
        tx = Wallet(payer).make_payment(ledger.unspent_for(payer.address)[:1], to, amount)
        ledger.seal_block([tx], MINER, ledger.tip.timestamp + 600)
    return ChainCopy(ledger.blocks)


def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'blocks':>7} {'re-sealed':>9} {'re-seal ms':>11} {'ms/block':>9} {'validate ms':>12}")
    for blocks in args.blocks:
        chain = build(blocks)
        edited = chain.with_block(2, recommit(change_amount(chain, 2, 1, 0, 3, key=MALLORY)))
        rewritten = reseal(edited.blocks, start=3)
        assert broken_links(ChainCopy(rewritten)) == []
        took = best_of(args.repeat, lambda edited=edited: reseal(edited.blocks, start=3))
        checked = best_of(1, lambda rewritten=rewritten: validate_chain(rewritten))
        n, ms = len(rewritten) - 3, took * 1000
        print(f"{blocks:>7} {n:>9} {ms:>11.2f} {ms / max(n, 1):>9.4f} {checked * 1000:>12.1f}")


if __name__ == "__main__":
    main()
