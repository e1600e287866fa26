"""Tests for toycoin.encoding: hashes, compact sizes, the byte reader, base58check."""

import pytest

from toycoin.encoding import (ByteReader, base58check_decode, base58check_encode, compact_size,
                              parse_all, sha256d, var_bytes)
from toycoin.errors import ParseError


def test_sha256d_of_empty_string():
    # Well-known value: SHA-256 applied twice to no bytes.
    assert sha256d(b"").hex() == "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"


@pytest.mark.parametrize("n, encoded", [
    (0, "00"), (252, "fc"), (253, "fdfd00"), (0xFFFF, "fdffff"),
    (0x10000, "fe00000100"), (0xFFFF_FFFF, "feffffffff"), (2**32, "ff0000000001000000"),
])
def test_compact_size_matches_bitcoin(n, encoded):
    # Boundaries of Bitcoin's CompactSize: 1, 3, 5 or 9 bytes.
    assert compact_size(n).hex() == encoded
    assert ByteReader(bytes.fromhex(encoded)).read_compact_size() == n


@pytest.mark.parametrize("encoded", ["fd0000", "fdfc00", "feffff0000", "ffffffffff00000000"])
def test_non_canonical_compact_size_is_rejected(encoded):
    # Bitcoin Core's ReadCompactSize refuses a longer form than needed ("non-canonical").
    with pytest.raises(ParseError, match="non-canonical"):
        ByteReader(bytes.fromhex(encoded)).read_compact_size()


def test_reader_refuses_to_run_past_the_end():
    reader = ByteReader(b"\x01\x02")
    assert reader.read(1) == b"\x01"
    with pytest.raises(ParseError, match="truncated"):
        reader.read(2)


def test_left_over_bytes_are_an_error():
    with pytest.raises(ParseError, match="^1 byte left over after parsing$"):
        parse_all(lambda reader: reader.read(2), b"abc")
    assert parse_all(ByteReader.read_var_bytes, var_bytes(b"abc")) == b"abc"


def test_a_huge_count_fails_before_anything_is_allocated():
    # A compact size claiming 2**64 - 1 items, followed by 3 bytes: impossible.
    reader = ByteReader(b"\xff" + b"\xff" * 8 + b"abc")
    with pytest.raises(ParseError, match=r"truncated: 18446744073709551615 items announced, at least 1 "
                                         r"bytes each, but only 3 bytes are left"):
        reader.read_count(min_item_size=1)


def test_base58check_decodes_the_address_of_bitcoins_genesis_coinbase():
    # The address the genesis block pays: version 0, then HASH160 of Satoshi's key
    # (https://en.bitcoin.it/wiki/Genesis_block).
    payload = base58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
    assert payload.hex() == "0062e907b15cbf27d5425399ebf6f0fb50ebb88f18"
    assert base58check_encode(payload) == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"


def test_base58check_keeps_leading_zero_bytes():
    assert base58check_encode(bytes(21)) == "1111111111111111111114oLvT2"
    assert base58check_decode("1111111111111111111114oLvT2") == bytes(21)


def test_base58check_catches_a_typo():
    with pytest.raises(ParseError, match="checksum"):
        base58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb")


def test_base58_refuses_characters_outside_its_alphabet():
    with pytest.raises(ParseError, match="not a base58 character"):
        base58check_decode("0OIl")


def test_parse_errors_count_in_english():
    with pytest.raises(ParseError, match="^2 bytes left over after parsing$"):
        parse_all(lambda reader: reader.read(1), b"abc")
    one_short = "^truncated: 1 item announced, at least 2 bytes each, but only 1 byte is left$"
    with pytest.raises(ParseError, match=one_short):
        ByteReader(b"\x01a").read_count(min_item_size=2)
    with pytest.raises(ParseError, match="^truncated data: wanted 1 byte, 0 left$"):
        ByteReader(b"").read(1)
