"""Tests for toycoin.ledger: every validation rule with its reason, apply, undo, seal."""

from dataclasses import replace

import pytest

from toycoin.block import Block, make_block, make_genesis
from toycoin.errors import ValidationError
from toycoin.keys import CURVE_ORDER, PrivateKey, make_address, pubkey_hash
from toycoin.ledger import Ledger
from toycoin.params import BLOCK_REWARD, MAX_MONEY
from toycoin.tx import OutPoint, Tx, TxIn, TxOut, make_coinbase
from toycoin.wallet import Wallet

ALICE, BOB, CAROL = (Wallet(PrivateKey.from_seed(name)) for name in ("alice", "bob", "carol"))
T0 = 1_700_000_000


def new_ledger() -> Ledger:
    return Ledger(make_genesis(ALICE.address, 100, T0))


def genesis_coin(ledger: Ledger) -> tuple[OutPoint, TxOut]:
    return ledger.unspent_for(ALICE.address)[0]


def signed(wallet: Wallet, coins: list[tuple[OutPoint, TxOut]], outputs: list[TxOut]) -> Tx:
    """A transaction spending exactly ``coins`` into ``outputs``, signed by ``wallet``."""
    unsigned = Tx([TxIn(outpoint) for outpoint, _ in coins], outputs)
    return wallet.sign(unsigned, [out for _, out in coins])


def test_the_story_alice_pays_bob():
    here, elsewhere = new_ledger(), new_ledger()
    payment = ALICE.make_payment(here.unspent_for(ALICE.address), BOB.address, 10)
    assert here.validate_tx(payment) == 0
    block = here.seal_block([payment], CAROL.address, T0 + 600)
    assert (here.height, here.tip_hash, here.block_at(1)) == (1, block.hash, block)
    assert (here.balance(ALICE.address), here.balance(BOB.address)) == (90, 10)
    assert here.balance(CAROL.address) == BLOCK_REWARD
    # A ledger that never heard of the payment still shows Alice's 100.
    assert elsewhere.balance(ALICE.address) == 100


def test_unspent_for_is_sorted_and_balance_adds_it_up():
    ledger = new_ledger()
    payment = signed(ALICE, [genesis_coin(ledger)], [TxOut(n, BOB.address) for n in (5, 1, 7)])
    ledger.seal_block([payment], CAROL.address, T0 + 1)
    coins = ledger.unspent_for(BOB.address)
    assert [op for op, _ in coins] == sorted(op for op, _ in coins)
    assert ledger.balance(BOB.address) == sum(out.amount for _, out in coins) == 13


def test_spending_a_missing_or_spent_output():
    ledger = new_ledger()
    payment = ALICE.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10)
    ledger.seal_block([payment], CAROL.address, T0 + 1)
    # The same payment again: a double spend.
    with pytest.raises(ValidationError,
                       match="input 0 spends an output that does not exist or is already spent"):
        ledger.validate_tx(payment)
    made_up = (OutPoint(bytes(32), 5), TxOut(100, ALICE.address))
    with pytest.raises(ValidationError, match="does not exist"):
        ledger.validate_tx(signed(ALICE, [made_up], [TxOut(1, BOB.address)]))


def test_someone_elses_key_cannot_spend():
    ledger = new_ledger()
    theft = signed(BOB, [genesis_coin(ledger)], [TxOut(100, BOB.address)])
    with pytest.raises(ValidationError, match="public key does not belong to"):
        ledger.validate_tx(theft)


def test_changing_a_signed_payment_breaks_its_signature():
    ledger = new_ledger()
    payment = ALICE.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10)
    tampered = replace(payment, outputs=[TxOut(10, CAROL.address), *payment.outputs[1:]])
    with pytest.raises(ValidationError, match="input 0: the signature does not match"):
        ledger.validate_tx(tampered)


def test_signature_over_another_spent_output_is_rejected():
    # The digest commits to the amount spent: a signature made for "spending 50" fails.
    ledger = new_ledger()
    outpoint, coin = genesis_coin(ledger)
    unsigned = Tx([TxIn(outpoint)], [TxOut(40, BOB.address)])
    lie = ALICE.sign(unsigned, [TxOut(50, ALICE.address)])
    with pytest.raises(ValidationError, match="signature does not match"):
        ledger.validate_tx(lie)


def test_high_s_twin_signature_is_rejected():
    ledger = new_ledger()
    payment = ALICE.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10)
    txin = payment.inputs[0]
    s = int.from_bytes(txin.signature[32:], "big")
    twin = txin.signature[:32] + (CURVE_ORDER - s).to_bytes(32, "big")
    with pytest.raises(ValidationError, match="signature does not match"):
        ledger.validate_tx(replace(payment, inputs=[replace(txin, signature=twin)]))


