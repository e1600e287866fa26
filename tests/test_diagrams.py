"""Diagrams draw what the network really is, and explain themselves without `dot`."""
import re

import pytest

from toycoin import picture as picture_module
from toycoin.block import make_genesis
from toycoin.blockdiagrams import chain_diagram, merkle_diagram
from toycoin.diagrams import network_diagram, sequence_diagram, tx_graph
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.merkle import merkle_levels, merkle_parent
from toycoin.network import Network
from toycoin.picture import DotNotFoundError
from toycoin.wallet import Wallet

ALICE, BOB = PrivateKey.from_seed("alice"), PrivateKey.from_seed("bob")
NAMES = {ALICE.address: "alice", BOB.address: "bob"}
MINER_A, MINER_B = PrivateKey.from_seed("A's miner").address, PrivateKey.from_seed("B's miner").address


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
    monkeypatch.setattr(picture_module.shutil, "which", lambda name: None)
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
    assert picture.description == ("level 0: 3 hashes / level 1: 2 hashes / level 2: 1 hash; "
                                   "proof for leaf 2 carries 2 sibling hashes")
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


def forked_ledgers():
    """A and B share block 1, then each seals its own block 2 on it: a fork."""
    genesis = make_genesis(ALICE.address, 100, 1231006505)
    a, b = Ledger(genesis), Ledger(genesis)
    b.apply_block(a.seal_block([], MINER_A, 1231007105))
    a.seal_block([], MINER_A, 1231007705)
    b.seal_block([], MINER_B, 1231007705)
    return a, b


def test_chain_diagram_draws_shared_blocks_once_and_a_fork_as_two_children():
    a, b = forked_ledgers()
    miners = {MINER_A: "A's miner", MINER_B: "B's miner"}
    picture = chain_diagram({"B": b, "A": a}, names=miners)
    genesis, shared = (a.block_at(h).hash_hex[:8] for h in (0, 1))
    tip_a, tip_b = a.tip_hash[::-1].hex()[:8], b.tip_hash[::-1].hex()[:8]
    assert picture.description.splitlines() == [
        f"block 0 {genesis}… genesis: on A, B",
        f"block 1 {shared}… sealed by A's miner: on A, B",
        f"block 2 {tip_a}… sealed by A's miner: on A",
        f"block 2 {tip_b}… sealed by B's miner: on B",
        f"tip of A: height 2, block {tip_a}…",
        f"tip of B: height 2, block {tip_b}…",
    ]
    svg = picture.svg()
    assert svg.count("height 1</text>") == 1  # shared: drawn once
    edges = re.findall(r"<title>block&#45;(\w+)&#45;&gt;block&#45;(\w+)</title>", svg)
    parent = a.block_at(1).hash_hex
    assert sorted(child[:8] for child, to in edges if to == parent) == sorted([tip_a, tip_b])  # the fork
    assert "sealed by B&#39;s miner" in svg
    tags = re.findall(r"<title>tip&#45;(\w+)&#45;&gt;block&#45;(\w+)</title>", svg)
    assert sorted((name, tip[:8]) for name, tip in tags) == [("A", tip_a), ("B", tip_b)]


def test_chain_diagram_goes_back_depth_blocks_and_marks_older_ones():
    a, _ = forked_ledgers()
    picture = chain_diagram({"A": a}, depth=1)
    assert picture.description.splitlines() == [
        f"block 2 {a.block_at(2).hash_hex[:8]}… sealed by {MINER_A[:8]}…: on A",
        f"tip of A: height 2, block {a.block_at(2).hash_hex[:8]}…",
    ]
    assert "earlier&#45;" in picture.svg()  # an arrow to "…": the chain goes on


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


def test_link_diagram_shows_a_mismatched_root_a_broken_link_and_the_blocks_cut_off():
    from test_tamper import FORGED, HONEST, RECOMMITTED

    from toycoin.blockdiagrams import link_diagram
    from toycoin.tamper import ChainCopy, reseal

    text = link_diagram({"A": HONEST, "M": HONEST.with_block(2, FORGED)}).description.splitlines()
    assert text[0].startswith("A: 0:") and text[0].endswith(": every link holds")
    assert text[1].endswith(": block 2's root does not match its transactions")
    broken = link_diagram({"A": HONEST, "M": HONEST.with_block(2, RECOMMITTED)})
    assert " x- 3:" in broken.description
    assert broken.description.endswith("block 3's link is broken; blocks 3-6 are cut off from genesis")
    assert "✗" in broken.graph.source and "#ffe0b2" in broken.graph.source  # the red arrow, orange blocks
    mended = link_diagram({"A": HONEST, "M": ChainCopy(reseal(HONEST.with_block(2, RECOMMITTED).blocks, 3))})
    assert mended.description.splitlines()[1].endswith(": every link holds")
    assert mended.graph.source.count("#bbdefb") == 5  # blocks 2 to 6 of M differ from A's
def test_a_light_wallet_shows_the_node_it_banned():
    from toycoin.events import LightSnapshot, NodeSnapshot
    from toycoin.network import NetworkSnapshot

    nodes = tuple(NodeSnapshot(name, True, 3, "", (), (), False) for name in ("B", "M"))
    light = LightSnapshot("alice v3", "B", True, ("B",), 3, 31, ("M",))
    picture = network_diagram(NetworkSnapshot(nodes, (), (), (light,)))
    assert "light wallet alice v3 asks B: 4 headers, proven 31; banned M" in picture.description
    assert "banned: lied" in picture.graph.source and "arrowhead=tee" in picture.graph.source


def test_one_network_keeps_one_layout_whoever_is_down():
    from toycoin.diagrams import node_positions

    with Network(["A", "B", "C"]) as net:
        net.start_all()
        net.mesh()
        net.wallet("alice", "B")
        before = network_diagram(net.snapshot()).graph.source
        net["A"].stop()
        net.wait_settled()
        after = network_diagram(net.snapshot()).graph.source

    def pinned(source):
        return sorted(re.findall(r'"(node-\w+)" \[[^]]*?pos="([^"]+)"', source))

    assert pinned(before) == pinned(after) and len(pinned(before)) == 3
    places = node_positions(["A", "B"])
    assert places["A"][0] < places["B"][0] and places["A"][1] == places["B"][1]  # A left, as in charts
    assert node_positions(["hub", "s1", "s2", "s3", "s4", "s5"], centre="hub")["hub"] == (0.0, 0.0)


def test_network_diagram_shows_a_partition_as_coloured_groups_and_cut_edges():
    from toycoin.events import NodeSnapshot
    from toycoin.network import NetworkSnapshot

    def node(name, alive=True):
        return NodeSnapshot(name, alive, 1, "00" * 32, (), (), False)

    whole = NetworkSnapshot((node("A"), node("B"), node("C"), node("D", alive=False)), (("A", "B"),), ())
    split = NetworkSnapshot(whole.nodes, whole.links, (), (), groups=(("A", "B"), ("C", "D")))
    assert "cut" not in network_diagram(whole).description
    picture = network_diagram(split)
    assert picture.description.splitlines()[-1] == "split into A, B | C, D: no connection between the groups"
    source = picture.graph.source
    # A-C and B-C are cut; D is down, so no cut is drawn to it; A and B (one group) keep their link.
    cuts = [line.strip().split(" [")[0].replace('"', "")
            for line in source.splitlines() if "#c62828" in line and "dotted" in line]
    assert cuts == ["node-A -- node-C", "node-B -- node-C"]
    assert "#fff3e0" in source  # C's group has a colour of its own
