"""Merkle trees: one 32-byte hash that commits to every transaction in a block.

Hash the txids in pairs, then the results in pairs, up to a single root; the
block header stores only that root. Anyone holding a txid and the sibling
hashes on its path to the root (a Merkle proof, about log2(n) hashes) can check
that the transaction is in the block without downloading the block. Light
wallets (SPV, chapter 06) rely on it.

    merkle_parent        sha256d(left + right)
    compute_merkle_root  the root, and whether the list looks "mutated" (below)
    merkle_root          the root of a non-empty list of txids
    merkle_levels        every level of the tree, leaves first (for pictures)
    MerkleProof          (index, tx_count, branch); verify(txid, merkle_root)
    make_proof           the proof for the transaction at an index
    proof_from_levels    the same proof, read off levels already built (no hashing)

Bitcoin duplicates the last hash of a level with an odd count. So the lists
[a, b, c] and [a, b, c, c] have the same root (CVE-2012-2459): an attacker
could relay a copy of a valid block with a transaction repeated, and a node
that rejected that copy as invalid might wrongly mark the block's hash as bad.
Bitcoin Core's ComputeMerkleRoot reports ``mutated`` when it meets two
identical sibling hashes; toycoin does the same, and toycoin.block rejects a
mutated transaction list.

Simplifications compared with Bitcoin: a proof is the plain branch of sibling
hashes (as Electrum servers send it), not Bitcoin's partial Merkle tree
(CPartialMerkleTree in a merkleblock message, BIP37). MerkleProof.verify is
strict because proofs come from peers that may lie: the index must be in range,
the branch must have exactly the length a tree of tx_count leaves has, every
item is 32 bytes, and an odd level's duplicate must really be a duplicate.

Reference: https://en.bitcoin.it/wiki/Protocol_documentation#Merkle_Trees
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from toycoin.encoding import ByteReader, compact_size, parse_all, sha256d
from toycoin.errors import ValidationError

HASH_SIZE = 32
MAX_TX_COUNT = 0xFFFF_FFFF  # tx_count is written in 4 bytes


def merkle_parent(left: bytes, right: bytes) -> bytes:
    return sha256d(left + right)


def compute_merkle_root(hashes: Sequence[bytes]) -> tuple[bytes, bool]:
    """The Merkle root of ``hashes``, and True if two identical siblings were paired.

    Bitcoin Core's ComputeMerkleRoot(leaves, &mutated). The last hash of an odd
    level is paired with itself; that one is expected and is not a mutation.
    """
    if not hashes:
        raise ValueError("a Merkle tree needs at least one hash")
    level = list(hashes)
    mutated = False
    while len(level) > 1:
        for i in range(0, len(level) - 1, 2):
            if level[i] == level[i + 1]:
                mutated = True
        if len(level) % 2:
            level.append(level[-1])
        level = [merkle_parent(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0], mutated


def merkle_root(txids: Sequence[bytes]) -> bytes:
    """The Merkle root of a block's txids (internal byte order)."""
    return compute_merkle_root(txids)[0]


def merkle_levels(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first and the root last (odd levels not padded)."""
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        level = levels[-1] + levels[-1][-1:] * (len(levels[-1]) % 2)
        levels.append([merkle_parent(level[i], level[i + 1]) for i in range(0, len(level), 2)])
    return levels


def tree_depth(tx_count: int) -> int:
    """How many levels sit above the leaves: the length of every proof's branch."""
    return (tx_count - 1).bit_length()


@dataclass(frozen=True)
class MerkleProof:
    """The path from one transaction to the root: its index, the leaf count, the siblings."""

    index: int
    tx_count: int
    branch: tuple[bytes, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "branch", tuple(self.branch))

    def compute_root(self, txid: bytes) -> bytes:
        """The root this proof leads to from ``txid``; ValidationError if the proof is malformed."""
        self._check_shape(txid)
        node, position, width = txid, self.index, self.tx_count
        for level, sibling in enumerate(self.branch):
            is_odd_last = position == width - 1 and width % 2 == 1
            if is_odd_last and sibling != node:
                raise ValidationError(
                    f"proof level {level}: the last hash of an odd level must be paired with itself")
            if not is_odd_last and sibling == node:
                raise ValidationError(
                    f"proof level {level}: two identical sibling hashes (a mutated tree, CVE-2012-2459)")
            node = merkle_parent(node, sibling) if position % 2 == 0 else merkle_parent(sibling, node)
            position, width = position // 2, (width + 1) // 2
        return node

    def verify(self, txid: bytes, merkle_root: bytes) -> None:
        """Return if ``txid`` is in the block with this ``merkle_root``; else raise ValidationError."""
        if self.compute_root(txid) != merkle_root:
            raise ValidationError("Merkle proof does not lead to the block's merkle root")

    def _check_shape(self, txid: bytes) -> None:
        if not 1 <= self.tx_count <= MAX_TX_COUNT:
            raise ValidationError(f"proof claims an impossible count of {self.tx_count} transactions")
        if not 0 <= self.index < self.tx_count:
            raise ValidationError(
                f"proof index {self.index} is out of range for {self.tx_count} transactions")
        depth = tree_depth(self.tx_count)
        if len(self.branch) != depth:
            raise ValidationError(f"proof has {len(self.branch)} hashes; a tree of "
                                  f"{self.tx_count} transactions needs exactly {depth}")
        if len(txid) != HASH_SIZE or any(len(item) != HASH_SIZE for item in self.branch):
            raise ValidationError("every hash in a Merkle proof must be 32 bytes")

    def serialize(self) -> bytes:
        return (self.index.to_bytes(4, "little") + self.tx_count.to_bytes(4, "little")
                + compact_size(len(self.branch)) + b"".join(self.branch))

    @classmethod
    def read_from(cls, reader: ByteReader) -> MerkleProof:
        index, tx_count = reader.read_int(4), reader.read_int(4)
        branch = [reader.read(HASH_SIZE) for _ in range(reader.read_count(HASH_SIZE))]
        return cls(index, tx_count, tuple(branch))

    @classmethod
    def parse(cls, data: bytes) -> MerkleProof:
        return parse_all(cls.read_from, data)


def proof_from_levels(levels: Sequence[Sequence[bytes]], index: int) -> MerkleProof:
    """The proof for leaf ``index`` read off a tree ``merkle_levels`` built: no hashing at all,
    so a node that keeps a block's levels answers each proof in it for the price of a lookup."""
    if not 0 <= index < len(levels[0]):
        raise IndexError(f"no transaction at index {index} of {len(levels[0])}")
    branch, position = [], index
    for level in levels[:-1]:
        sibling = position ^ 1  # past the end: the odd last hash is paired with itself
        branch.append(level[sibling] if sibling < len(level) else level[position])
        position //= 2
    return MerkleProof(index, len(levels[0]), tuple(branch))


def make_proof(txids: Sequence[bytes], index: int) -> MerkleProof:
    """The proof that ``txids[index]`` is in the tree of ``txids``."""
    if not 0 <= index < len(txids):
        raise IndexError(f"no transaction at index {index} of {len(txids)}")
    level, position, branch = list(txids), index, []
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        branch.append(level[position ^ 1])  # the sibling: flip the lowest bit
        level = [merkle_parent(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        position //= 2
    return MerkleProof(index, len(txids), tuple(branch))
