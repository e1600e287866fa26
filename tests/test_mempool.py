"""Mempool: accepted payments wait for a block; conflicting spends and invalid payments are refused."""

import pytest

from toycoin.errors import ValidationError
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.mempool import Mempool
from toycoin.node import course_genesis
from toycoin.wallet import Wallet

T0 = course_genesis().header.timestamp  # blocks come after genesis (median time past)

ALICE = PrivateKey.from_seed("alice")
BOB = PrivateKey.from_seed("bob").address
CAROL = PrivateKey.from_seed("carol").address


def pay(ledger, to, amount):
    return Wallet(ALICE).make_payment(ledger.unspent_for(ALICE.address), to, amount)


def test_a_valid_payment_enters_and_waits_in_arrival_order():
    ledger, pool = Ledger(course_genesis()), Mempool()
    tx = pay(ledger, BOB, 10)
    assert pool.add(tx, ledger) == 0  # no fee
    assert tx.txid in pool and len(pool) == 1 and pool.get(tx.txid) == tx
    assert pool.txs() == [tx] and repr(pool) == "Mempool(1 transaction)"
    assert ledger.balance(BOB) == 0  # nothing is spent until a block holds it


def test_a_conflicting_spend_is_refused_with_the_txid_it_conflicts_with():
    ledger, pool = Ledger(course_genesis()), Mempool()
    first, second = pay(ledger, BOB, 10), pay(ledger, CAROL, 10)  # the same coin, twice
    pool.add(first, ledger)
    reason = f"mempool transaction {first.txid_hex[:16]} already spends.*conflicting"
    with pytest.raises(ValidationError, match=reason):
        pool.add(second, ledger)
    with pytest.raises(ValidationError, match="already in the mempool"):
        pool.add(first, ledger)
    assert pool.txs() == [first]


def test_an_invalid_payment_is_refused_with_the_ledgers_reason():
    ledger, pool = Ledger(course_genesis()), Mempool()
    tx = pay(ledger, BOB, 10)
    ledger.seal_block([tx], BOB, T0 + 1)  # now its coin is spent
    with pytest.raises(ValidationError, match="does not exist or is already spent"):
        pool.add(tx, ledger)
    assert len(pool) == 0


def test_a_full_pool_refuses_newcomers():
    ledger, pool = Ledger(course_genesis()), Mempool(max_size=1)
    pool.add(pay(ledger, BOB, 10), ledger)
    miner = PrivateKey.from_seed("miner")
    ledger.seal_block([], miner.address, T0 + 1)
    other = Wallet(miner).make_payment(ledger.unspent_for(miner.address), BOB, 1)
    with pytest.raises(ValidationError, match="mempool is full"):
        pool.add(other, ledger)


def test_a_block_takes_its_payments_out_and_evicts_what_now_conflicts():
    ledger, pool = Ledger(course_genesis()), Mempool()
    mine, theirs = pay(ledger, BOB, 10), pay(ledger, CAROL, 10)
    pool.add(mine, ledger)
    block = Ledger(course_genesis()).seal_block([theirs], BOB, T0 + 1)  # another node sealed the other spend
    assert pool.remove_for_block(block) == [mine]
    assert len(pool) == 0 and pool.spender_of(mine.inputs[0].outpoint) is None