def test_an_invalid_public_key_is_named():
    garbage_key = b"\x02" + bytes(32)  # not a point on the curve
    ledger = Ledger(make_genesis(make_address(pubkey_hash(garbage_key)), 100, T0))
    outpoint, _ = ledger.unspent_for(make_address(pubkey_hash(garbage_key)))[0]
    tx = Tx([TxIn(outpoint, bytes(64), garbage_key)], [TxOut(1, BOB.address)])
    with pytest.raises(ValidationError, match="not a valid secp256k1 point"):
        ledger.validate_tx(tx)


def test_the_same_output_twice_in_one_transaction():
    # CVE-2018-17144: Bitcoin Core 0.15-0.16 skipped this check inside blocks.
    ledger = new_ledger()
    coin = genesis_coin(ledger)
    inflation = signed(ALICE, [coin, coin], [TxOut(200, ALICE.address)])
    with pytest.raises(ValidationError, match="input 1 spends the same output as input 0"):
        ledger.validate_tx(inflation)


def test_outputs_may_not_exceed_inputs():
    ledger = new_ledger()
    greedy = signed(ALICE, [genesis_coin(ledger)], [TxOut(101, BOB.address)])
    with pytest.raises(ValidationError, match="outputs add up to 101, more than the inputs' 100"):
        ledger.validate_tx(greedy)


@pytest.mark.parametrize("amounts, reason", [
    ([-5, 105], "output 0 has a negative amount"),
    ([MAX_MONEY + 1], "above MAX_MONEY"),
    ([MAX_MONEY, MAX_MONEY], "add up to 42000000, above MAX_MONEY"),
])
def test_amounts_out_of_range(amounts, reason):
    ledger = new_ledger()
    tx = signed(ALICE, [genesis_coin(ledger)], [TxOut(n, BOB.address) for n in amounts])
    with pytest.raises(ValidationError, match=reason):
        ledger.validate_tx(tx)


def test_a_transaction_needs_inputs_and_outputs():
    ledger = new_ledger()
    with pytest.raises(ValidationError, match="no inputs"):
        ledger.validate_tx(Tx([], [TxOut(1, BOB.address)]))
    with pytest.raises(ValidationError, match="no outputs"):
        ledger.validate_tx(signed(ALICE, [genesis_coin(ledger)], []))


def test_coinbase_outside_a_block_is_rejected():
    with pytest.raises(ValidationError, match="only valid as the first transaction"):
        new_ledger().validate_tx(make_coinbase(1, BOB.address, 50))


def test_null_outpoint_among_other_inputs_is_rejected():
    ledger = new_ledger()
    coin = genesis_coin(ledger)
    tx = signed(ALICE, [coin, (OutPoint.null(), TxOut(0, ALICE.address))], [TxOut(1, BOB.address)])
    with pytest.raises(ValidationError, match="null outpoint"):
        ledger.validate_tx(tx)


def block_on(ledger: Ledger, txs: list[Tx]) -> Block:
    return make_block(ledger.tip_hash, txs, T0 + 600)


def coinbase(ledger: Ledger, amount: int = BLOCK_REWARD) -> Tx:
    return make_coinbase(ledger.height + 1, CAROL.address, amount)


@pytest.mark.parametrize("build, reason", [
    (lambda L, pay: [pay], "first transaction of a block must be a coinbase"),
    (lambda L, pay: [coinbase(L), pay, make_coinbase(9, BOB.address, 1)], "second coinbase"),
    (lambda L, pay: [coinbase(L, BLOCK_REWARD + 2), pay], "coinbase pays 52, but the block reward"),
    (lambda L, pay: [make_coinbase(5, CAROL.address, 50), pay], "must carry the block height 1"),
    (lambda L, pay: [coinbase(L), pay, replace(pay, locktime=1)], "transaction 2: input 0 spends"
                                                                  " an output that an earlier"),
])
def test_block_rules(build, reason):
    ledger = new_ledger()
    payment = ALICE.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10, fee=1)
    with pytest.raises(ValidationError, match=reason):
        ledger.apply_block(block_on(ledger, build(ledger, payment)))
    assert ledger.height == 0


def test_coinbase_may_claim_reward_plus_fees():
    ledger = new_ledger()
    payment = ALICE.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10, fee=3)
    ledger.apply_block(block_on(ledger, [coinbase(ledger, BLOCK_REWARD + 3), payment]))
    assert ledger.balance(CAROL.address) == BLOCK_REWARD + 3


