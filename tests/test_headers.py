"""Header chains: linking, the most-work chain, locators, and what a node answers to getheaders."""

import pytest

from toycoin import params
from toycoin.block import BlockHeader, make_block
from toycoin.errors import ValidationError
from toycoin.headers import HeaderChain, fork_point, headers_after
from toycoin.pow import block_work
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.node import course_genesis
from toycoin.txindex import TREES_KEPT, TxIndex
from toycoin.wallet import Wallet

GENESIS = course_genesis()
MINER = PrivateKey.from_seed("miner").address


def chain_of(n, start=GENESIS.header, salt=0):
    """n headers on top of ``start``; ``salt`` makes a different branch."""
    headers, prev = [], start
    for i in range(n):
        header = BlockHeader(1, prev.hash, bytes(32), prev.timestamp + 600 + salt, params.BLOCK_BITS, i)
        headers.append(header)
        prev = header
    return headers


def test_headers_that_link_extend_the_chain():
    chain = HeaderChain(GENESIS.header)
    headers = chain_of(5)
    assert chain.add(headers) == 5
    assert chain.height == 5 and chain.tip == headers[-1]
    assert chain.header_at(3) == headers[2] and chain.height_of(headers[2].hash) == 3
    assert chain.add(headers) == 0  # already known
    assert chain.size_bytes == 6 * 80


def test_a_header_that_does_not_link_is_refused_and_the_ones_before_it_kept():
    chain = HeaderChain(GENESIS.header)
    good = chain_of(2)
    stray = BlockHeader(1, bytes(range(32)), bytes(32), 0, params.BLOCK_BITS, 0)
    with pytest.raises(ValidationError, match="does not link"):
        chain.add([*good, stray])
    assert chain.height == 2


def test_a_header_with_another_target_is_refused_until_proof_of_work():
    header = BlockHeader(1, GENESIS.hash, bytes(32), 0, 0x1D00FFFF, 0)
    with pytest.raises(ValidationError, match="has bits 0x1d00ffff; the difficulty rule asks for 0x207fffff"):
        HeaderChain(GENESIS.header).add([header])


def test_the_branch_with_more_work_becomes_best_and_a_tie_keeps_the_first():
    chain = HeaderChain(GENESIS.header)
    first = chain_of(3)
    chain.add(first)
    second = chain_of(3, salt=1)
    chain.add(second)
    assert chain.tip == first[-1] and chain.height_of(second[0].hash) is None
    chain.add(chain_of(1, start=second[-1]))
    assert chain.height == 4 and chain.header_at(1) == second[0]
    assert chain.height_of(first[0].hash) is None


def test_work_follows_bitcoins_formula():
    # Bitcoin's genesis target 0x1d00ffff: 2**256 // (target + 1) = 4295032833 hashes.
    assert block_work(0x1D00FFFF) == 4295032833
    assert block_work(params.BLOCK_BITS) == 2  # regtest's easiest target: one hash in two


def test_locator_is_short_and_ends_at_genesis():
    chain = HeaderChain(GENESIS.header)
    chain.add(chain_of(1000))
    locator = chain.locator()
    assert locator[0] == chain.tip.hash and locator[-1] == GENESIS.hash
    assert [chain.height_of(h) for h in locator[:14]] == [*range(1000, 989, -1), 989, 987, 983]
    assert len(locator) < 25


def test_headers_after_the_fork_point_and_the_limits():
    full = [GENESIS.header, *chain_of(30)]
    node = HeaderChain(GENESIS.header)
    node.add(full[1:])
    light = HeaderChain(GENESIS.header)
    light.add(full[1:11])
    assert fork_point(node, light.locator()) == 10
    assert headers_after(node, light.locator()) == full[11:]
    assert fork_point(node, [bytes(32)]) == 0
    assert headers_after(node, [bytes(32)]) == full[1:]  # nothing known: start after genesis
    assert headers_after(node, [GENESIS.hash], limit=5) == full[1:6]
    assert headers_after(node, [GENESIS.hash], stop_hash=full[3].hash) == full[1:4]
    assert headers_after(node, [full[-1].hash]) == []  # the sender is up to date


def test_txindex_finds_proves_and_forgets_undone_blocks():
    ledger = Ledger(GENESIS)
    index = TxIndex(ledger)
    alice = PrivateKey.from_seed("alice")
    tx = Wallet(alice).make_payment(ledger.unspent_for(alice.address), MINER, 10)
    block = ledger.seal_block([tx], MINER, GENESIS.header.timestamp + 600)
    height, found, position = index.find(tx.txid)
    assert (height, found, position) == (1, block, 1)
    _, _, proof, same_tx = index.prove(tx.txid)
    proof.verify(tx.txid, block.header.merkle_root)
    assert same_tx == tx
    ledger.undo_block()
    assert index.find(tx.txid) is None and index.prove(bytes(32)) is None
    assert index.find(GENESIS.txs[0].txid)[0] == 0
    # a different block at the same height is indexed afresh
    other = ledger.seal_block([], MINER, GENESIS.header.timestamp + 1200)
    assert index.find(other.txs[0].txid)[0] == 1 and index.find(tx.txid) is None


def test_txindex_keeps_the_trees_of_a_few_blocks_only():
    ledger = Ledger(GENESIS)
    index = TxIndex(ledger)
    start = GENESIS.header.timestamp
    blocks = [ledger.seal_block([], MINER, start + 600 * (i + 1)) for i in range(TREES_KEPT + 3)]
    for block in blocks:
        _, _, proof, _ = index.prove(block.txs[0].txid)
        proof.verify(block.txs[0].txid, block.header.merkle_root)
    assert list(index._trees) == [b.hash for b in blocks[-TREES_KEPT:]]
    index.prove(blocks[-TREES_KEPT].txs[0].txid)  # asked again: the most recent now
    assert list(index._trees)[-1] == blocks[-TREES_KEPT].hash and len(index._trees) == TREES_KEPT


def test_a_block_made_elsewhere_is_accepted_by_the_ledger():
    ledger = Ledger(GENESIS)
    block = ledger.seal_block([], MINER, GENESIS.header.timestamp + 600)
    other = Ledger(GENESIS)
    other.apply_block(block)
    assert other.tip_hash == block.hash
    with pytest.raises(ValidationError, match="does not build on the tip"):
        other.apply_block(make_block(bytes(32), list(block.txs), 0))


def test_fork_height_is_where_a_branch_meets_the_best_chain():
    tree = HeaderChain(GENESIS.header)
    best = chain_of(10)
    tree.add(best)
    side = chain_of(4, start=best[3], salt=9)  # forks after height 4: heights 5 to 8, less work
    tree.add(side)
    assert tree.tip == best[-1]
    assert tree.fork_height(side[-1].hash) == 4 and tree.fork_height(side[0].hash) == 4
    assert tree.fork_height(best[6].hash) == 7  # on the best chain: its own height
    assert tree.fork_height(GENESIS.hash) == 0


def test_fork_height_follows_a_reorganisation():
    tree = HeaderChain(GENESIS.header)
    best = chain_of(10)
    tree.add(best)
    side = chain_of(4, start=best[3], salt=9)  # heights 5 to 8
    tree.add(side)
    assert tree.fork_height(side[-1].hash) == 4 and tree.fork_height(best[-1].hash) == 10
    tree.add(chain_of(3, start=side[-1], salt=9))  # the side branch now has more work: the best chain
    assert tree.tip.prev_block_hash != best[-1].hash and tree.height == 11
    assert tree.fork_height(best[-1].hash) == 4, "an answer from before the reorganisation was kept"
    assert tree.fork_height(side[-1].hash) == 8
