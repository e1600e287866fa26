"""SPV: a light wallet syncs headers, checks proofs, catches every forgery, and fails over."""

import pytest

from toycoin.encoding import sha256d
from toycoin.errors import NodeError, ParseError, ValidationError
from toycoin.headers import HeaderChain
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.liar import FORGERIES, ForgedProof, LyingNode, forge
from toycoin.merkle import MerkleProof
from toycoin.node import Node, course_genesis
from toycoin.peer import Limits
from toycoin.pow import COURSE_POW
from toycoin.process import NodeProcess
from toycoin.spv import LightClient, check_proof
from toycoin.tx import OutPoint
from toycoin.txindex import TxIndex
from toycoin.wallet import Wallet
from toycoin.msg_wallet import Proof

pytestmark = pytest.mark.timeout(60)

ALICE, BOB, CAROL = (PrivateKey.from_seed(s) for s in ("alice", "bob", "carol"))
MINER = PrivateKey.from_seed("miner").address
FAST = Limits(handshake_timeout=2.0, frame_timeout=2.0)


def build_blocks():
    """Block 1: Alice pays Bob 10. Block 2: three transactions, Alice pays Carol 5 then Bob 1."""
    ledger = Ledger(course_genesis())
    wallet = Wallet(ALICE)
    first = wallet.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10)
    ledger.seal_block([first], MINER, 1_300_000_000)
    second = wallet.make_payment(ledger.unspent_for(ALICE.address), CAROL.address, 5)
    third = wallet.make_payment([(OutPoint(second.txid, 1), second.outputs[1])], BOB.address, 1)
    ledger.seal_block([second, third], MINER, 1_300_000_600)
    return ledger, (first, second, third)


LEDGER, (PAY_BOB, PAY_CAROL, PAY_BOB_AGAIN) = build_blocks()
BLOCKS = LEDGER.blocks[1:]


@pytest.fixture
def cluster():
    """make(name, cls=Node, **options) -> a started node holding BLOCKS; all are killed at the end."""
    made = []

    def make(name, cls=Node, blocks=BLOCKS, **options):
        node = cls(name, limits=FAST, **options)
        node.start()
        for block in blocks:
            node.accept_block(block)
        made.append(node)
        return node

    yield make
    for node in made:
        node.kill()


def light(cluster_list, addresses, **options):
    client = LightClient(ALICE, addresses, name="alice", limits=FAST, timeout=2.0, **options)
    client.start()
    cluster_list.append(client)
    return client


@pytest.fixture
def clients():
    made = []
    yield made
    for client in made:
        client.stop()


# --- pure checks ------------------------------------------------------------------


def honest_reply(tx):
    block, height, proof, found = TxIndex(LEDGER).prove(tx.txid)
    return block, Proof(block.hash, height, proof, found)


def test_an_honest_proof_checks_against_the_header():
    chain = HeaderChain(course_genesis().header)
    chain.add(b.header for b in BLOCKS)
    for tx in (PAY_BOB, PAY_CAROL, PAY_BOB_AGAIN):
        block, reply = honest_reply(tx)
        proven = check_proof(chain, tx.txid, reply)
        assert proven.block_hash == block.hash and proven.tx == tx


@pytest.mark.parametrize("forgery", sorted(set(FORGERIES) - {"unlinked-header", "free-headers"}))
def test_every_forged_proof_is_refused_on_the_wire_or_by_the_check(forgery):
    chain = HeaderChain(course_genesis().header)
    chain.add(b.header for b in BLOCKS)
    # The duplicated leaf needs the last of an odd count: the third transaction of block 2.
    tx = PAY_BOB_AGAIN if forgery == "duplicate-leaf" else PAY_BOB
    block, reply = honest_reply(tx)
    fields = forge(forgery, reply.block_hash, reply.height, reply.proof, reply.tx,
                   [t.txid for t in block.txs])
    raw = ForgedProof(*fields).serialize()
    with pytest.raises((ParseError, ValidationError)) as caught:
        check_proof(chain, tx.txid, Proof.parse(raw))
    expected = {
        "sibling": "does not lead to", "flipped": "does not lead to",
        "index-out-of-range": "index 2 is out of range", "index-negative": "4294967295 is out of range",
        "short-hash": "", "long-branch": "longer than any block could need",
        "unknown-block": "no header of my best chain", "duplicate-leaf": "identical sibling",
    }[forgery]
    assert expected in str(caught.value)
    # A hash of the wrong length or a branch that is too long never gets past the parser.
    assert isinstance(caught.value, ParseError) == (forgery in ("short-hash", "long-branch"))


