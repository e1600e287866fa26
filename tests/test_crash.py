"""Crash test: a node process killed with SIGKILL at random moments while it syncs never ends up
with a store that fails to open or disagrees with its peers.

A source node holds a chain of a few hundred blocks, each with a signed payment.
A second node runs as its own OS process with a data directory and syncs from it.
Fifty times: the source seals a few more blocks, the process starts, and after a
random delay it is killed with SIGKILL, in the middle of whatever it was doing
(often inside an SQLite commit). After each kill its store must open, pass its
integrity checks and hold a prefix of the source's chain. At the end the process
syncs to the tip, and its stored UTXO set must equal the source's, which was
never killed.

The randomness is seeded (TOYCOIN_CRASH_SEED) and the seed is printed, so a
failure can be replayed; the delays are the one place a test sleeps on purpose:
they are the random moments of the kills.
"""

import os
import random
import threading
import time

import pytest
from chains import MINER, grow

from toycoin.node import Node, course_genesis
from toycoin.process import NodeProcess
from toycoin.store import Store
from toycoin.relay import Relay
from toycoin.sync import BlockSync

pytestmark = pytest.mark.timeout(180)

SEED = int(os.environ.get("TOYCOIN_CRASH_SEED", "7"))
KILLS = 50
CHAIN = 300


def stored(data_dir):
    store = Store.open(data_dir, course_genesis())  # StoreError if damaged or inconsistent
    try:
        return store.height, store.tip_hash, store.utxos()
    finally:
        store.close()


def caught_up_since(source, seq, name="crashy"):
    """The process asked for the source's mempool after ``seq``: it has caught up (toycoin.sync)."""
    return lambda: any(e.seq > seq and e.kind == "receive" and e.peer == name and e.command == "mempool"
                       for e in source.events)


def seconds_per_block(source, tmp_path):
    """How long a process takes to sync one block here: the kills below aim inside a sync of that speed,
    whichever signature library verifies (toycoin.secp) and however fast the machine."""
    probe = NodeProcess("probe", peers=[source.address], data_dir=tmp_path / "probe", runtime=source.runtime)
    seq = source.events[-1].seq
    probe.start()
    started = time.monotonic()
    try:
        source.wait_until(caught_up_since(source, seq, "probe"), timeout=60, what="the probe caught up")
        return (time.monotonic() - started) / source.height
    finally:
        probe.kill()


def test_sigkill_at_random_moments_during_sync_never_damages_the_store(tmp_path):
    rng = random.Random(SEED)
    print(f"crash test: seed {SEED}, {KILLS} kills")
    source = Node("source", services=[Relay, BlockSync], miner_address=MINER.address)
    source.start()
    crashy = NodeProcess("crashy", peers=[source.address], data_dir=tmp_path / "crashy",
                         runtime=source.runtime)
    landed = {"before its first new block": 0, "mid-sync": 0, "after catching up": 0}
    try:
        grow(source, CHAIN)
        per_block = seconds_per_block(source, tmp_path)
        height = 0
        for _ in range(KILLS):
            grow(source, rng.randint(5, 25))
            target = source.height
            crashy.start()
            # About as long as the sync takes, so most kills land inside it.
            threading.Event().wait(rng.uniform(0.0, 0.01 + 1.5 * per_block * (target - height)))
            crashy.kill()
            new_height, tip, _ = stored(tmp_path / "crashy")
            assert tip == source.ledger.block_at(new_height).hash, "the store left the source's chain"
            assert new_height >= height, "the store lost blocks it had committed"
            kind = ("before its first new block" if new_height == height else
                    "after catching up" if new_height == target else "mid-sync")
            landed[kind] += 1
            height = new_height
        print("crash test: kills landed", landed)
        seq = source.events[-1].seq
        crashy.start()
        source.wait_until(caught_up_since(source, seq), timeout=60, what="the process caught up")
        crashy.stop()
        final_height, _, utxos = stored(tmp_path / "crashy")
        assert final_height == source.height
        assert utxos == source.ledger.utxos
        assert landed["mid-sync"] >= KILLS // 5, f"too few kills landed during a sync: {landed}"
    finally:
        crashy.kill()
        source.kill()
