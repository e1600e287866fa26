"""Tamper: an edited old block shows from that block on; re-sealing mends every link, fast.

The network tests run real nodes over loopback: a node that syncs from a
tampering node refuses its headers or its block, a peer drops it, a light
wallet catches its proof, and a re-sealed chain is accepted by a newcomer.
"""

import time

import pytest

from toycoin.block import Block, BlockHeader
from toycoin.errors import NodeError, ValidationError
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.node import Node, course_genesis
from toycoin.peer import Limits
from toycoin.relay import Relay
from toycoin.spv import LightClient
from toycoin.sync import BlockSync
from toycoin.tamper import (ChainCopy, TamperingNode, broken_links, change_amount, merkle_mismatches,
                            recommit, reseal, validate_chain)
from toycoin.wallet import Wallet

pytestmark = pytest.mark.timeout(60)

ALICE, MALLORY, BOB = (PrivateKey.from_seed(s) for s in ("alice", "mallory", "bob"))
MINER = PrivateKey.from_seed("miner").address
FAST = Limits(handshake_timeout=2.0, frame_timeout=2.0)


def story_chain(extra: int = 4) -> Ledger:
    """Chapter 08's chain: Alice pays Mallory 40; Mallory pays Bob 30 (block 2); Alice pays Bob 1 a block."""
    ledger = Ledger(course_genesis())

    def pay(key, to, amount):
        tx = Wallet(key).make_payment(ledger.unspent_for(key.address), to, amount)
        ledger.seal_block([tx], MINER, ledger.tip.timestamp + 600)

    pay(ALICE, MALLORY.address, 40)
    pay(MALLORY, BOB.address, 30)
    for _ in range(extra):
        pay(ALICE, BOB.address, 1)
    return ledger


LEDGER = story_chain()
HONEST = ChainCopy(LEDGER.blocks)
FORGED = change_amount(HONEST, 2, 1, 0, 3, key=MALLORY)  # Bob gets 3, not 30; the header is unchanged
RECOMMITTED = recommit(FORGED)


def test_an_honest_chain_has_no_broken_link_and_validates():
    assert broken_links(HONEST) == [] and merkle_mismatches(HONEST) == []
    assert validate_chain(HONEST.blocks).balance(BOB.address) == 34


def test_changing_an_amount_changes_the_txid_but_not_the_header():
    assert FORGED.txs[1].outputs[0].amount == 3
    assert FORGED.txs[1].txid != HONEST.block_at(2).txs[1].txid
    assert FORGED.hash == HONEST.hash_at(2)
    assert merkle_mismatches(HONEST.with_block(2, FORGED)) == [2]
    with pytest.raises(ValidationError, match="merkle root in the header does not match"):
        validate_chain(HONEST.with_block(2, FORGED).blocks)


def test_the_payer_can_sign_again_but_nobody_else_can():
    unsigned = change_amount(HONEST, 2, 1, 0, 3)  # the old signature no longer matches
    ledger = Ledger(course_genesis())
    ledger.apply_block(HONEST.block_at(1))
    with pytest.raises(ValidationError, match="signature does not match"):
        ledger.apply_block(recommit(unsigned))
    ledger.apply_block(RECOMMITTED)  # Mallory's own key signs it again: a valid block
    with pytest.raises(ValidationError, match="does not build on the tip"):
        ledger.apply_block(HONEST.block_at(3))


def test_recommitting_changes_the_hash_and_breaks_the_next_link_only():
    assert RECOMMITTED.hash != HONEST.hash_at(2)
    tampered = HONEST.with_block(2, RECOMMITTED)
    assert broken_links(tampered) == [3] and merkle_mismatches(tampered) == []
    with pytest.raises(ValidationError, match="block 3: block does not build on the tip"):
        validate_chain(tampered.blocks)


def test_resealing_mends_every_link_keeps_the_txs_and_passes_every_rule():
    tampered = HONEST.with_block(2, RECOMMITTED)
    rewritten = reseal(tampered.blocks, start=3)
    assert broken_links(ChainCopy(rewritten)) == []
    assert rewritten[:3] == list(tampered.blocks[:3])
    assert [b.txs for b in rewritten] == [b.txs for b in tampered.blocks]
    assert all(a.hash != b.hash for a, b in zip(rewritten[2:], HONEST.blocks[2:], strict=True))
    assert validate_chain(rewritten).balance(BOB.address) == 3 + 4


def test_resealing_fifty_blocks_takes_well_under_a_second():
    chain = ChainCopy(story_chain(extra=50).blocks)
    tampered = chain.with_block(2, recommit(change_amount(chain, 2, 1, 0, 3, key=MALLORY)))
    started = time.perf_counter()
    rewritten = reseal(tampered.blocks, start=3)
    took = time.perf_counter() - started
    print(f"re-sealed {len(rewritten) - 3} blocks in {took * 1000:.2f} ms")
    assert broken_links(ChainCopy(rewritten)) == [] and took < 1.0