def test_a_negative_index_is_refused_even_before_the_wire():
    chain = HeaderChain(course_genesis().header)
    chain.add(b.header for b in BLOCKS)
    _, reply = honest_reply(PAY_BOB)
    forged = Proof(reply.block_hash, reply.height, MerkleProof(-1, 2, reply.proof.branch), reply.tx)
    with pytest.raises(ValidationError, match="out of range"):
        check_proof(chain, PAY_BOB.txid, forged)


def test_a_proof_for_another_transaction_or_height_is_refused():
    chain = HeaderChain(course_genesis().header)
    chain.add(b.header for b in BLOCKS)
    _, reply = honest_reply(PAY_BOB)
    with pytest.raises(ValidationError, match="another transaction"):
        check_proof(chain, PAY_CAROL.txid, reply)
    wrong_height = Proof(reply.block_hash, 2, reply.proof, reply.tx)
    with pytest.raises(ValidationError, match="claims height 2"):
        check_proof(chain, PAY_BOB.txid, wrong_height)


# --- over TCP -----------------------------------------------------------------------


def test_the_light_wallet_syncs_headers_and_proves_its_balance(cluster, clients):
    a = cluster("A")
    wallet = light(clients, [a.address])
    assert wallet.header_height == 2 and wallet.chain.tip == BLOCKS[-1].header
    assert wallet.balance() == 84 and wallet.proven_balance == 84
    proven = wallet.prove(PAY_CAROL.txid_hex)
    assert proven.height == 2 and proven.tx == PAY_CAROL
    assert wallet.prove(sha256d(b"never paid")[::-1].hex()) is None
    assert wallet.chain.size_bytes == 3 * 80


def test_a_light_wallet_that_joins_late_catches_up_on_headers(cluster, clients):
    ledger = Ledger(course_genesis())
    for i in range(2100):  # more than one headers message (2000) holds
        ledger.seal_block([], MINER, 1_300_000_000 + 600 * i)
    a = cluster("A", blocks=ledger.blocks[1:])
    wallet = light(clients, [a.address])
    assert wallet.header_height == 2100 and wallet.chain.tip == ledger.tip
    block = ledger.seal_block([], MINER, 1_400_000_000)  # sealed after the wallet synced
    a.accept_block(block)
    assert wallet.prove(block.txs[0].txid_hex).height == 2101  # it fetches the new header first


@pytest.mark.parametrize("forgery", sorted(set(FORGERIES) - {"free-headers"}))  # see the proof-of-work tests
def test_a_liar_is_caught_disconnected_and_the_next_node_asked(cluster, clients, forgery):
    liar, honest = cluster("A", cls=LyingNode, forgery=forgery), cluster("B")
    wallet = LightClient(ALICE, [liar.address, honest.address], name="alice", limits=FAST, timeout=2.0)
    clients.append(wallet)
    wallet.start(wait=False)
    wallet.wait_until(lambda: len(wallet.nodes) == 2 or "A" in wallet.banned, 5)
    assert wallet.balance() == 84
    assert set(wallet.banned) == {"A"} and wallet.node == "B"
    assert "A" not in wallet.nodes
    kinds = {e.kind for e in wallet.events}
    assert "caught lying" in kinds or any(e.detail.startswith("malformed") for e in wallet.events)


def test_without_proof_of_work_a_liar_hands_out_free_headers(cluster, clients):
    # The hole chapter 09 closes: on the network of chapters 03-08 a header costs nothing.
    liar = cluster("A", cls=LyingNode, forgery="free-headers")
    wallet = light(clients, [liar.address], discover=False)
    assert wallet.header_height == len(BLOCKS) + 5 and not wallet.banned


