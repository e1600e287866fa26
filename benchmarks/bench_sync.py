"""Sync benchmark: catching up from peers against applying locally, and how fast gossip spreads.

Run it with ``python benchmarks/bench_sync.py``. It prints figures from one run
on this machine; compare the ratios, not absolute times, across machines.

1. Catch-up: a fresh node downloads and applies 1,000 blocks (each with one
   signed payment) from peers that have them, headers first and in segments
   from several peers at once. Divided by the time to validate and apply the
   same blocks straight into a ledger, parsed from their bytes so no cached
   txid or signature digest helps (goal: 1.3 or less). Measured twice: with the
   peers in this process (one network thread serves and syncs, so every byte
   is paid for twice on one core) and with the peers as two OS processes that
   load the chain from data directories (as on real, separate machines).
2. Gossip: the time for one payment to reach every mempool of a 10-node and of
   a 50-node mesh, divided by the time of a single hop between two nodes
   (medians of several payments).

This is a script, not a test: timings vary with the machine and its load.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from chains import MINER, PAYEES, grow  # noqa: E402  (the tests' chain of signed payments)

from toycoin.block import Block  # noqa: E402
from toycoin.ledger import Ledger  # noqa: E402
from toycoin.network import Network  # noqa: E402
from toycoin.node import Node  # noqa: E402
from toycoin.process import NodeProcess  # noqa: E402
from toycoin.store import Store  # noqa: E402
from toycoin.wallet import Wallet  # noqa: E402
from toycoin.relay import Relay  # noqa: E402
from toycoin.sync import BlockSync  # noqa: E402

BLOCKS = 1000
GOSSIP_ROUNDS = 5


def local_apply_seconds(blocks: list[Block]) -> float:
    fresh = [Block.parse(block.serialize()) for block in blocks[1:]]
    ledger = Ledger(blocks[0])
    started = time.perf_counter()
    for block in fresh:
        ledger.apply_block(block)
    return time.perf_counter() - started


def catch_up_seconds(peers: list) -> float:
    node = Node("newcomer", services=[Relay, BlockSync])
    node.start()
    started = time.perf_counter()
    for peer in peers:
        node.connect(peer, wait=False)
    node.wait_until(lambda: node.height == BLOCKS, timeout=300, what="the newcomer caught up")
    elapsed = time.perf_counter() - started
    node.stop()
    return elapsed


def processes_with_the_chain(blocks: list[Block], count: int, root: Path) -> list[NodeProcess]:
    ledger = Ledger(blocks[0])
    stores = [Store.open(root / f"peer{i}", blocks[0]) for i in range(count)]
    for block in blocks[1:]:
        ledger.apply_block(block)
        for store in stores:
            store.append(block, ledger.undo_at(ledger.height))
    for store in stores:
        store.close()
    peers = [NodeProcess(f"peer{i}", data_dir=root / f"peer{i}") for i in range(count)]
    for peer in peers:
        peer.start()
    return peers


def bench_catch_up() -> None:
    source = Node("source", services=[Relay, BlockSync], miner_address=MINER.address)
    source.start()
    grow(source, BLOCKS)
    blocks = source.ledger.blocks
    local = local_apply_seconds(blocks)
    print(f"validate and apply {BLOCKS} blocks locally: {local:.2f} s")
    helper = Node("helper", services=[Relay, BlockSync])
    helper.start()
    helper.connect(source)
    helper.wait_until(lambda: helper.height == BLOCKS, timeout=300, what="the helper has the chain")
    in_process = catch_up_seconds([source, helper])
    print(f"catch up from 2 peers in this process: {in_process:.2f} s, ratio {in_process / local:.2f}")
    source.stop()
    helper.stop()
    with tempfile.TemporaryDirectory() as root:
        peers = processes_with_the_chain(blocks, 2, Path(root))
        try:
            separate = catch_up_seconds(peers)
        finally:
            for peer in peers:
                peer.stop()
    print(f"catch up from 2 peer processes:        {separate:.2f} s, ratio {separate / local:.2f}")


def gossip_seconds(size: int) -> float:
    """Median seconds from submitting a payment to one node until every mempool holds it."""
    names = [f"n{i}" for i in range(size)]
    with Network(names, wallet_names=(), services=[Relay, BlockSync], miner_address=MINER.address) as net:
        net.start_all()
        net.mesh(timeout=120)
        origin = net[names[0]]
        grow(origin, GOSSIP_ROUNDS + 1)  # coins for the payments below
        net.runtime.wait_until(lambda: all(net[n].height == origin.height for n in names), 60, "synced")
        coins = origin.ledger.unspent_for(MINER.address)
        times = []
        for coin in coins[:GOSSIP_ROUNDS]:
            tx = Wallet(MINER).make_payment([coin], PAYEES[0], 1)
            started = time.perf_counter()
            origin.submit_tx(tx)
            net.runtime.wait_until(lambda tx=tx: all(tx.txid in net[n].mempool for n in names), 60, "gossip")
            times.append(time.perf_counter() - started)
        return statistics.median(times)


def bench_gossip() -> None:
    hop = gossip_seconds(2)
    print(f"one hop (2 nodes): {hop * 1000:.1f} ms")
    for size in (10, 50):
        elapsed = gossip_seconds(size)
        print(f"{size}-node mesh: {elapsed * 1000:.1f} ms to reach every node, "
              f"ratio {elapsed / hop:.1f} hops")


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}; chain of {BLOCKS} blocks, one signed payment each")
    bench_catch_up()
    bench_gossip()
