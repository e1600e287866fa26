"""Wallet messages: the questions a wallet asks a full node, and their answers.

toycoin's own messages, not Bitcoin's: a wallet of chapter 03 asks a node
which coins an address owns, and a light wallet of chapter 06 asks for the
Merkle proof that a transaction is in a block. Built like every message
(toycoin.message) and found only through a registry of toycoin.wire.

    GetUtxos, Utxos          a wallet asks which coins an address has
    GetProof, Proof, NoProof a light wallet asks for a Merkle proof that a transaction is in a block

Bitcoin has no such messages: BIP64's getutxos asked by outpoint and is gone;
real light wallets use Bloom filters (BIP37's merkleblock) or compact block
filters (BIP157/158), or ask an Electrum-style server, whose get_merkle
answer is what proof is shaped like.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from toycoin import params
from toycoin.encoding import ByteReader
from toycoin.errors import ParseError
from toycoin.keys import PUBKEY_HASH_SIZE, address_to_pubkey_hash, make_address
from toycoin.merkle import MerkleProof
from toycoin.message import Message, read_list, short_hex, write_list
from toycoin.tx import OUTPOINT_SIZE, TXOUT_SIZE, OutPoint, Tx, TxOut

# --- coins --------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class GetUtxos(Message):
    """A wallet asks which unspent outputs an address owns."""

    command: ClassVar[bytes] = b"getutxos"
    address: str

    def serialize(self) -> bytes:
        return address_to_pubkey_hash(self.address)

    @classmethod
    def read_from(cls, reader: ByteReader) -> GetUtxos:
        return cls(make_address(reader.read(PUBKEY_HASH_SIZE)))

    def __repr__(self) -> str:
        return f"getutxos({self.address})"


def _read_coin(reader: ByteReader) -> tuple[OutPoint, TxOut]:
    return OutPoint.read_from(reader), TxOut.read_from(reader)


@dataclass(frozen=True, repr=False)
class Utxos(Message):
    """The coins of an address, as the node's ledger sees them at ``height``."""

    command: ClassVar[bytes] = b"utxos"
    address: str
    height: int
    tip_hash: bytes
    coins: tuple[tuple[OutPoint, TxOut], ...]

    def serialize(self) -> bytes:
        return (address_to_pubkey_hash(self.address) + self.height.to_bytes(4, "little") + self.tip_hash
                + write_list(self.coins, lambda coin: coin[0].serialize() + coin[1].serialize()))

    @classmethod
    def read_from(cls, reader: ByteReader) -> Utxos:
        address = make_address(reader.read(PUBKEY_HASH_SIZE))
        height, tip_hash = reader.read_int(4), reader.read(32)
        coins = read_list(reader, OUTPOINT_SIZE + TXOUT_SIZE, params.MAX_UTXOS_TO_SEND, _read_coin,
                          "utxos with {n} coins")
        return cls(address, height, tip_hash, coins)

    @property
    def balance(self) -> int:
        return sum(txout.amount for _, txout in self.coins)

    def __repr__(self) -> str:
        coins = f"{len(self.coins)} coin{'' if len(self.coins) == 1 else 's'}"
        return f"utxos({self.address}, {coins} worth {self.balance}, height {self.height})"


# --- Merkle proofs ------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class GetProof(Message):
    """A light client asks: in which block is this transaction, and prove it."""

    command: ClassVar[bytes] = b"getproof"
    txid: bytes

    def serialize(self) -> bytes:
        return self.txid

    @classmethod
    def read_from(cls, reader: ByteReader) -> GetProof:
        return cls(reader.read(32))

    def __repr__(self) -> str:
        return f"getproof({short_hex(self.txid)})"


@dataclass(frozen=True, repr=False)
class Proof(Message):
    """The answer: the block (by hash and height), the Merkle path to its root, the transaction.

    The light client checks it against the header it already has for
    ``block_hash``; the node's word alone proves nothing.
    """

    command: ClassVar[bytes] = b"proof"
    block_hash: bytes
    height: int
    proof: MerkleProof
    tx: Tx

    def serialize(self) -> bytes:
        return (self.block_hash + self.height.to_bytes(4, "little")
                + self.proof.serialize() + self.tx.serialize())

    @classmethod
    def read_from(cls, reader: ByteReader) -> Proof:
        block_hash, height = reader.read(32), reader.read_int(4)
        proof = MerkleProof.read_from(reader)
        if len(proof.branch) > params.MAX_MERKLE_DEPTH:
            raise ParseError(f"a Merkle branch of {len(proof.branch)} hashes is longer than "
                             f"any block could need ({params.MAX_MERKLE_DEPTH})")
        return cls(block_hash, height, proof, Tx.read_from(reader))

    def __repr__(self) -> str:
        return (f"proof({short_hex(self.tx.txid)} in block {short_hex(self.block_hash)} "
                f"at height {self.height}, {len(self.proof.branch)} hashes)")


@dataclass(frozen=True, repr=False)
class NoProof(Message):
    """No block of mine holds that transaction (toycoin's own; like Bitcoin's notfound)."""

    command: ClassVar[bytes] = b"noproof"
    txid: bytes

    def serialize(self) -> bytes:
        return self.txid

    @classmethod
    def read_from(cls, reader: ByteReader) -> NoProof:
        return cls(reader.read(32))

    def __repr__(self) -> str:
        return f"noproof({short_hex(self.txid)})"
