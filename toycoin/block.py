"""Blocks: a batch of transactions, under an 80-byte header that names its parent.

The header is what a node hashes, and what a light wallet downloads: it holds
the hash of the previous block's header (so blocks form a chain, each one
committing to all history before it) and the Merkle root of the block's
transactions (so the 80 bytes commit to every transaction inside).

    BlockHeader        Bitcoin's own 80-byte layout; .hash (sha256d), .hash_hex
    Block              a header and its transactions; serialize / parse / read_from
    check_merkle_root  ValidationError unless the header's root matches the
                       transactions, and the list is not mutated (CVE-2012-2459)
    make_genesis       the first block: one coinbase paying a chosen address

The header layout is exactly Bitcoin's, so toycoin hashes Bitcoin's real
genesis header to Bitcoin's real genesis hash (tests/test_block.py):

    version          int32, little-endian   [nVersion]
    prev_block_hash  32 bytes               [hashPrevBlock]
    merkle_root      32 bytes               [hashMerkleRoot]
    timestamp        uint32, little-endian  [nTime]
    bits             uint32, little-endian  [nBits]
    nonce            uint32, little-endian  [nNonce]

``bits`` and ``nonce`` are the proof of work (toycoin.pow checks them, by
the rules of the block's network). Simplifications compared with Bitcoin: no
timestamp rules; no block size or weight limit. A block is a header, a compact-size
count, and toycoin transactions (not Bitcoin's transaction format).

Reference: https://developer.bitcoin.org/reference/block_chain.html#block-headers
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property

from toycoin.encoding import ByteReader, compact_size, parse_all, sha256d
from toycoin.errors import ValidationError
from toycoin.merkle import compute_merkle_root, merkle_root
from toycoin.params import BLOCK_BITS, BLOCK_VERSION
from toycoin.tx import Tx, make_coinbase

HEADER_FORMAT = struct.Struct("<i32s32sIII")  # the six fields above, 80 bytes
HEADER_SIZE = HEADER_FORMAT.size
TX_MIN_SIZE = 10  # version, two empty counts, locktime
NULL_HASH = bytes(32)


@dataclass(frozen=True, repr=False)
class BlockHeader:
    """The 80 bytes that identify a block. Hashes are 32 bytes, in internal byte order."""

    version: int
    prev_block_hash: bytes
    merkle_root: bytes
    timestamp: int
    bits: int
    nonce: int

    def __post_init__(self) -> None:
        # Checked here so serialize() never fails with a bare struct.error.
        if len(self.prev_block_hash) != 32 or len(self.merkle_root) != 32:
            raise ValueError("prev_block_hash and merkle_root are 32 bytes each")
        if not -2**31 <= self.version < 2**31:
            raise ValueError("version is a signed 4-byte integer")
        if not all(0 <= n < 2**32 for n in (self.timestamp, self.bits, self.nonce)):
            raise ValueError("timestamp, bits and nonce are unsigned 4-byte integers")

    def serialize(self) -> bytes:
        return HEADER_FORMAT.pack(self.version, self.prev_block_hash, self.merkle_root,
                                  self.timestamp, self.bits, self.nonce)

    @classmethod
    def read_from(cls, reader: ByteReader) -> BlockHeader:
        return cls(*HEADER_FORMAT.unpack(reader.read(HEADER_SIZE)))

    @classmethod
    def parse(cls, data: bytes) -> BlockHeader:
        return parse_all(cls.read_from, data)

    def __repr__(self) -> str:
        # Hashes shown as Bitcoin displays them (byte-reversed hex).
        return (f"BlockHeader(hash_hex={self.hash_hex!r}, "
                f"prev_block_hash_hex={self.prev_block_hash[::-1].hex()!r}, "
                f"merkle_root_hex={self.merkle_root[::-1].hex()!r}, version={self.version}, "
                f"timestamp={self.timestamp}, bits={self.bits:#010x}, nonce={self.nonce})")

    @cached_property
    def hash(self) -> bytes:
        """sha256d of the 80 bytes: the block's name, in internal byte order."""
        return sha256d(self.serialize())

    @property
    def hash_hex(self) -> str:
        """The hash as Bitcoin displays it: byte-reversed hex (leading zeros in Bitcoin)."""
        return self.hash[::-1].hex()


@dataclass(frozen=True, repr=False)
class Block:
    """A header and the transactions it commits to; the first one is the coinbase."""

    header: BlockHeader
    txs: tuple[Tx, ...]

    def __repr__(self) -> str:
        return f"Block(hash_hex={self.hash_hex!r}, {len(self.txs)} txs)"

    def __post_init__(self) -> None:
        object.__setattr__(self, "txs", tuple(self.txs))

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def hash_hex(self) -> str:
        return self.header.hash_hex

    def serialize(self) -> bytes:
        return (self.header.serialize() + compact_size(len(self.txs))
                + b"".join(tx.serialize() for tx in self.txs))

    @classmethod
    def read_from(cls, reader: ByteReader) -> Block:
        header = BlockHeader.read_from(reader)
        txs = [Tx.read_from(reader) for _ in range(reader.read_count(TX_MIN_SIZE))]
        return cls(header, txs)

    @classmethod
    def parse(cls, data: bytes) -> Block:
        return parse_all(cls.read_from, data)


def check_merkle_root(block: Block) -> None:
    """Raise ValidationError unless the header's merkle root commits to exactly these txs."""
    if not block.txs:
        raise ValidationError("a block must contain at least one transaction (its coinbase)")
    root, mutated = compute_merkle_root([tx.txid for tx in block.txs])
    if mutated:
        raise ValidationError("transaction list is mutated: it repeats transactions "
                              "without changing the merkle root (CVE-2012-2459)")
    if root != block.header.merkle_root:
        raise ValidationError("merkle root in the header does not match the transactions")


def make_block(prev_block_hash: bytes, txs: list[Tx], timestamp: int, bits: int = BLOCK_BITS) -> Block:
    """A block on top of ``prev_block_hash`` with a header that commits to ``txs`` (nonce 0)."""
    root = merkle_root([tx.txid for tx in txs])
    header = BlockHeader(BLOCK_VERSION, prev_block_hash, root, timestamp, bits, 0)
    return Block(header, txs)


def make_genesis(address: str, amount: int, timestamp: int) -> Block:
    """The first block: no parent, and one coinbase (height 0) paying ``amount`` to ``address``."""
    return make_block(NULL_HASH, [make_coinbase(0, address, amount)], timestamp)
