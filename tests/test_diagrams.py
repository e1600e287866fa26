"""Diagrams draw what the network really is, and explain themselves without `dot`."""
import re

import pytest

from toycoin import diagrams
from toycoin.block import make_genesis
from toycoin.diagrams import (DotNotFoundError, merkle_diagram, network_diagram, sequence_diagram,
                              tx_graph)
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.merkle import merkle_levels, merkle_parent
from toycoin.network import Network
from toycoin.wallet import Wallet

ALICE, BOB = PrivateKey.from_seed("alice"), PrivateKey.from_seed("bob")
NAMES = {ALICE.address: "alice", BOB.address: "bob"}


def paid_ledger():
    ledger = Ledger(make_genesis(ALICE.address, 100, 1231006505))
    payment = Wallet(ALICE).make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10)
    ledger.seal_block([payment], BOB.address, 1231007105)
    return ledger, payment


def test_tx_graph_marks_spent_and_unspent_outputs():
    ledger, payment = paid_ledger()
    txs = [tx for block in ledger.blocks for tx in block.txs]
    picture = tx_graph(txs, NAMES)
    svg = picture.svg()
    assert svg.count(">spent<") == 1  # the genesis output of 100
    assert svg.count(">unspent<") == 3  # bob 10, alice 90, and the new coinbase
    assert f"tx {payment.txid_hex[:8]}… (1 in): 10 to bob, 90 to alice" in picture.description


def test_missing_dot_shows_install_help_instead_of_a_traceback(monkeypatch):
    monkeypatch.setattr(diagrams.shutil, "which", lambda name: None)
    picture = sequence_diagram(["A", "B"], [("A", "B", "version")])
    bundle = picture._repr_mimebundle_()
    assert set(bundle) == {"text/plain"}
    assert "apt-get install graphviz" in bundle["text/plain"]
    with pytest.raises(DotNotFoundError, match="brew install graphviz"):
        picture.svg()


def test_sequence_diagram_keeps_message_order():
    picture = sequence_diagram(["A", "B"], [("B", "A", "version"), ("A", "B", "verack")])
    assert picture.description == "1. B -> A: version\n2. A -> B: verack"
    assert "version" in picture.svg()


def test_merkle_diagram_highlights_the_proof_path():
    leaves = [bytes([i]) * 32 for i in range(3)]
    level1 = [merkle_parent(leaves[0], leaves[1]), merkle_parent(leaves[2], leaves[2])]
    levels = [leaves, level1, [merkle_parent(*level1)]]
    picture = merkle_diagram(levels, ["tx0", "tx1", "tx2"], proof_index=2)
    # Leaf 2 is alone on its level, so its sibling is itself (Bitcoin's duplicate rule).
    assert picture.description.endswith("proof for leaf 2 carries 2 sibling hashes")
    svg = picture.svg()
    assert "#bbdefb" in svg and svg.count('fill="#ffe0b2"') == 2  # both siblings, the copy too
    assert "copy of tx2" in svg


def node_x(svg: str) -> dict[tuple[int, int], float]:
    """(level, index) -> x of the node's first text line, from merkle_diagram's node names."""
    pattern = r'<g id="node\d+" class="node">\s*<title>(\d+)&#45;(\d+)</title>.*?<text[^>]* x="([-\d.]+)"'
    found = re.findall(pattern, svg, re.DOTALL)
    return {(int(level), int(index)): float(x) for level, index, x in found}


@pytest.mark.parametrize("leaves", [2, 3, 5, 6, 8])
def test_merkle_diagram_keeps_every_level_in_order_left_to_right(leaves):
    # parent(a, b) != parent(b, a): a picture with two hashes swapped shows a different tree.
    levels = merkle_levels([bytes([i]) * 32 for i in range(leaves)])
    x = node_x(merkle_diagram(levels, [f"tx{i}" for i in range(leaves)], proof_index=leaves - 1).svg())
    for depth, level in enumerate(levels):
        drawn = len(level) + (len(level) % 2 if depth < len(levels) - 1 else 0)  # odd: plus a copy
        xs = [x[depth, i] for i in range(drawn)]
        assert xs == sorted(xs) and len(set(xs)) == drawn, f"level {depth} is out of order: {xs}"


@pytest.mark.timeout(60)
def test_network_diagram_from_live_nodes_shows_up_down_and_links():
    with Network(["A", "B", "C"]) as net:
        net.start_all()
        net.mesh()
        net.wallet("alice", "A")
        assert network_diagram(net.snapshot()).description.splitlines() == [
            "node A: up, height 0, alice 100, bob 0",
            "node B: up, height 0, alice 100, bob 0",
            "node C: up, height 0, alice 100, bob 0",
            "link A -- B", "link A -- C", "link B -- C",
            "wallet alice -> A",
        ]
        net["A"].stop()
        net.wait_settled()
        picture = network_diagram(net.snapshot())
        assert picture.description.splitlines() == [
            "node A: down",
            "node B: up, height 0, alice 100, bob 0",
            "node C: up, height 0, alice 100, bob 0",
            "link B -- C",
            "wallet alice -> A (no answer)",
        ]
        assert "no answer" in picture.svg()
