"""Block sync: catching up after downtime, a new node joining, hostile peers, and two sealers."""

import pytest
from chains import MINER, grow

from toycoin.block import Block
from toycoin.keys import PrivateKey
from toycoin.network import Network
from toycoin.peer import Limits
from toycoin.sync import block_locator
from toycoin.tx import Tx, TxOut
from toycoin.wallet import Wallet
from toycoin.msg_data import BlockMessage
from toycoin.relay import Relay
from toycoin.sync import BlockSync

pytestmark = pytest.mark.timeout(60)

ALICE = PrivateKey.from_seed("alice")
BOB = PrivateKey.from_seed("bob").address
FAST = Limits(handshake_timeout=2.0, frame_timeout=2.0, block_timeout=0.5)


@pytest.fixture
def net():
    network = Network(["A", "B", "C"], wallet_names=(), services=[Relay, BlockSync],
                      miner_address=MINER.address, limits=FAST)
    network.start_all()
    network.mesh()
    yield network
    network.close()


def synced(network, names, height):
    return lambda: all(network[n].height == height for n in names)


def test_the_locator_is_dense_near_the_tip_and_sparse_towards_genesis(net):
    grow(net["A"], 40)
    net.runtime.wait_until(synced(net, "ABC", 40), 20, "everyone has 40 blocks")
    heights = [net["A"].ledger.height_of(h) for h in block_locator(net["A"].ledger)]
    # Bitcoin Core's CChain::GetLocator gives the same heights for a tip at 40
    assert heights == [40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 27, 23, 15, 0]


def test_a_node_that_was_down_catches_up_from_several_peers(net):
    c = net["C"]
    c.stop()
    grow(net["A"], 120)
    net.runtime.wait_until(synced(net, "AB", 120), 20, "A and B have 120 blocks")
    c.start()
    c.wait_until(lambda: c.height == 120, timeout=30, what="C caught up")
    senders = {e.peer for e in c.events if e.kind == "block applied"}
    assert senders == {"A", "B"}  # segmented: blocks came from both peers
    assert c.ledger.utxos == net["A"].ledger.utxos
    assert any(e.kind == "synced" for e in c.events)


def test_a_new_node_joins_and_gets_the_ledger_and_the_mempool(net):
    a = net["A"]
    grow(a, 30)
    tx = Wallet(ALICE).make_payment(a.ledger.unspent_for(ALICE.address), BOB, 10)
    a.submit_tx(tx)
    net.runtime.wait_until(lambda: synced(net, "ABC", 30)() and tx.txid in net["C"].mempool, 20, "settled")
    d = net.add_node("D")
    d.start()
    d.connect(net["C"])  # it knows one node; discovery finds the others
    d.wait_until(lambda: d.height == 30 and tx.txid in d.mempool, timeout=20, what="D has ledger and mempool")
    assert d.balance(BOB) == a.balance(BOB)


def tampered(block: Block) -> Block:
    """The same header, other transactions: the merkle root no longer matches."""
    coinbase = block.txs[0]
    return Block(block.header, (Tx(coinbase.inputs, (TxOut(1, BOB),)), *block.txs[1:]))


def test_a_peer_that_sends_invalid_blocks_is_dropped_and_the_sync_completes(net):
    a, b, c = net["A"], net["B"], net["C"]
    c.stop()
    grow(a, 80)
    b.wait_until(lambda: b.height == 80, what="B has the chain")

    def serve_forgeries(conn, hashes):
        for block_hash in hashes:
            conn.send(BlockMessage(tampered(b.ledger.block_at(b.ledger.height_of(block_hash)))))
        return []

    b.service(BlockSync).serve = serve_forgeries
    c.start()
    c.wait_until(lambda: c.height == 80, timeout=30, what="C synced despite B")
    assert c.ledger.utxos == a.ledger.utxos
    reasons = [e.detail for e in c.events if e.kind == "disconnected" and e.peer == "B"]
    assert any("sent an invalid block" in r and "merkle root" in r for r in reasons)
    assert {e.peer for e in c.events if e.kind == "block applied"} == {"A"}


def test_a_peer_that_announces_blocks_and_never_delivers_them_does_not_stall_the_sync(net):
    a, b, c = net["A"], net["B"], net["C"]
    c.stop()
    grow(a, 60)
    b.wait_until(lambda: b.height == 60, what="B has the chain")
    b.service(BlockSync).serve = lambda conn, hashes: []  # no block, no notfound: silence
    c.start()
    c.wait_until(lambda: c.height == 60, timeout=30, what="C synced despite B")
    reasons = [e.detail for e in c.events if e.kind == "disconnected" and e.peer == "B"]
    assert any("did not deliver block" in r for r in reasons)
    assert c.ledger.utxos == a.ledger.utxos


def test_two_sealers_at_once_leave_two_ledgers_that_disagree(net):
    a, b, c = net["A"], net["B"], net["C"]
    grow(a, 2)
    net.runtime.wait_until(synced(net, "ABC", 2), 20, "everyone at height 2")
    b.miner_address = PrivateKey.from_seed("another miner").address
    a_block, b_block = net.seal_together("A", "B")  # both seal height 3, neither has heard of the other
    assert a_block.hash != b_block.hash

    def heard(node):
        return any(e.kind == "block not applied" for e in node.events)

    net.runtime.wait_until(lambda: heard(a) and heard(b) and heard(c) and c.height == 3, 10,
                           "the blocks crossed")
    assert (a.height, b.height) == (3, 3) and a.ledger.tip_hash != b.ledger.tip_hash
    assert c.ledger.tip_hash in (a_block.hash, b_block.hash)
    # C, a follower, hears both; it takes one and refuses the other, even when both headers
    # came before either block (the one it refuses is then the one it is not fetching).
    c.sync_with_ping()
    assert [e.kind for e in c.events].count("block not applied") == 1
    refused = [e.detail for e in a.events if e.kind == "block not applied"]
    assert f"block {b_block.hash_hex[:12]}… does not build on my tip" in refused[0]


def test_blocks_are_relayed_hop_by_hop_to_a_node_that_only_knows_a_follower():
    with Network(["A", "B"], wallet_names=(), services=[Relay, BlockSync],
                 miner_address=MINER.address) as line:
        line.start_all()
        line.connect("B", "A")
        c = line.add_node("C", discover=False)  # C -- B -- A, and C never dials A
        c.start()
        c.connect(line["B"])
        grow(line["A"], 3)
        c.wait_until(lambda: c.height == 3, what="C got every block through B")
        assert c.peers == ("B",)
        assert {e.peer for e in c.events if e.kind == "block applied"} == {"B"}
