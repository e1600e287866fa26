"""Tests for toycoin.block: Bitcoin's 80-byte header, blocks, the mutation check, genesis."""

import pytest

from toycoin.block import Block, BlockHeader, check_merkle_root, make_block, make_genesis
from toycoin.encoding import sha256d
from toycoin.errors import ParseError, ValidationError
from toycoin.keys import PrivateKey
from toycoin.merkle import merkle_root
from toycoin.params import BLOCK_BITS
from toycoin.tx import Tx, TxIn, TxOut, OutPoint, make_coinbase


def from_display(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)[::-1]


# Bitcoin's genesis block (https://en.bitcoin.it/wiki/Genesis_block): its header fields,
# its hash, and the raw bytes of its only transaction, the coinbase ("The Times 03/Jan/2009").
GENESIS_HASH = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
GENESIS_MERKLE_ROOT = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
GENESIS_COINBASE = bytes.fromhex(
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d"
    "0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66"
    "207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe55"
    "48271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba"
    "0b8d578a4c702b6bf11d5fac00000000")

# The 80-byte header of Bitcoin block 100000 and its four txids, as explorers show them
# (e.g. https://mempool.space/block/000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506).
BLOCK_100000_HEADER = bytes.fromhex(
    "0100000050120119172a610421a6c3011dd330d9df07b63616c2cc1f1cd00200000000006657a9252aacd5c0b29409"
    "96ecff952228c3067cc38d4885efb5a4ac4247e9f337221b4d4c86041b0f2b5710")
BLOCK_100000_HASH = "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506"
BLOCK_100000_TXIDS = [from_display(h) for h in (
    "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
    "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
    "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
    "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
)]

ALICE = PrivateKey.from_seed("alice")


def test_bitcoins_genesis_header_hashes_to_bitcoins_genesis_hash():
    header = BlockHeader(version=1, prev_block_hash=bytes(32),
                         merkle_root=from_display(GENESIS_MERKLE_ROOT), timestamp=1231006505,
                         bits=0x1D00FFFF, nonce=2083236893)
    assert len(header.serialize()) == 80
    assert header.hash_hex == GENESIS_HASH
    assert header.hash == from_display(GENESIS_HASH)


def test_genesis_merkle_root_is_the_txid_of_its_coinbase():
    # One transaction: the root is its txid, the sha256d of its raw bytes.
    txid = sha256d(GENESIS_COINBASE)
    assert txid == from_display(GENESIS_MERKLE_ROOT)
    assert merkle_root([txid]) == txid


def test_real_header_of_block_100000_parses_and_commits_to_its_txids():
    header = BlockHeader.parse(BLOCK_100000_HEADER)
    assert (header.version, header.timestamp, header.bits) == (1, 1293623863, 0x1B04864C)
    assert header.hash_hex == BLOCK_100000_HASH
    assert header.serialize() == BLOCK_100000_HEADER
    assert merkle_root(BLOCK_100000_TXIDS) == header.merkle_root


def test_header_parse_needs_exactly_80_bytes():
    with pytest.raises(ParseError):
        BlockHeader.parse(BLOCK_100000_HEADER[:79])
    with pytest.raises(ParseError):
        BlockHeader.parse(BLOCK_100000_HEADER + b"\x00")


def test_header_fields_must_fit_their_sizes():
    with pytest.raises(ValueError):
        BlockHeader(1, bytes(31), bytes(32), 0, 0, 0)
    with pytest.raises(ValueError):
        BlockHeader(1, bytes(32), bytes(32), 2**32, 0, 0)


def test_make_genesis_builds_one_coinbase_paying_the_address():
    genesis = make_genesis(ALICE.address, 100, timestamp=1_700_000_000)
    assert genesis.header.prev_block_hash == bytes(32)
    assert genesis.header.bits == BLOCK_BITS
    [coinbase] = genesis.txs
    assert coinbase.is_coinbase and coinbase.coinbase_height == 0
    assert coinbase.outputs == (TxOut(100, ALICE.address),)
    assert genesis.header.merkle_root == coinbase.txid
    check_merkle_root(genesis)


def test_block_round_trip():
    genesis = make_genesis(ALICE.address, 100, timestamp=1_700_000_000)
    spend = Tx([TxIn(OutPoint(genesis.txs[0].txid, 0), b"s" * 64, b"k" * 33)],
               [TxOut(100, ALICE.address)])
    block = make_block(genesis.hash, [make_coinbase(1, ALICE.address, 50), spend], 1_700_000_600)
    assert Block.parse(block.serialize()) == block
    assert block.hash == block.header.hash and block.hash_hex == block.header.hash_hex


def test_repeated_transactions_are_rejected_even_though_the_root_matches():
    # CVE-2012-2459: [coinbase, a, b] and [coinbase, a, b, b] share a merkle root.
    txs = [make_coinbase(1, ALICE.address, 50), make_coinbase(2, ALICE.address, 50),
           make_coinbase(3, ALICE.address, 50)]
    block = make_block(bytes(32), txs, 0)
    check_merkle_root(block)
    mutated = Block(block.header, [*txs, txs[-1]])
    with pytest.raises(ValidationError, match="mutated"):
        check_merkle_root(mutated)


def test_header_must_commit_to_the_transactions():
    block = make_block(bytes(32), [make_coinbase(1, ALICE.address, 50)], 0)
    other = Block(block.header, [make_coinbase(1, ALICE.address, 51)])
    with pytest.raises(ValidationError, match="does not match"):
        check_merkle_root(other)
    with pytest.raises(ValidationError, match="at least one transaction"):
        check_merkle_root(Block(block.header, []))
