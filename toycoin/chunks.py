"""Chunks: a large object cut into equal pieces, each checkable on its own against one root.

A file shared by a swarm (chapter 11) travels in pieces, from many peers, in
no fixed order. A downloader must be able to check each piece the moment it
arrives, from whoever sent it, without trusting that peer: so the object is
named by the Merkle root of its chunk hashes (chapter 06's tree, reused), and
each chunk travels with its Merkle proof.

    chunk_hash(index, data)    the leaf of one chunk: sha256d(index + data)
    Manifest                   what a downloader knows before it starts: root, size, chunk size
    ChunkedObject              the object itself: its chunks, its manifest, the proof of each chunk
    verify_chunk(manifest, index, data, proof)   ValidationError naming what is wrong

A leaf hashes the chunk's index with its bytes, so two equal chunks (a file of
zeros) still have different leaves: the Merkle code refuses two identical
sibling hashes (CVE-2012-2459), and an index cannot be swapped for another.

How this differs from BitTorrent: a .torrent file (BEP 3) lists the SHA-1 hash
of every piece, and BitTorrent v2 (BEP 52) names a file by the root of a
SHA-256 Merkle tree of 16 KiB blocks, as here; toycoin's manifest carries no
file name, no tracker and no list of hashes, only the root.
"""

from __future__ import annotations

from dataclasses import dataclass

from toycoin.encoding import sha256d
from toycoin.errors import ValidationError
from toycoin.merkle import MerkleProof, make_proof, merkle_root

MAX_CHUNK_SIZE = 64 * 1024  # a chunk message stays far below MAX_PROTOCOL_MESSAGE_LENGTH
MAX_CHUNKS = 4096  # chunks of one object (a Merkle proof of at most 12 hashes)


def chunk_hash(index: int, data: bytes) -> bytes:
    """The Merkle leaf of chunk ``index``: its position and its bytes, hashed together."""
    return sha256d(index.to_bytes(4, "little") + data)


@dataclass(frozen=True)
class Manifest:
    """What a downloader is given: the root names the object, the sizes say how it is cut."""

    root: bytes
    size: int  # bytes in the whole object
    chunk_size: int

    def __post_init__(self) -> None:
        if len(self.root) != 32:
            raise ValueError("a manifest's root is a 32-byte hash")
        if not 0 < self.chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"a chunk is 1 to {MAX_CHUNK_SIZE:,} bytes")
        if not 0 < self.size <= MAX_CHUNKS * self.chunk_size:
            raise ValueError(f"an object is 1 byte to {MAX_CHUNKS:,} chunks")

    @property
    def chunk_count(self) -> int:
        return -(-self.size // self.chunk_size)  # ceiling division

    def chunk_length(self, index: int) -> int:
        """How long chunk ``index`` must be (the last one may be shorter)."""
        if not 0 <= index < self.chunk_count:
            raise ValidationError(f"chunk {index} does not exist: the object has {self.chunk_count} chunks")
        return min(self.chunk_size, self.size - index * self.chunk_size)

    @property
    def root_hex(self) -> str:
        return self.root[::-1].hex()


class ChunkedObject:
    """An object cut into chunks; held whole by a seeder."""

    def __init__(self, data: bytes, chunk_size: int) -> None:
        if not data:
            raise ValueError("an empty object has no chunks")
        self.data = data
        self.chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]
        self.leaves = [chunk_hash(i, chunk) for i, chunk in enumerate(self.chunks)]
        self.manifest = Manifest(merkle_root(self.leaves), len(data), chunk_size)
        self._proofs: dict[int, MerkleProof] = {}

    @classmethod
    def from_chunks(cls, chunks: dict[int, bytes], manifest: Manifest) -> ChunkedObject:
        """Reassemble a downloaded object; ValidationError if a chunk is missing or the root differs."""
        missing = sorted(set(range(manifest.chunk_count)) - set(chunks))
        if missing:
            raise ValidationError(f"cannot reassemble: {len(missing)} chunks missing, first {missing[0]}")
        whole = cls(b"".join(chunks[i] for i in range(manifest.chunk_count)), manifest.chunk_size)
        if whole.manifest != manifest:
            raise ValidationError("the reassembled object does not have the manifest's root")
        return whole

    def proof(self, index: int) -> MerkleProof:
        """The Merkle proof of chunk ``index`` (computed once, then kept)."""
        if index not in self._proofs:
            self._proofs[index] = make_proof(self.leaves, index)
        return self._proofs[index]


def verify_chunk(manifest: Manifest, index: int, data: bytes, proof: MerkleProof) -> None:
    """Return if ``data`` is chunk ``index`` of the object; else ValidationError saying why."""
    expected = manifest.chunk_length(index)
    if len(data) != expected:
        raise ValidationError(f"chunk {index} has {len(data)} bytes, the manifest says {expected}")
    if proof.index != index or proof.tx_count != manifest.chunk_count:
        raise ValidationError(f"the proof is for chunk {proof.index} of {proof.tx_count}, "
                              f"not chunk {index} of {manifest.chunk_count}")
    try:
        root = proof.compute_root(chunk_hash(index, data))
    except ValidationError as error:
        raise ValidationError(f"chunk {index} comes with a malformed proof: {error}") from None
    if root != manifest.root:
        raise ValidationError(f"chunk {index} does not match the object's Merkle root")
