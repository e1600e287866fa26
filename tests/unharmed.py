"""After an attack on a node: is it alive, is its ledger as it was, and does an honest wallet
still get an answer within a few seconds? Shared by the hostile-peer tests."""

import time

from toycoin.client import WalletClient
from toycoin.keys import PrivateKey
from toycoin.node import Node

ALICE = PrivateKey.from_seed("alice")
HONEST_WAIT = 3.0  # seconds: "an honest wallet answered within a few seconds"


def ledger_of(node: Node) -> tuple:
    """(height, tip hash): what an attack must not change."""
    return node.runtime.call(lambda: (node.ledger.height, node.ledger.tip_hash))


def honest_wait(node: Node) -> float:
    """Seconds an honest wallet waits for Alice's balance (it must get it)."""
    started = time.monotonic()
    balance = WalletClient(ALICE, node.address, runtime=node.runtime, timeout=5.0).balance()
    assert balance == node.runtime.call(lambda: node.ledger.balance(ALICE.address))
    return time.monotonic() - started


def assert_unharmed(node: Node, ledger_before: tuple | None = None) -> None:
    """Alive, the ledger as it was (when ``ledger_before`` is given), an honest wallet answered."""
    assert node.is_running, f"{node.name} is down after the attack"
    if ledger_before is not None:
        assert ledger_of(node) == ledger_before, "the attack changed the ledger"
    assert honest_wait(node) < HONEST_WAIT, "an honest wallet waited too long"
