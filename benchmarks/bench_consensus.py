"""Consensus benchmark: the miner's hash rate, the cost of a reorganisation, a node that mines.

Run it with ``python benchmarks/bench_consensus.py``. It prints figures from one
run on this machine; compare the ratios, not absolute times, across machines.

1. Hash rate: toycoin.pow.mine over 80-byte headers, against a bare hashlib loop
   that double-SHA-256es the same number of 80-byte headers (goal: 0.8 or more).
2. Reorganisation: a node on one branch switches to a heavier branch of d blocks
   that fork at the same height (undo d blocks, apply d + 1), against applying
   the same d + 1 blocks on a node that is already at the fork (goal: 1.5 or
   less for d = 10 and d = 100). Each block holds a signed payment.
3. A node that mines: the round trip of a ping from a peer while the node mines
   as fast as it can, against the same node idle (medians; goal: 2 or less).

This is a script, not a test: timings vary with the machine and its load.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from toycoin import params  # noqa: E402
from toycoin.block import BlockHeader  # noqa: E402
from toycoin.keys import PrivateKey  # noqa: E402
from toycoin.mining import Miner  # noqa: E402
from toycoin.node import Node, course_genesis  # noqa: E402
from toycoin.pow import COURSE_POW, PowRules, mine, target_to_bits  # noqa: E402
from toycoin.relay import Relay  # noqa: E402
from toycoin.runtime import Runtime  # noqa: E402
from toycoin.sync import BlockSync  # noqa: E402
from toycoin.wallet import Wallet  # noqa: E402

HASHES = 200_000


def hash_rate() -> float:
    impossible = BlockHeader(1, bytes(32), bytes(32), 1, 0x03000001, 0)  # target 1: never met
    started = time.perf_counter()
    assert mine(impossible, HASHES) is None
    miner = time.perf_counter() - started
    headers = [impossible.serialize()[:76] + n.to_bytes(4, "little") for n in range(HASHES)]
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for header in headers:
        int.from_bytes(sha256(sha256(header).digest()).digest(), "little")
    bare = time.perf_counter() - started
    print(f"hash rate: miner {HASHES / miner:,.0f}/s, bare hashlib {HASHES / bare:,.0f}/s, "
          f"ratio {bare / miner:.2f} (goal 0.8 or more)")
    return bare / miner


def branch_node(name: str, runtime: Runtime, blocks: int, salt: str) -> Node:
    """A node that sealed ``blocks`` blocks; from the second on, each holds a signed payment of
    1 coin from the node's own mining rewards to ``salt``."""
    miner = PrivateKey.from_seed(f"miner {salt}")
    node = Node(name, rules=COURSE_POW, runtime=runtime, services=[Relay, BlockSync],
                miner_address=miner.address)
    wallet, payee = Wallet(miner), PrivateKey.from_seed(salt).address
    for _ in range(blocks):
        coins = node.ledger.unspent_for(miner.address)
        if coins:
            node.submit_tx(wallet.make_payment(coins[:1], payee, 1))
        node.seal()
    return node


def reorganisation(depth: int, runtime: Runtime) -> float:
    ours = branch_node("ours", runtime, depth, "ours")
    theirs = branch_node("theirs", runtime, depth + 1, "theirs")
    branch = theirs.ledger.blocks[1:]
    started = time.perf_counter()
    runtime.call(ours.reorganize, 0, branch, None)
    switch = time.perf_counter() - started
    fresh = Node("fresh", rules=COURSE_POW, runtime=runtime, services=[Relay, BlockSync])
    started = time.perf_counter()
    runtime.call(lambda: [fresh.connect_block(block, None) for block in branch])
    apply = time.perf_counter() - started
    assert ours.ledger.tip_hash == fresh.ledger.tip_hash == theirs.ledger.tip_hash
    print(f"reorganisation of depth {depth}: {switch * 1000:.1f} ms against applying {depth + 1} blocks "
          f"in {apply * 1000:.1f} ms: ratio {switch / apply:.2f} (goal 1.5 or less)")
    return switch / apply


def pings(peer: Node, seconds: float) -> list[float]:
    """Round trips of pings to the miner, one after another, for ``seconds``."""
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        times.append(peer.ping("miner"))
    return times


def ping_while_mining(runtime: Runtime) -> float:
    # A target about a million tries deep: the miner hashes all the time, and a block comes about
    # once a second, as on a network whose difficulty has adjusted to its miners.
    rules = PowRules(limit_bits=target_to_bits(2**256 // 2**20))
    miner_node = Node("miner", rules=rules, runtime=runtime, services=[Relay, BlockSync, Miner])
    peer = Node("peer", rules=rules, runtime=runtime, services=[Relay, BlockSync])
    miner_node.start()
    peer.start()
    try:
        peer.connect(miner_node)
        idle = statistics.median(pings(peer, 1.0))
        miner = miner_node.service(Miner)
        miner.start()
        miner_node.wait_until(lambda: miner.hashes > 0, timeout=30, what="the miner's worker hashes")
        busy = statistics.median(pings(peer, 1.0))
        miner_node.service(Miner).stop()
        blocks, hashes = miner_node.service(Miner).blocks_found, miner_node.service(Miner).hashes
    finally:
        peer.stop()
        miner_node.stop()
    print(f"ping while mining: {busy * 1000:.2f} ms against {idle * 1000:.2f} ms idle, ratio "
          f"{busy / idle:.2f} (goal 2 or less; {hashes:,} hashes and {blocks} blocks meanwhile)")
    return busy / idle


def main() -> None:
    print(f"course difficulty: bits {params.POW_LIMIT_BITS:#010x}, genesis {course_genesis().hash_hex[:12]}…")
    runtime = Runtime("bench-consensus")
    hash_rate()
    for depth in (10, 100):
        reorganisation(depth, runtime)
    ping_while_mining(runtime)
    runtime.close()


if __name__ == "__main__":
    main()
