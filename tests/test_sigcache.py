"""Signature cache: a payment checked on entering the mempool is not checked again in its block.

Each node has its own cache (Bitcoin Core's CSignatureCache); a ledger without
one checks every signature every time. Checks are counted by wrapping
PublicKey.verify, so no test reads a clock.
"""

from dataclasses import replace

import pytest

from toycoin import keys
from toycoin.block import make_block, make_genesis
from toycoin.errors import ValidationError
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.mempool import Mempool
from toycoin.network import Network
from toycoin.params import BLOCK_REWARD
from toycoin.relay import Relay
from toycoin.sigcache import SigCache
from toycoin.sync import BlockSync
from toycoin.tx import TxOut, make_coinbase
from toycoin.wallet import Wallet

ALICE, BOB = Wallet(PrivateKey.from_seed("alice")), Wallet(PrivateKey.from_seed("bob"))
MINER = PrivateKey.from_seed("miner").address
T0 = 1_700_000_000


@pytest.fixture
def verify_calls(monkeypatch):
    """How many signatures were checked (PublicKey.verify calls) since the test began."""
    calls = []
    real_verify = keys.PublicKey.verify

    def counting(self, digest, signature):
        calls.append(digest)
        return real_verify(self, digest, signature)

    monkeypatch.setattr(keys.PublicKey, "verify", counting)
    return calls


def ledger_and_payment(sigcache=None):
    ledger = Ledger(make_genesis(ALICE.address, 100, T0), sigcache=sigcache)
    payment = ALICE.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10)
    return ledger, payment


def block_of(ledger, txs):
    coinbase = make_coinbase(ledger.height + 1, MINER, BLOCK_REWARD)
    return make_block(ledger.tip_hash, [coinbase, *txs], T0 + 600 * (ledger.height + 1))


def test_the_cache_is_bounded_and_forgets_the_oldest_first():
    cache = SigCache(max_entries=3)
    entries = [SigCache.key(bytes([n]) * 32, b"key", b"signature") for n in range(5)]
    for entry in entries:
        cache.add(entry)
    assert len(cache) == 3
    assert [entry in cache for entry in entries] == [False, False, True, True, True]
    cache.discard(entries[3])
    cache.discard(entries[0])  # not there: no error
    assert [entry in cache for entry in entries] == [False, False, True, False, True]
    with pytest.raises(ValueError, match="at least one entry"):
        SigCache(max_entries=0)


def test_a_payment_checked_into_the_mempool_is_not_checked_again_in_its_block(verify_calls):
    cache = SigCache()
    ledger, payment = ledger_and_payment(cache)
    Mempool().add(payment, ledger)
    assert (len(verify_calls), len(cache)) == (1, 1)
    ledger.apply_block(block_of(ledger, [payment]))
    assert len(verify_calls) == 1  # the block's copy of the payment was not checked again
    assert len(cache) == 0  # and, its block applied, it is forgotten
    assert ledger.balance(BOB.address) == 10


def test_without_a_cache_every_check_is_made(verify_calls):
    ledger, payment = ledger_and_payment()
    ledger.validate_tx(payment)
    ledger.apply_block(block_of(ledger, [payment]))
    assert len(verify_calls) == 2
    assert ledger.sigcache is None


def test_a_block_alone_fills_no_cache_and_a_changed_payment_is_checked_afresh(verify_calls):
    cache = SigCache()
    ledger, payment = ledger_and_payment(cache)
    ledger.validate_tx(payment)
    # The same signature on a payment whose output changed: a different digest, so no hit.
    forged = replace(payment, outputs=(TxOut(90, BOB.address),))
    with pytest.raises(ValidationError, match="signature does not match"):
        ledger.apply_block(block_of(ledger, [forged]))
    assert len(verify_calls) == 2 and len(cache) == 1
    cold = Ledger(make_genesis(ALICE.address, 100, T0), sigcache=SigCache())
    cold.apply_block(block_of(cold, [payment]))
    assert len(cold.sigcache) == 0  # only payments checked on their own are remembered


@pytest.mark.timeout(60)
def test_each_node_checks_a_gossiped_payment_once_with_its_own_cache():
    with Network(["A", "B"], wallet_names=(), services=[Relay, BlockSync]) as net:
        net.start_all()
        net.mesh()
        a, b = net["A"], net["B"]
        assert a.sigcache is not b.sigcache
        payment = ALICE.make_payment(a.ledger.unspent_for(ALICE.address), BOB.address, 10)
        a.submit_tx(payment)
        net.wait_until(lambda: len(b.mempool) == 1, what="the payment reached B")
        assert net.runtime.call(lambda: (len(a.sigcache), len(b.sigcache))) == (1, 1)
        a.seal()
        net.wait_until(lambda: b.height == 1, what="B applied the block")
        # Each found its own entry when the block came (and then forgot it).
        assert net.runtime.call(lambda: (len(a.sigcache), len(b.sigcache))) == (0, 0)
        assert b.balance(BOB.address) == 10
