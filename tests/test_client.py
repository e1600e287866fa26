"""WalletClient: Alice pays Bob over TCP, asks her balance, and hears why a payment is refused."""

import pytest

from toycoin.client import WalletClient
from toycoin.errors import NodeError, ValidationError
from toycoin.keys import PrivateKey
from toycoin.network import Network
from toycoin.node import Node
from toycoin.wallet import Wallet

pytestmark = pytest.mark.timeout(60)

ALICE = PrivateKey.from_seed("alice")
BOB = PrivateKey.from_seed("bob")


@pytest.fixture
def nodes():
    a, b = Node("A"), Node("B")
    a.start()
    b.start()
    b.connect(a)
    yield a, b
    a.kill()
    b.kill()


def test_alice_pays_bob_through_one_node_and_the_other_never_hears_of_it(nodes):
    a, b = nodes
    alice = WalletClient(ALICE, a.address, name="alice")
    assert alice.balance() == 100
    txid_hex = alice.pay(BOB.address, 10)
    assert a.ledger.block_at(1).txs[1].txid_hex == txid_hex
    assert alice.balance() == 90
    assert WalletClient(BOB, a.address).balance() == 10
    alice.node_address = b.address  # same wallet, other node: it never saw the payment
    assert alice.balance() == 100


def test_the_wallet_session_is_a_light_handshake_then_the_request(nodes):
    a, _ = nodes
    alice = WalletClient(ALICE, a.address, name="alice")
    alice.pay(BOB.address, 10)
    sent = [e.detail for e in alice.events if e.kind == "send"]
    assert sent[0] == "version(name='alice', height=0, wallet)"
    assert sent[1:4] == ["verack()", f"getutxos({ALICE.address})", sent[3]]
    assert sent[3].startswith("tx(") and sent[4] == "ping(nonce=1)"
    assert a.peers == ("B",)  # a wallet is not a peer that relays
    assert any(e.kind == "connected" and e.detail == "inbound wallet" for e in a.events)


def test_a_refused_payment_carries_the_nodes_reason(nodes):
    a, _ = nodes
    alice = WalletClient(ALICE, a.address)
    stale = alice.unspent()
    alice.pay(BOB.address, 10)
    double_spend = Wallet(ALICE).make_payment(stale, BOB.address, 5)  # coins already spent
    with pytest.raises(ValidationError, match="node refused the payment: .*already spent"):
        alice.send_tx(double_spend)
    assert a.height == 1
    assert any(e.detail.startswith("reject(") for e in a.events if e.kind == "send")


def test_a_transaction_built_offline_can_be_sent(nodes):
    a, _ = nodes
    tx = Wallet(ALICE).make_payment(a.ledger.unspent_for(ALICE.address), BOB.address, 30, fee=2)
    assert WalletClient(ALICE, a.address).send_tx(tx) == tx.txid_hex
    assert a.balance(BOB.address) == 30 and a.balance(a.miner_address) == 52


def test_not_enough_coins_is_refused_before_anything_is_sent(nodes):
    a, _ = nodes
    with pytest.raises(ValidationError, match="not enough coins: has 100, needs 1000"):
        WalletClient(ALICE, a.address).pay(BOB.address, 1000)
    assert a.height == 0


def test_a_node_that_is_down_is_a_clear_error(nodes):
    a, _ = nodes
    alice = WalletClient(ALICE, a.address)
    a.stop()
    refused = r"cannot reach node at 127\.0\.0\.1:\d+: connection refused — is it running\?"
    with pytest.raises(NodeError, match=refused):
        alice.balance()
    a.start()
    assert alice.balance() == 100


def test_a_wallet_of_a_network_names_its_node_when_it_is_down():
    with Network(["server"]) as net:
        net.start_all()
        alice = net.wallet("alice", "server")
        net["server"].stop()
        refused = r"^cannot reach node server: connection refused — is it running\?$"
        with pytest.raises(NodeError, match=refused):
            alice.balance()


def test_probe_reports_height_tip_balances_and_peers(nodes):
    a, b = nodes
    WalletClient(ALICE, a.address).pay(BOB.address, 10)
    report = WalletClient(ALICE, a.address).probe([ALICE.address, BOB.address])
    assert report.height == 1 and report.tip_hex == a.ledger.tip.hash_hex
    assert report.balances == ((ALICE.address, 90), (BOB.address, 10))
    assert report.peers == (b.address,)
