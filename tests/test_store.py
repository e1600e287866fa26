"""Store: a node's ledger in a data directory, one atomic commit per block, checked when opened."""

import sqlite3

import pytest
from chains import MINER, grow

from toycoin.block import make_genesis
from toycoin.errors import StoreError
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.node import Node, course_genesis
from toycoin.store import FILE_NAME, Store, parse_undo, serialize_undo
from toycoin.wallet import Wallet
from toycoin.relay import Relay
from toycoin.sync import BlockSync

T0 = course_genesis().header.timestamp  # blocks come after genesis (median time past)

pytestmark = pytest.mark.timeout(60)

ALICE = PrivateKey.from_seed("alice")
BOB = PrivateKey.from_seed("bob").address


def test_a_new_store_holds_the_genesis_block_and_reopens_with_every_block(tmp_path):
    store = Store.open(tmp_path, course_genesis())
    assert store.height == 0 and store.tip_hash == course_genesis().hash
    ledger = store.load()
    tx = Wallet(ALICE).make_payment(ledger.unspent_for(ALICE.address), BOB, 10)
    block = ledger.seal_block([tx], BOB, T0 + 1)
    store.append(block, ledger.undo_at(1))
    store.close()
    again = Store.open(tmp_path, course_genesis())
    restored = again.load()
    assert (restored.height, restored.tip_hash) == (1, block.hash)
    assert restored.utxos == ledger.utxos == again.utxos()
    assert restored.balance(BOB) == 60  # 10 paid, and the block reward of 50
    assert restored.undo_block() == block and restored.balance(ALICE.address) == 100


def test_undo_data_round_trips():
    ledger = Ledger(course_genesis())
    tx = Wallet(ALICE).make_payment(ledger.unspent_for(ALICE.address), BOB, 10)
    ledger.seal_block([tx], BOB, T0 + 1)
    assert parse_undo(serialize_undo(ledger.undo_at(1))) == ledger.undo_at(1)


def test_a_block_that_does_not_build_on_the_stored_tip_is_refused(tmp_path):
    store = Store.open(tmp_path, course_genesis())
    ledger = Ledger(course_genesis())
    ledger.seal_block([], BOB, T0 + 1)
    block = ledger.seal_block([], BOB, T0 + 2)  # height 2, but the store is at 0
    with pytest.raises(StoreError, match="does not build on the stored tip"):
        store.append(block, ledger.undo_at(2))
    assert store.height == 0


def test_a_store_of_another_chain_is_refused(tmp_path):
    Store.open(tmp_path, course_genesis()).close()
    with pytest.raises(StoreError, match="another chain"):
        Store.open(tmp_path, make_genesis(BOB, 100, 1))


def test_a_store_whose_tip_does_not_match_its_blocks_is_refused(tmp_path):
    Store.open(tmp_path, course_genesis()).close()
    db = sqlite3.connect(tmp_path / FILE_NAME)
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'tip'", (bytes(32),))
    db.close()
    with pytest.raises(StoreError, match="does not add up"):
        Store.open(tmp_path, course_genesis())


def test_garbage_instead_of_a_store_is_a_clear_error(tmp_path):
    (tmp_path / FILE_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store.open(tmp_path, course_genesis())


def test_a_node_with_a_data_directory_resumes_and_syncs_only_what_it_missed(tmp_path):
    source = Node("source", services=[Relay, BlockSync], miner_address=MINER.address)
    source.start()
    follower = Node("follower", services=[Relay, BlockSync], data_dir=tmp_path)
    follower.start()
    try:
        follower.connect(source)
        grow(source, 20)
        follower.wait_until(lambda: follower.height == 20, what="the follower synced 20 blocks")
        follower.kill()
        grow(source, 5)
        again = Node("follower", services=[Relay, BlockSync], data_dir=tmp_path, port=follower.address[1])
        assert again.height == 20  # from the data directory, before any peer is asked
        again.start()
        again.connect(source)
        again.wait_until(lambda: again.height == 25, what="the restarted follower caught up")
        fetched = [e for e in again.events if e.kind == "block applied"]
        assert len(fetched) == 5  # only what it missed
        assert again.ledger.utxos == source.ledger.utxos
    finally:
        source.kill()
        again.kill()


@pytest.mark.parametrize("sync", [False, True])
def test_a_block_handed_to_a_node_reaches_its_store_and_leaves_its_mempool(tmp_path, sync):
    # accept_block takes the path of a synced block, so the store never falls behind the ledger.
    elsewhere = Ledger(course_genesis())
    tx = Wallet(ALICE).make_payment(elsewhere.unspent_for(ALICE.address), BOB, 10)
    node = Node("keeper", services=[Relay, BlockSync] if sync else [], data_dir=tmp_path)
    if sync:
        node.submit_tx(tx)
        assert node.runtime.call(lambda: len(node.mempool)) == 1
    for block in (elsewhere.seal_block([tx], BOB, T0 + 1), elsewhere.seal_block([], BOB, T0 + 2)):
        node.accept_block(block)
    assert node.height == 2 and node.runtime.call(lambda: len(node.mempool)) == 0
    store = Store.open(tmp_path, course_genesis())  # a second reader of the same directory
    try:
        assert (store.height, store.tip_hash) == (2, elsewhere.tip_hash)
        assert store.utxos() == elsewhere.utxos == node.ledger.utxos
    finally:
        store.close()
    assert Node("keeper", data_dir=tmp_path).ledger.utxos == elsewhere.utxos