def test_block_must_build_on_the_tip():
    ledger = new_ledger()
    stray = make_block(bytes(32), [coinbase(ledger)], T0)
    with pytest.raises(ValidationError, match="does not build on the tip"):
        ledger.apply_block(stray)


def test_mutated_copy_is_rejected_and_the_real_block_still_applies():
    # CVE-2012-2459: a peer repeats the last transaction; the hash stays the same.
    ledger = new_ledger()
    pay_bob = ALICE.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10)
    pay_carol = BOB.make_payment([(OutPoint(pay_bob.txid, 0), pay_bob.outputs[0])], CAROL.address, 10)
    block = block_on(ledger, [coinbase(ledger), pay_bob, pay_carol])
    mutated = Block(block.header, [*block.txs, pay_carol])
    assert mutated.hash == block.hash
    with pytest.raises(ValidationError, match="mutated"):
        ledger.apply_block(mutated)
    # Nothing about the hash was remembered as bad: the honest block applies.
    ledger.apply_block(block)
    assert ledger.balance(CAROL.address) == 10 + BLOCK_REWARD


def test_a_failing_block_changes_nothing():
    ledger = new_ledger()
    before = ledger.utxos
    good = ALICE.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10)
    bad = signed(BOB, [(OutPoint(good.txid, 0), good.outputs[0])], [TxOut(11, CAROL.address)])
    with pytest.raises(ValidationError, match="transaction 2: outputs add up to 11"):
        ledger.apply_block(block_on(ledger, [coinbase(ledger), good, bad]))
    assert ledger.utxos == before and ledger.height == 0


def test_spending_an_output_created_earlier_in_the_same_block():
    ledger = new_ledger()
    pay_bob = ALICE.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10)
    bob_coin = (OutPoint(pay_bob.txid, 0), pay_bob.outputs[0])
    pay_carol = BOB.make_payment([bob_coin], CAROL.address, 4, fee=1)
    ledger.seal_block([pay_bob, pay_carol], CAROL.address, T0 + 1)
    assert ledger.balance(BOB.address) == 5
    assert ledger.balance(CAROL.address) == 4 + BLOCK_REWARD + 1


def test_undo_restores_the_utxo_set_exactly():
    ledger = new_ledger()
    states = [ledger.utxos]
    for step in range(3):
        payment = ALICE.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 1 + step)
        ledger.seal_block([payment], CAROL.address, T0 + 1 + step)  # each later than the last
        states.append(ledger.utxos)
    tip = ledger.blocks[-1]
    assert ledger.undo_block() == tip
    assert ledger.utxos == states[2]
    ledger.apply_block(tip)  # and it applies again, unchanged
    assert ledger.utxos == states[3]
    for height in (2, 1, 0):
        ledger.undo_block()
        assert ledger.utxos == states[height] and ledger.height == height


def test_undo_of_a_block_that_spends_its_own_outputs():
    ledger = new_ledger()
    before = ledger.utxos
    pay_bob = ALICE.make_payment(ledger.unspent_for(ALICE.address), BOB.address, 10)
    pay_carol = BOB.make_payment([(OutPoint(pay_bob.txid, 0), pay_bob.outputs[0])], CAROL.address, 10)
    ledger.seal_block([pay_bob, pay_carol], CAROL.address, T0 + 1)
    ledger.undo_block()
    assert ledger.utxos == before


def test_genesis_cannot_be_undone():
    with pytest.raises(ValidationError, match="genesis block cannot be undone"):
        new_ledger().undo_block()


def test_a_genesis_must_be_one_coinbase_at_height_zero():
    bad = make_block(bytes(32), [make_coinbase(1, ALICE.address, 100)], T0)
    with pytest.raises(ValidationError, match="exactly one coinbase, at height 0"):
        Ledger(bad)


def test_blocks_is_a_copy_and_block_at_checks_the_height():
    ledger = new_ledger()
    ledger.blocks.clear()
    assert ledger.height == 0 and len(ledger.blocks) == 1
    assert ledger.tip == ledger.block_at(0).header
    with pytest.raises(IndexError):
        ledger.block_at(1)


def test_seal_block_rejects_an_invalid_payment_and_keeps_the_tip():
    ledger = new_ledger()
    theft = signed(BOB, [genesis_coin(ledger)], [TxOut(100, BOB.address)])
    with pytest.raises(ValidationError, match="transaction 1: input 0: its public key"):
        ledger.seal_block([theft], BOB.address, T0 + 1)
    assert ledger.height == 0 and ledger.balance(BOB.address) == 0
