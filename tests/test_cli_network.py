"""Chapter 07's network from a terminal only: node processes, a wallet that pays, sealing.

What the README walks through, run here as the learner types it: two nodes
started with ``python -m toycoin node`` (one sealing every half second), a
payment made with ``python -m toycoin wallet ... pay``, and balances that
both nodes agree on once the block has gone round.
"""
import subprocess
import sys

import pytest

from toycoin.addrman import format_address
from toycoin.keys import PrivateKey
from toycoin.node import Node
from toycoin.process import NodeProcess
from toycoin.relay import Relay
from toycoin.runtime import Runtime
from toycoin.sync import BlockSync

pytestmark = pytest.mark.timeout(90)


def wallet(node, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "toycoin", "wallet", "--node", format_address(node.address), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


@pytest.fixture
def runtime():
    runtime = Runtime("test-cli")
    yield runtime
    runtime.close()


def test_a_terminal_only_network_pays_seals_and_agrees(runtime):
    # A is in this process only so that the test can wait on its state; it runs the same
    # services as `python -m toycoin node --sync`. B is a node process that seals.
    a = Node("A", services=[Relay, BlockSync], runtime=runtime)
    a.start()
    b = NodeProcess("B", runtime=runtime, peers=[a.address], sync=True, seal_every=0.5)
    try:
        b.start()
        a.wait_until(lambda: a.peers == ("B",), timeout=20, what="B has connected to A")
        paid = wallet(a, "pay", "alice", "bob", "5")
        assert paid.returncode == 0, paid.stderr
        assert paid.stdout.startswith("alice paid bob 5: txid ")
        # A relays the payment to B, B seals it within half a second, and A syncs B's block.
        a.wait_until(lambda: a.height == 1, timeout=20, what="B sealed the payment and A has the block")
        for node in (a, b):
            shown = wallet(node, "balance", "alice", "bob")
            assert shown.stdout == "alice 95\nbob 5\n", shown.stderr
        assert "B: sealed block 1 with 1 payment(s)" in b.log
    finally:
        b.kill()
        a.stop()


def test_wallet_errors_are_one_line_and_name_the_fix(runtime):
    a = NodeProcess("A", runtime=runtime, sync=True)
    a.start()
    try:
        refused = wallet(a, "pay", "bob", "alice", "5")  # Bob has nothing
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.startswith("python -m toycoin wallet: error: ")
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        to_address = wallet(a, "pay", "alice", PrivateKey.from_seed("carol").address, "1")
        assert to_address.returncode == 0, to_address.stderr
    finally:
        a.kill()
    down = wallet(a, "balance", "alice")
    assert down.returncode == 1 and "cannot reach node at 127.0.0.1:" in down.stderr
