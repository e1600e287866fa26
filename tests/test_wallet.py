"""Tests for toycoin.wallet: coin selection, change, signing, and the not-enough-coins reason."""

import pytest

from toycoin.block import make_genesis
from toycoin.errors import ValidationError
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.tx import OutPoint, TxOut
from toycoin.wallet import Wallet

ALICE_KEY = PrivateKey.from_seed("alice")
T0 = 1_700_000_000


def wallets() -> tuple[Wallet, Wallet]:
    return Wallet(ALICE_KEY), Wallet(PrivateKey.from_seed("bob"))


def test_payment_with_change_is_valid():
    alice, bob = wallets()
    ledger = Ledger(make_genesis(alice.address, 100, T0))
    payment = alice.make_payment(ledger.unspent_for(alice.address), bob.address, 10, fee=2)
    assert payment.outputs == (TxOut(10, bob.address), TxOut(88, alice.address))
    assert ledger.validate_tx(payment) == 2
    assert all(txin.public_key == ALICE_KEY.public_key.serialize() for txin in payment.inputs)


def test_exact_amount_has_no_change_output():
    alice, bob = wallets()
    ledger = Ledger(make_genesis(alice.address, 100, T0))
    payment = alice.make_payment(ledger.unspent_for(alice.address), bob.address, 100)
    assert payment.outputs == (TxOut(100, bob.address),)


def test_payments_are_deterministic():
    alice, bob = wallets()
    coins = Ledger(make_genesis(alice.address, 100, T0)).unspent_for(alice.address)
    assert alice.make_payment(coins, bob.address, 10) == alice.make_payment(coins, bob.address, 10)


def test_takes_coins_in_order_until_the_amount_is_covered():
    alice, bob = wallets()
    coins = [(OutPoint(bytes([i]) * 32, 0), TxOut(amount, alice.address))
             for i, amount in enumerate((3, 4, 5, 6))]
    payment = alice.make_payment(coins, bob.address, 8)
    assert [txin.outpoint for txin in payment.inputs] == [op for op, _ in coins[:3]]
    assert payment.outputs[1] == TxOut(4, alice.address)


def test_skips_coins_locked_to_someone_else():
    alice, bob = wallets()
    coins = [(OutPoint(bytes(32), 0), TxOut(50, bob.address)),
             (OutPoint(bytes(32), 1), TxOut(5, alice.address))]
    payment = alice.make_payment(coins, bob.address, 5)
    assert [txin.outpoint.index for txin in payment.inputs] == [1]


def test_not_enough_coins_says_how_many():
    alice, bob = wallets()
    coins = Ledger(make_genesis(alice.address, 100, T0)).unspent_for(alice.address)
    with pytest.raises(ValidationError, match="not enough coins: has 100, needs 111"):
        alice.make_payment(coins, bob.address, 110, fee=1)


def test_amount_and_fee_must_make_sense():
    alice, bob = wallets()
    coins = Ledger(make_genesis(alice.address, 100, T0)).unspent_for(alice.address)
    with pytest.raises(ValidationError, match="positive amount"):
        alice.make_payment(coins, bob.address, 0)
    with pytest.raises(ValidationError, match="negative"):
        alice.make_payment(coins, bob.address, 1, fee=-1)