def test_with_proof_of_work_free_headers_are_refused_and_the_liar_banned(cluster, clients):
    honest = cluster("B", blocks=(), rules=COURSE_POW)
    for _ in range(3):
        honest.seal()  # finds each block's proof of work
    liar = cluster("A", cls=LyingNode, forgery="free-headers", blocks=honest.ledger.blocks[1:],
                   rules=COURSE_POW)
    wallet = LightClient(ALICE, [liar.address, honest.address], name="alice", limits=FAST, timeout=2.0,
                         rules=COURSE_POW)
    clients.append(wallet)
    wallet.start(wait=False)
    wallet.wait_until(lambda: "A" in wallet.banned, 5)
    assert wallet.sync_headers() == 3 and wallet.node == "B"
    assert wallet.balance() == 100
    assert "no proof of work" in wallet.banned["A"]


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_failover_when_the_node_it_asks_stops_or_dies(cluster, clients, how):
    a, b, c = cluster("A"), cluster("B"), cluster("C")
    b.connect(a)
    c.connect(a)
    wallet = light(clients, [a.address])  # knows A only, learns B and C from it
    wallet.wait_until(lambda: wallet.nodes == ("A", "B", "C"), 5, "the wallet has three nodes")
    assert wallet.node == "A"
    getattr(a, how)()
    wallet.wait_until(lambda: wallet.node not in (None, "A"), 5, "the wallet moved on")
    assert wallet.balance() == 84
    wallet.wait_until(lambda: wallet.nodes == ("B", "C"), 5, "the wallet has two nodes again")
    assert any(e.kind == "switched" for e in wallet.events)


def test_failover_when_its_node_is_a_process_killed_for_real(cluster, clients):
    b = cluster("B")
    process = NodeProcess("A", peers=[b.address])
    process.start()
    b.wait_until(lambda: "A" in b.peers, 10, "A and B are connected")  # so A's addr names B
    try:
        wallet = light(clients, [process.address])  # learns B from A
        wallet.wait_until(lambda: wallet.nodes == ("A", "B"), 5, "the wallet has two nodes")
        assert wallet.node == "A"
        process.kill()
        wallet.wait_until(lambda: wallet.node == "B", 5, "the wallet moved to B")
        assert wallet.balance() == 84
    finally:
        process.kill()


def test_the_fixed_address_wallet_is_stuck_and_says_so_until_its_node_returns(cluster, clients):
    a = cluster("A")
    wallet = light(clients, [a.address], discover=False)
    assert wallet.balance() == 84
    a.stop()
    with pytest.raises(NodeError, match="knows only one full node, A, and it does "
                                        "not answer \\(connection refused\\)"):
        wallet.balance()
    snapshot = wallet.snapshot()
    assert (snapshot.node, snapshot.connected, snapshot.nodes) == ("A", False, ())
    a.start()
    wallet.wait_until(lambda: wallet.node == "A", 5, "the wallet is back on A")
    assert wallet.balance() == 84


def test_a_network_shows_the_light_wallet_on_the_node_it_asks_and_its_move():
    from toycoin.diagrams import network_diagram
    from toycoin.network import Network
    from toycoin.widgets import status_text

    with Network(["A", "B"], limits=FAST) as net:
        net.start_all()
        net.connect("B", "A")
        for name in ("A", "B"):
            for block in BLOCKS:
                net[name].accept_block(block)
        seen = []
        net.subscribe(seen.append)
        wallet = net.attach(LightClient(ALICE, [net["A"].address], name="alice", limits=FAST, timeout=2.0))
        wallet.start()
        wallet.balance()
        wallet.wait_until(lambda: wallet.nodes == ("A", "B"), 5, "the wallet has two nodes")
        snapshot = net.snapshot()
        assert snapshot.light_wallets == (wallet.snapshot(),)
        assert "light wallet alice asks A (also connected to B): 3 headers, proven 84" in \
            network_diagram(snapshot).description
        assert "alice (light wallet): asks A, 3 headers, proven 84" in status_text(snapshot)
        net["A"].stop()
        wallet.wait_until(lambda: wallet.node == "B", 5, "the wallet moved to B")
        assert "light wallet alice asks B" in network_diagram(net.snapshot()).description
        assert any(e.node == "alice" and e.kind == "switched" for e in seen)
        assert any(e.node == "alice" for e in net.events())
    assert not wallet.is_running
