"""Tests for toycoin.tx: outpoints, inputs, outputs, txids, the signature digest."""

from dataclasses import replace

import pytest

from toycoin.encoding import sha256d
from toycoin.errors import ParseError
from toycoin.keys import PrivateKey
from toycoin.tx import OutPoint, Tx, TxIn, TxOut, make_coinbase

ALICE = PrivateKey.from_seed("alice")
BOB = PrivateKey.from_seed("bob")
FUNDING = make_coinbase(0, ALICE.address, 100)
SPENT = FUNDING.outputs[0]


def alice_pays_bob() -> Tx:
    unsigned = Tx([TxIn(OutPoint(FUNDING.txid, 0))],
                  [TxOut(10, BOB.address), TxOut(90, ALICE.address)])
    signature = ALICE.sign(unsigned.sighash(0, SPENT))
    signed_input = TxIn(OutPoint(FUNDING.txid, 0), signature, ALICE.public_key.serialize())
    return replace(unsigned, inputs=[signed_input])


def test_serialize_parse_round_trip():
    tx = alice_pays_bob()
    assert Tx.parse(tx.serialize()) == tx
    assert TxOut.parse(tx.outputs[0].serialize()) == tx.outputs[0]
    assert TxIn.parse(tx.inputs[0].serialize()) == tx.inputs[0]
    assert OutPoint.parse(tx.inputs[0].outpoint.serialize()) == tx.inputs[0].outpoint


def test_txid_is_sha256d_of_the_bytes_and_displayed_reversed():
    tx = alice_pays_bob()
    assert tx.txid == sha256d(tx.serialize())
    assert tx.txid_hex == tx.txid[::-1].hex()


def test_layout_of_a_coinbase():
    # version | 1 input: null outpoint, 4-byte height, no key | 1 output: amount, hash | locktime
    coinbase = make_coinbase(7, ALICE.address, 50)
    raw = coinbase.serialize()
    assert raw[:4] == (1).to_bytes(4, "little")
    assert raw[4] == 1 and raw[5:37] == bytes(32) and raw[37:41] == b"\xff\xff\xff\xff"
    assert raw[41:46] == b"\x04\x07\x00\x00\x00" and raw[46] == 0
    assert len(raw) == 4 + 1 + 36 + 5 + 1 + 1 + 28 + 4


def test_coinbases_of_different_heights_have_different_txids():
    # BIP34: without the height, two coinbases paying the same address would share a txid.
    first, second = make_coinbase(1, ALICE.address, 50), make_coinbase(2, ALICE.address, 50)
    assert first.txid != second.txid
    assert (first.coinbase_height, second.coinbase_height) == (1, 2)
    assert first.is_coinbase and not alice_pays_bob().is_coinbase
    assert alice_pays_bob().coinbase_height is None


def test_sighash_commits_to_everything_that_must_not_change():
    tx = alice_pays_bob()
    base = tx.sighash(0, SPENT)
    other_outpoint = TxIn(OutPoint(FUNDING.txid, 1), tx.inputs[0].signature, tx.inputs[0].public_key)
    changes = [
        (replace(tx, version=2), SPENT),
        (replace(tx, locktime=1), SPENT),
        (replace(tx, inputs=[other_outpoint]), SPENT),
        (replace(tx, outputs=[TxOut(11, BOB.address), tx.outputs[1]]), SPENT),
        (replace(tx, outputs=[TxOut(10, ALICE.address), tx.outputs[1]]), SPENT),
        (replace(tx, outputs=tx.outputs[:1]), SPENT),
        (tx, TxOut(99, ALICE.address)),          # the amount of the spent output
        (tx, TxOut(100, BOB.address)),           # the address of the spent output
    ]
    for changed, spent in changes:
        assert changed.sighash(0, spent) != base


def test_sighash_commits_to_the_input_index():
    two_inputs = Tx([TxIn(OutPoint(FUNDING.txid, 0)), TxIn(OutPoint(FUNDING.txid, 1))],
                    [TxOut(1, BOB.address)])
    assert two_inputs.sighash(0, SPENT) != two_inputs.sighash(1, SPENT)
    with pytest.raises(IndexError):
        two_inputs.sighash(2, SPENT)


def test_sighash_leaves_out_signatures():
    # Otherwise a signature would have to sign itself.
    tx = alice_pays_bob()
    unsigned = replace(tx, inputs=[TxIn(tx.inputs[0].outpoint)])
    assert unsigned.sighash(0, SPENT) == tx.sighash(0, SPENT)
    assert unsigned.txid != tx.txid


def test_truncated_and_left_over_bytes_raise_parse_error():
    raw = alice_pays_bob().serialize()
    with pytest.raises(ParseError, match="truncated"):
        Tx.parse(raw[:-1])
    with pytest.raises(ParseError, match="left over"):
        Tx.parse(raw + b"\x00")


def test_a_hostile_input_count_is_refused_at_once():
    # version, then "2**64 - 1 inputs" in a 20-byte message: no list is ever built.
    hostile = bytes(4) + b"\xff" + b"\xff" * 8 + bytes(7)
    with pytest.raises(ParseError, match="truncated: 18446744073709551615 items announced"):
        Tx.parse(hostile)


def test_bad_field_values_fail_at_construction():
    with pytest.raises(ParseError):
        TxOut(1, "not an address")
    with pytest.raises(ValueError):
        TxOut(2**63, ALICE.address)
    with pytest.raises(ValueError):
        OutPoint(b"short", 0)


def test_outpoint_reads_like_bitcoin():
    outpoint = OutPoint(FUNDING.txid, 0)
    assert str(outpoint) == f"{FUNDING.txid_hex}:0"
    assert FUNDING.txid_hex in repr(outpoint)
