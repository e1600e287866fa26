"""Swarm messages: which chunks a peer holds, a request for one, and the chunk with its proof.

The messages of a swarm peer (toycoin.swarm), framed like every other
message (toycoin.wire) and found only through the swarm's own registry.
Every message names the object by its Merkle root (toycoin.chunks).

    Bitfield(root, have)        sent once a connection is up: the indexes of the chunks I hold
    Have(root, index)           I have just finished chunk ``index`` (sent to every peer)
    GetChunk(root, index)       please send me chunk ``index``
    Chunk(root, index, data, proof)   the chunk and its Merkle proof, checked before it is kept

BitTorrent's peer wire protocol (BEP 3) has the same four ideas: bitfield,
have, request and piece. Simplifications: no choke/unchoke or interested
messages (every peer serves whoever asks, one chunk at a time), a whole chunk
per request (BitTorrent asks for 16 KiB blocks of a piece).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from toycoin.chunks import MAX_CHUNK_SIZE, MAX_CHUNKS
from toycoin.encoding import ByteReader, var_bytes
from toycoin.errors import ParseError
from toycoin.merkle import MerkleProof
from toycoin.message import Message, short_hex

ROOT_SIZE = 32


def _read_index(reader: ByteReader) -> int:
    index = reader.read_int(4)
    if index >= MAX_CHUNKS:
        raise ParseError(f"chunk index {index} is beyond the largest object ({MAX_CHUNKS} chunks)")
    return index


@dataclass(frozen=True, repr=False)
class Bitfield(Message):
    """The chunks a peer holds, as a set of indexes (a bit per chunk on the wire)."""

    command: ClassVar[bytes] = b"bitfield"
    root: bytes
    have: frozenset[int]
    chunk_count: int

    def serialize(self) -> bytes:
        bits = bytearray(-(-self.chunk_count // 8))
        for index in self.have:
            bits[index // 8] |= 1 << (index % 8)
        return self.root + self.chunk_count.to_bytes(4, "little") + bytes(bits)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Bitfield:
        root, count = reader.read(ROOT_SIZE), reader.read_int(4)
        if not 0 < count <= MAX_CHUNKS:
            raise ParseError(f"bitfield for {count} chunks (1 to {MAX_CHUNKS})")
        bits = reader.read(-(-count // 8))
        have = frozenset(i for i in range(count) if bits[i // 8] >> (i % 8) & 1)
        if any(bits[i // 8] >> (i % 8) & 1 for i in range(count, 8 * len(bits))):
            raise ParseError("bitfield has bits set beyond its chunk count")
        return cls(root, have, count)

    def __repr__(self) -> str:
        return f"bitfield({short_hex(self.root)}, {len(self.have)} of {self.chunk_count})"


@dataclass(frozen=True, repr=False)
class Have(Message):
    """I now hold chunk ``index`` of the object ``root``."""

    command: ClassVar[bytes] = b"have"
    root: bytes
    index: int

    def serialize(self) -> bytes:
        return self.root + self.index.to_bytes(4, "little")

    @classmethod
    def read_from(cls, reader: ByteReader) -> Have:
        return cls(reader.read(ROOT_SIZE), _read_index(reader))

    def __repr__(self) -> str:
        return f"{self.command.decode()}(chunk {self.index})"


@dataclass(frozen=True, repr=False)
class GetChunk(Have):
    """Please send me chunk ``index`` of ``root``."""

    command: ClassVar[bytes] = b"getchunk"


@dataclass(frozen=True, repr=False)
class Chunk(Message):
    """One chunk and the Merkle proof that it belongs to ``root`` at ``index``."""

    command: ClassVar[bytes] = b"chunk"
    root: bytes
    index: int
    data: bytes
    proof: MerkleProof

    def serialize(self) -> bytes:
        return self.root + self.index.to_bytes(4, "little") + var_bytes(self.data) + self.proof.serialize()

    @classmethod
    def read_from(cls, reader: ByteReader) -> Chunk:
        root, index = reader.read(ROOT_SIZE), _read_index(reader)
        size = reader.read_compact_size()
        if size > MAX_CHUNK_SIZE:  # checked before the bytes are read
            raise ParseError(f"chunk of {size:,} bytes is larger than {MAX_CHUNK_SIZE:,}")
        data = reader.read(size)
        return cls(root, index, data, MerkleProof.read_from(reader))

    def __repr__(self) -> str:
        return f"chunk({self.index}, {len(self.data)} bytes)"