def test_change_amount_names_what_does_not_exist():
    with pytest.raises(IndexError, match="transactions 0 to 1, not 5"):
        change_amount(HONEST, 2, 5, 0, 3)
    with pytest.raises(IndexError, match="outputs 0 to 1, not 7"):
        change_amount(HONEST, 2, 1, 7, 3)
    with pytest.raises(IndexError, match="no block at height 9"):
        change_amount(HONEST, 9, 1, 0, 3)


def test_a_chain_copy_reads_like_a_ledger():
    assert HONEST.height == LEDGER.height and HONEST.tip_hash == LEDGER.tip_hash
    assert HONEST.height_of(LEDGER.hash_at(4)) == 4 and HONEST.height_of(bytes(32)) is None
    assert HONEST.header_at(3) == LEDGER.header_at(3)
    with pytest.raises(ValueError):
        ChainCopy([])


# --- over loopback ---------------------------------------------------------------------

@pytest.fixture
def nodes():
    made = []

    def make(name, cls=Node, **options):
        node = cls(name, services=[Relay, BlockSync], discover=False, limits=FAST, **options)
        node.start()
        made.append(node)
        return node

    yield make
    for node in made:
        node.kill()


def tamperer(make) -> TamperingNode:
    m = make("M", cls=TamperingNode)
    for block in LEDGER.blocks[1:]:
        m.accept_block(block)
    return m


def first_refusal(node: Node, peer: str) -> str:
    node.wait_until(lambda: any(e.kind == "disconnected" and e.peer == peer for e in node.events),
                    timeout=10, what=f"{node.name} drops {peer}")
    return next(e.detail for e in node.events if e.kind == "disconnected" and e.peer == peer)


def test_a_new_node_refuses_a_block_that_does_not_match_its_header(nodes):
    m = tamperer(nodes)
    m.serve_chain(HONEST.with_block(2, FORGED).blocks)
    n = nodes("N")
    n.connect(m, wait=False)
    reason = first_refusal(n, "M")
    assert reason.startswith("sent an invalid block") and "merkle root in the header does not match" in reason
    assert n.height == 1


def test_a_new_node_refuses_headers_that_do_not_link(nodes):
    m = tamperer(nodes)
    m.serve_chain(HONEST.with_block(2, RECOMMITTED).blocks)
    assert m.chain.hash_at(2) == RECOMMITTED.hash and m.ledger.hash_at(2) == HONEST.hash_at(2)
    n = nodes("N")
    n.connect(m, wait=False)
    assert first_refusal(n, "M") == "headers that do not form a chain"
    assert n.height == 0


def test_a_peer_that_is_told_of_a_broken_chain_drops_the_tamperer(nodes):
    m = tamperer(nodes)
    a = nodes("A")
    for block in LEDGER.blocks[1:]:
        a.accept_block(block)
    m.connect(a)
    m.serve_chain(HONEST.with_block(2, RECOMMITTED).blocks)
    m.announce()
    assert first_refusal(a, "M") == "headers that do not form a chain"
    assert a.ledger.hash_at(2) == HONEST.hash_at(2)


def test_a_light_wallet_catches_a_proof_against_the_edited_block(nodes):
    m = tamperer(nodes)
    m.serve_chain(HONEST.with_block(2, FORGED).blocks)
    wallet = LightClient(BOB, [m.address], name="bob", discover=False, runtime=m.runtime)
    try:
        wallet.start()
        assert wallet.header_height == 6
        with pytest.raises(NodeError, match="knows no full node that is not banned"):
            wallet.prove(FORGED.txs[1].txid_hex)
        assert wallet.banned == {"M": "Merkle proof does not lead to the block's merkle root"}
    finally:
        wallet.stop()


def test_a_new_node_accepts_a_resealed_chain_and_an_old_one_sees_a_branch(nodes):
    m = tamperer(nodes)
    rewritten = reseal(HONEST.with_block(2, RECOMMITTED).blocks, start=3)
    m.serve_chain(rewritten)
    d = nodes("D")
    d.connect(m)
    d.wait_until(lambda: d.height == 6, timeout=10, what="D synced from M")
    assert d.ledger.tip_hash == rewritten[-1].hash and d.balance(BOB.address) == 7
    a = nodes("A")
    for block in LEDGER.blocks[1:]:
        a.accept_block(block)
    a.connect(m)
    a.wait_until(lambda: any(e.kind == "block not applied" and e.peer == "M" for e in a.events),
                 timeout=10, what="A heard of M's branch")
    assert a.ledger.tip_hash == LEDGER.tip_hash and a.balance(BOB.address) == 34


def test_serve_chain_refuses_another_genesis(nodes):
    m = tamperer(nodes)
    other = Block(BlockHeader(1, bytes(32), bytes(32), 0, 0, 0), HONEST.block_at(0).txs)
    with pytest.raises(ValidationError, match="starts at this node's genesis"):
        m.serve_chain([other])
