"""Tests for toycoin.merkle: Bitcoin's Merkle root, proofs, and the CVE-2012-2459 check."""

import pytest

from toycoin.encoding import sha256d
from toycoin.errors import ParseError, ValidationError
from toycoin.merkle import (
    MerkleProof, compute_merkle_root, make_proof, merkle_levels, merkle_parent, merkle_root,
    proof_from_levels,
)


def from_display(hex_text: str) -> bytes:
    """Block explorers show hashes byte-reversed; toycoin computes on internal order."""
    return bytes.fromhex(hex_text)[::-1]


# Block 100000 of Bitcoin's main chain, with 4 transactions
# (https://blockstream.info/block/000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506).
BLOCK_100000_TXIDS = [from_display(h) for h in (
    "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
    "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
    "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
    "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
)]
BLOCK_100000_MERKLE_ROOT = from_display(
    "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766")
# Bitcoin's genesis block has one transaction, so its merkle root is that txid.
GENESIS_MERKLE_ROOT = from_display("4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b")


def fake_txids(n: int) -> list[bytes]:
    return [sha256d(bytes([i])) for i in range(n)]


def test_root_of_bitcoin_block_100000():
    assert merkle_root(BLOCK_100000_TXIDS) == BLOCK_100000_MERKLE_ROOT


def test_root_of_one_transaction_is_its_txid():
    assert merkle_root([GENESIS_MERKLE_ROOT]) == GENESIS_MERKLE_ROOT


def test_odd_level_pairs_its_last_hash_with_itself():
    a, b, c = fake_txids(3)
    expected = merkle_parent(merkle_parent(a, b), merkle_parent(c, c))
    assert merkle_root([a, b, c]) == expected


def test_repeating_the_last_transactions_is_detected_as_mutation():
    # CVE-2012-2459: [a, b, c] and [a, b, c, c] have the same root; only the second is mutated.
    a, b, c = fake_txids(3)
    root, mutated = compute_merkle_root([a, b, c])
    assert not mutated
    assert compute_merkle_root([a, b, c, c]) == (root, True)
    six = fake_txids(6)
    assert compute_merkle_root(six + six[4:]) == (compute_merkle_root(six)[0], True)


def test_empty_list_has_no_root():
    with pytest.raises(ValueError):
        merkle_root([])


@pytest.mark.parametrize("n", range(1, 12))
def test_every_proof_verifies_for_every_size(n):
    txids = fake_txids(n)
    root = merkle_root(txids)
    for index, txid in enumerate(txids):
        proof = make_proof(txids, index)
        proof.verify(txid, root)
        assert MerkleProof.parse(proof.serialize()) == proof


@pytest.mark.parametrize("n", range(1, 34))
def test_a_proof_read_off_the_levels_is_the_proof_made_by_hashing(n):
    txids = fake_txids(n)
    levels = merkle_levels(txids)
    assert [proof_from_levels(levels, i) for i in range(n)] == [make_proof(txids, i) for i in range(n)]
    for index in (-1, n):
        with pytest.raises(IndexError):
            proof_from_levels(levels, index)


def test_proof_from_bitcoin_block_100000():
    proof = make_proof(BLOCK_100000_TXIDS, 2)
    assert proof.branch == (BLOCK_100000_TXIDS[3],
                            merkle_parent(BLOCK_100000_TXIDS[0], BLOCK_100000_TXIDS[1]))
    proof.verify(BLOCK_100000_TXIDS[2], BLOCK_100000_MERKLE_ROOT)


def test_proof_for_another_transaction_fails():
    proof = make_proof(BLOCK_100000_TXIDS, 2)
    with pytest.raises(ValidationError, match="does not lead to"):
        proof.verify(BLOCK_100000_TXIDS[1], BLOCK_100000_MERKLE_ROOT)


@pytest.mark.parametrize("forge, reason", [
    (lambda p: MerkleProof(4, 4, p.branch), "out of range"),
    (lambda p: MerkleProof(-1, 4, p.branch), "out of range"),
    (lambda p: MerkleProof(2, 0, p.branch), "impossible count"),
    (lambda p: MerkleProof(2, 4, p.branch[:1]), "needs exactly 2"),
    (lambda p: MerkleProof(2, 4, p.branch + p.branch[:1]), "needs exactly 2"),
    (lambda p: MerkleProof(2, 4, (p.branch[0][:31], p.branch[1])), "32 bytes"),
    (lambda p: MerkleProof(2, 8, p.branch + p.branch[:1]), "does not lead to"),
])
def test_forged_proofs_are_rejected_with_a_reason(forge, reason):
    proof = forge(make_proof(BLOCK_100000_TXIDS, 2))
    with pytest.raises(ValidationError, match=reason):
        proof.verify(BLOCK_100000_TXIDS[2], BLOCK_100000_MERKLE_ROOT)


def test_proof_of_a_phantom_duplicate_is_rejected():
    # In [a, b, c] a liar claims "c is also at index 3 of 4": same root, but c pairs with itself
    # where a real fourth transaction would stand, so the proof is refused.
    a, b, c = fake_txids(3)
    root = merkle_root([a, b, c])
    forged = MerkleProof(3, 4, (c, merkle_parent(a, b)))
    assert forged.branch == make_proof([a, b, c, c], 3).branch
    with pytest.raises(ValidationError, match="identical sibling"):
        forged.verify(c, root)


def test_odd_level_duplicate_must_be_the_hash_itself():
    a, b, c = fake_txids(3)
    forged = MerkleProof(2, 3, (a, merkle_parent(a, b)))
    with pytest.raises(ValidationError, match="paired with itself"):
        forged.verify(c, merkle_root([a, b, c]))


def test_proof_parse_rejects_truncated_bytes():
    raw = make_proof(BLOCK_100000_TXIDS, 1).serialize()
    with pytest.raises(ParseError):
        MerkleProof.parse(raw[:-1])


def test_levels_go_from_the_leaves_to_the_root():
    txids = fake_txids(5)
    levels = merkle_levels(txids)
    assert [len(level) for level in levels] == [5, 3, 2, 1]
    assert levels[-1] == [merkle_root(txids)] and levels[0] == txids
