"""Relay: a payment gossips to every node of a mesh, crossing to each node exactly once."""

import pytest

from toycoin.errors import ValidationError
from toycoin.keys import PrivateKey
from toycoin.network import Network
from toycoin.peer import Limits
from toycoin.wallet import Wallet
from toycoin.msg_data import Inv, InvItem, MSG_TX
from toycoin.relay import Relay
from toycoin.sync import BlockSync

pytestmark = pytest.mark.timeout(60)

ALICE = PrivateKey.from_seed("alice")
BOB = PrivateKey.from_seed("bob").address
CAROL = PrivateKey.from_seed("carol").address
NAMES = [f"n{i}" for i in range(10)]


@pytest.fixture
def mesh():
    net = Network(NAMES, wallet_names=(), services=[Relay, BlockSync])
    net.start_all()
    net.mesh(timeout=30)
    yield net
    net.close()


def received_txs(node):
    return [e for e in node.events if e.kind == "receive" and e.detail.startswith("tx(")]


def test_a_payment_reaches_every_node_of_a_ten_node_mesh_exactly_once(mesh):
    origin = mesh["n0"]
    tx = Wallet(ALICE).make_payment(origin.ledger.unspent_for(ALICE.address), BOB, 10)
    origin.submit_tx(tx)
    mesh.runtime.wait_until(lambda: all(tx.txid in mesh[n].mempool for n in NAMES), 20,
                            "every mempool holds the payment")
    for name in NAMES:
        mesh[name].sync_with_ping()  # any duplicate still on its way has arrived now
    assert received_txs(origin) == []  # it came from this node's own wallet
    for name in NAMES[1:]:
        assert len(received_txs(mesh[name])) == 1, f"{name} received the payment more than once"
    sent_inv = sum(1 for n in NAMES for e in mesh[n].events
                   if e.kind == "send" and e.detail.startswith("inv("))
    assert sent_inv <= len(NAMES) * (len(NAMES) - 1)  # at most one announcement per direction of a link


def test_a_sealed_payment_leaves_every_mempool(mesh):
    origin = mesh["n3"]
    origin.submit_tx(Wallet(ALICE).make_payment(origin.ledger.unspent_for(ALICE.address), BOB, 10))
    mesh.runtime.wait_until(lambda: all(len(mesh[n].mempool) == 1 for n in NAMES), 20, "gossip")
    mesh["n0"].seal()
    mesh.runtime.wait_until(lambda: all(mesh[n].height == 1 and not mesh[n].mempool for n in NAMES), 20,
                            "every node applied the block and emptied its mempool")
    assert {mesh[n].balance(BOB) for n in NAMES} == {10}


def test_invalid_and_conflicting_payments_are_refused_with_a_reason_and_not_relayed():
    with Network(["A", "B"], wallet_names=(), services=[Relay, BlockSync]) as net:
        net.start_all()
        net.mesh()
        a, b = net["A"], net["B"]
        coins = a.ledger.unspent_for(ALICE.address)
        first, conflicting = (Wallet(ALICE).make_payment(coins, to, 10) for to in (BOB, CAROL))
        a.submit_tx(first)
        with pytest.raises(ValidationError, match="conflicting spend"):
            a.submit_tx(conflicting)
        b.wait_until(lambda: first.txid in b.mempool, what="B got the first payment")
        with pytest.raises(ValidationError, match="conflicting spend"):
            b.submit_tx(conflicting)
        a.sync_with_ping()
        assert conflicting.txid not in a.mempool and conflicting.txid not in b.mempool
        assert [e.detail for e in b.events if e.kind == "tx rejected"][0].endswith("(a conflicting spend)")
        assert not any("inv" in e.detail and conflicting.txid_hex[:12] in e.detail
                       for e in b.events if e.kind == "send")


def test_a_peer_that_announces_a_payment_and_never_sends_it_only_delays_it():
    limits = Limits(tx_request_timeout=0.3)
    with Network(["A", "B", "liar"], wallet_names=(), services=[Relay, BlockSync], limits=limits) as net:
        net.start_all()
        net.mesh()
        a, b, liar = net["A"], net["B"], net["liar"]
        tx = Wallet(ALICE).make_payment(a.ledger.unspent_for(ALICE.address), BOB, 10)
        liar.service(Relay).serve = lambda conn, txids: []  # says it has the tx, never sends it
        liar.runtime.call(lambda: [c.send(Inv((InvItem(MSG_TX, tx.txid),))) for c in liar.live_connections()])
        a.sync_with_ping()
        b.sync_with_ping()  # both asked the liar, which sent nothing
        liar.submit_tx(tx)  # now the liar has it (and keeps it to itself), and so will B:
        b.submit_tx(tx)
        a.wait_until(lambda: tx.txid in a.mempool, timeout=10, what="A got it from B after the timeout")
