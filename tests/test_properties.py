"""Property tests: every object survives serialize/parse, and no bytes crash a parser.

A node parses whatever its peers send, so the only error a parser may raise is
toycoin's ParseError: never IndexError, struct.error, ValueError or MemoryError.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toycoin.block import Block, BlockHeader
from toycoin.encoding import ByteReader, base58check_decode
from toycoin.errors import ParseError
from toycoin.keys import PublicKey, make_address
from toycoin.merkle import MerkleProof
from toycoin.tx import OutPoint, Tx, TxIn, TxOut

QUICK = settings(max_examples=150, deadline=None)

u32 = st.integers(0, 2**32 - 1)
hashes = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20).map(make_address)
outpoints = st.builds(OutPoint, hashes, u32)
txouts = st.builds(TxOut, st.integers(-2**63, 2**63 - 1), addresses)
txins = st.builds(TxIn, outpoints, st.binary(max_size=72), st.binary(max_size=40))
txs = st.builds(Tx, st.lists(txins, max_size=4), st.lists(txouts, max_size=4), u32, u32)
headers = st.builds(BlockHeader, st.integers(-2**31, 2**31 - 1), hashes, hashes, u32, u32, u32)
blocks = st.builds(Block, headers, st.lists(txs, max_size=3))
proofs = st.builds(MerkleProof, u32, u32, st.lists(hashes, max_size=12).map(tuple))

ROUND_TRIPS = [(OutPoint, outpoints), (TxOut, txouts), (TxIn, txins), (Tx, txs),
               (BlockHeader, headers), (Block, blocks), (MerkleProof, proofs)]
PARSERS = [OutPoint.parse, TxOut.parse, TxIn.parse, Tx.parse, BlockHeader.parse, Block.parse,
           MerkleProof.parse, PublicKey.parse]


@pytest.mark.parametrize("cls, objects", ROUND_TRIPS, ids=[c.__name__ for c, _ in ROUND_TRIPS])
@QUICK
@given(data=st.data())
def test_serialize_then_parse_gives_the_same_object(cls, objects, data):
    obj = data.draw(objects)
    raw = obj.serialize()
    assert cls.parse(raw) == obj
    assert cls.parse(raw).serialize() == raw


@pytest.mark.parametrize("parse", PARSERS, ids=[p.__qualname__ for p in PARSERS])
@QUICK
@given(raw=st.binary(max_size=300))
def test_random_bytes_raise_only_parse_error(parse, raw):
    try:
        parse(raw)
    except ParseError:
        pass


@QUICK
@given(tx=txs, data=st.data())
def test_corrupted_transactions_raise_only_parse_error(tx, data):
    raw = bytearray(tx.serialize())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut])):
        try:
            Tx.parse(candidate)
        except ParseError:
            pass


@QUICK
@given(raw=st.binary(max_size=40))
def test_compact_sizes_and_counts_raise_only_parse_error(raw):
    reader = ByteReader(raw)
    try:
        reader.read_count(min_item_size=1)
        reader.read_var_bytes()
    except ParseError:
        pass


@QUICK
@given(text=st.text(max_size=120))
def test_any_text_as_an_address_raises_only_parse_error(text):
    try:
        base58check_decode(text)
    except ParseError:
        pass


@QUICK
@given(prefix=st.sampled_from([b"\x02", b"\x03"]), x=st.binary(min_size=32, max_size=32))
def test_any_33_bytes_are_a_public_key_or_a_parse_error(prefix, x):
    # About half of all x coordinates are on the curve; the rest must fail cleanly.
    try:
        assert PublicKey.parse(prefix + x).serialize() == prefix + x
    except ParseError:
        pass
