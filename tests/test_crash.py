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
from branches import BranchServer, branch
from chains import MINER, grow

from toycoin.node import Node, course_genesis
from toycoin.pow import COURSE_POW
from toycoin.process import NodeProcess
from toycoin.store import Store
from toycoin.relay import Relay
from toycoin.runtime import Runtime
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
            threading.Event().wait(rng.uniform(0.0, 0.01 + per_block * (target - height)))
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
        assert landed["mid-sync"] >= KILLS // 10, f"too few kills landed during a sync: {landed}"
    finally:
        crashy.kill()
        source.kill()


REORG_KILLS = 50


def test_sigkill_during_reorganisations_never_damages_the_store(tmp_path):
    """Two branches from genesis, each served in turn and each heavier than the last one served:
    every start of the process is a reorganisation, and it is killed at a random moment in it."""
    rng = random.Random(SEED)
    runtime = Runtime("crash-reorg")
    branches = {0: branch(8, salt=1), 1: branch(10, salt=2)}
    landed = {"old branch": 0, "part of the new branch": 0, "new branch": 0}
    try:
        switch = seconds_to_switch(runtime, tmp_path / "probe", branches)
        for kill in range(REORG_KILLS):
            side = kill % 2
            branches[side] = branch(len(branches[1 - side]) + 2, salt=side + 1, base=branches[side])
            served = branches[side]
            server = BranchServer(f"branch{side}", served, runtime=runtime)
            server.start()
            crashy = NodeProcess("crashy", peers=[server.address], data_dir=tmp_path / "crashy", pow=True,
                                 runtime=runtime)
            try:
                crashy.start()
                threading.Event().wait(rng.uniform(0.0, 1.5 * switch))  # aimed inside the switch
                crashy.kill()
            finally:
                server.stop()
            height, tip, _ = stored_pow(tmp_path / "crashy")
            other = branches[1 - side]
            on_new = height <= len(served) and (height == 0 or tip == served[height - 1].hash)
            on_old = height <= len(other) and (height == 0 or tip == other[height - 1].hash)
            assert on_new or on_old, f"kill {kill}: the store's tip is on neither branch"
            done = on_new and height == len(served)
            kind = "new branch" if done else "old branch" if on_old else "part of the new branch"
            landed[kind] += 1
        print("crash test: reorganisation kills landed", landed)
        heavier = max(branches.values(), key=len)
        server = BranchServer("final", heavier, runtime=runtime)
        server.start()
        crashy = NodeProcess("crashy", peers=[server.address], data_dir=tmp_path / "crashy", pow=True,
                             runtime=runtime)
        try:
            crashy.start()
            deadline = time.monotonic() + 60
            while stored_pow(tmp_path / "crashy")[0] < len(heavier) and time.monotonic() < deadline:
                threading.Event().wait(0.1)  # a process outside this runtime: polled, bounded
            crashy.stop()
        finally:
            server.stop()
            crashy.kill()
        height, tip, _ = stored_pow(tmp_path / "crashy")
        assert (height, tip) == (len(heavier), heavier[-1].hash)
        assert landed["old branch"] >= REORG_KILLS // 5, f"too few kills landed before a switch: {landed}"
    finally:
        runtime.close()


def seconds_to_switch(runtime, data_dir, branches):
    """How long a process takes, from listening, to switch its store from one branch to the other."""
    for side in (0, 1):
        server = BranchServer("probe", branches[side], runtime=runtime)
        server.start()
        probe = NodeProcess("probe", peers=[server.address], data_dir=data_dir, pow=True, runtime=runtime)
        try:
            probe.start()
            started, deadline = time.monotonic(), time.monotonic() + 60
            while stored_pow(data_dir)[1] != branches[side][-1].hash and time.monotonic() < deadline:
                threading.Event().wait(0.005)  # a process outside this runtime: polled, bounded
            elapsed = time.monotonic() - started
        finally:
            probe.kill()
            server.stop()
    return elapsed


def stored_pow(data_dir):
    store = Store.open(data_dir, course_genesis())  # StoreError if damaged or inconsistent
    try:
        store.load(COURSE_POW)  # every stored block checks out on the proof-of-work network
        return store.height, store.tip_hash, store.utxos()
    finally:
        store.close()
