"""Encoding: how toycoin turns numbers and hashes into bytes, and back.

Everything that is hashed, signed or sent to a peer is first written as bytes,
in one fixed way, so that every node computes the same hash for the same thing.
This module holds the few building blocks the other modules share:

    sha256, sha256d        SHA-256, and SHA-256 applied twice (Bitcoin's Hash())
    compact_size           Bitcoin's variable-length integer: 1, 3, 5 or 9 bytes
    var_bytes              a byte string prefixed with its compact-size length
    ByteReader             reads bytes from the front of a buffer; every way a
                           read can go wrong becomes a ParseError
    parse_all              runs a read_from over all of a buffer, refusing left-overs
    base58check_encode     human-readable text with a 4-byte checksum, for addresses
    base58check_decode

Differences from Bitcoin: none in the formats themselves; Bitcoin Core calls
these WriteCompactSize/ReadCompactSize, EncodeBase58Check/DecodeBase58Check.
One addition: ByteReader.read_count refuses a count of items that the bytes
left could not possibly hold, so a hostile length cannot make a parser build a
huge list before it notices the data is short.

Reference: https://en.bitcoin.it/wiki/Protocol_documentation#Variable_length_integer
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from toycoin.errors import ParseError

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BASE58_INDEX = {char: value for value, char in enumerate(BASE58_ALPHABET)}
# The longest text base58check_decode accepts; toycoin only decodes addresses (34 chars).
MAX_BASE58_LENGTH = 100

T = TypeVar("T")


def sha256(data: bytes) -> bytes:
    """One round of SHA-256."""
    return hashlib.sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    """SHA-256 of SHA-256: Bitcoin's hash for txids, block hashes and Merkle nodes."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def compact_size(n: int) -> bytes:
    """Bitcoin's variable-length integer: small numbers take one byte."""
    if n < 0:
        raise ValueError(f"a compact size cannot be negative: {n}")
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFF_FFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def var_bytes(data: bytes) -> bytes:
    """A byte string prefixed with its length, so a reader knows where it ends."""
    return compact_size(len(data)) + data


class ByteReader:
    """Reads a byte string from the front, raising ParseError instead of running off the end.

    Parsers read with it and call ``finish()`` at the end, which fails if bytes
    are left over: each object has exactly one encoding.
    """

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def read(self, n: int) -> bytes:
        """The next n bytes; ParseError if fewer are left."""
        if n < 0 or n > self.remaining:
            raise ParseError(f"truncated data: wanted {_plural(n, 'byte')}, {self.remaining} left")
        chunk = self._data[self._pos:self._pos + n]
        self._pos += n
        return chunk

    def read_int(self, size: int, signed: bool = False) -> int:
        """A little-endian integer of ``size`` bytes, as Bitcoin writes them."""
        return int.from_bytes(self.read(size), "little", signed=signed)

    def read_compact_size(self) -> int:
        """A compact-size integer; the shortest encoding is required, as in Bitcoin Core."""
        first = self.read(1)[0]
        if first < 0xFD:
            return first
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        n = self.read_int(size)
        if n < {2: 0xFD, 4: 0x1_0000, 8: 0x1_0000_0000}[size]:
            raise ParseError("non-canonical compact size")
        return n

    def read_count(self, min_item_size: int) -> int:
        """A count of items that each take at least ``min_item_size`` bytes.

        Checked against the bytes left before any item is read, so a forged
        count of a billion cannot make the parser allocate a billion of anything.
        """
        count = self.read_compact_size()
        if count * min_item_size > self.remaining:
            raise ParseError(f"truncated: {_plural(count, 'item')} announced, at least {min_item_size} "
                             f"bytes each, but only {_plural(self.remaining, 'byte')} "
                             f"{'is' if self.remaining == 1 else 'are'} left")
        return count

    def read_var_bytes(self) -> bytes:
        """A byte string prefixed with its compact-size length."""
        return self.read(self.read_compact_size())

    def finish(self) -> None:
        """Fail if any bytes were not read: left-over bytes are an error, not padding."""
        if self.remaining:
            raise ParseError(f"{_plural(self.remaining, 'byte')} left over after parsing")


def _plural(n: int, noun: str) -> str:
    """'1 byte', '2 bytes': error messages count in English."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def parse_all(read_from: Callable[[ByteReader], T], data: bytes) -> T:
    """Read one object with ``read_from``; ParseError unless it uses every byte of ``data``.

    Each ``Cls.parse(data)`` in toycoin is ``parse_all(Cls.read_from, data)``.
    """
    reader = ByteReader(data)
    obj = read_from(reader)
    reader.finish()
    return obj


def base58_encode(data: bytes) -> str:
    """Base58: like base64 without the characters people confuse (0, O, I, l, +, /)."""
    n = int.from_bytes(data, "big")
    chars = []
    while n:
        n, digit = divmod(n, 58)
        chars.append(BASE58_ALPHABET[digit])
    leading_zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading_zeros + "".join(reversed(chars))


def base58_decode(text: str) -> bytes:
    if len(text) > MAX_BASE58_LENGTH:
        raise ParseError(f"base58 text longer than {MAX_BASE58_LENGTH} characters")
    n = 0
    for char in text:
        if char not in BASE58_INDEX:
            raise ParseError(f"{char!r} is not a base58 character")
        n = n * 58 + BASE58_INDEX[char]
    leading_ones = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x00" * leading_ones + body


def base58check_encode(payload: bytes) -> str:
    """Base58 of the payload followed by the first 4 bytes of its sha256d, a typo check."""
    return base58_encode(payload + sha256d(payload)[:4])


def base58check_decode(text: str) -> bytes:
    """The payload of a base58check string; ParseError if the checksum does not match."""
    raw = base58_decode(text)
    if len(raw) < 4:
        raise ParseError("base58check text too short to hold a checksum")
    payload, checksum = raw[:-4], raw[-4:]
    if sha256d(payload)[:4] != checksum:
        raise ParseError("base58check checksum does not match (a typo?)")
    return payload
