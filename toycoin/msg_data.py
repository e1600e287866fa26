"""Data messages: transactions, blocks, their headers, and what a node has.

The messages that carry the ledger between full nodes (and headers to light
wallets), built like every message (toycoin.message) and found only through
a registry of toycoin.wire:

    TxMessage                a payment, as ``Tx.serialize()`` bytes
    InvItem, MSG_TX, MSG_BLOCK   one thing a node can have: a transaction or a block, by hash
    Inv, GetData, NotFound   "I have these", "send me those", "I don't have that"
    BlockMessage             one whole block, sent only when asked for with getdata
    GetHeaders, Headers      the header chain after a block locator (for light
                             clients and headers-first sync)
    MempoolRequest           "announce your mempool to me" (BIP35), for a node that just caught up

Simplifications compared with Bitcoin (see
https://en.bitcoin.it/wiki/Protocol_documentation):
- headers carries bare 80-byte headers (Bitcoin adds a transaction count of
  zero after each).
- inventory items are a transaction or a block (Bitcoin has witness and
  filtered variants too); new blocks are announced with headers (BIP130).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from toycoin import params
from toycoin.block import HEADER_SIZE as BLOCK_HEADER_SIZE
from toycoin.block import Block, BlockHeader
from toycoin.encoding import ByteReader
from toycoin.errors import ParseError
from toycoin.message import Message, read_list, short_hex, write_list
from toycoin.tx import Tx

MSG_TX = 1  # inventory types, Bitcoin's numbers [GetDataMsg]
MSG_BLOCK = 2
INV_ITEM_SIZE = 36

# --- payments and inventory ---------------------------------------------------------


@dataclass(frozen=True, repr=False)
class TxMessage(Message):
    """A payment, as ``Tx.serialize()`` bytes (Bitcoin's "tx" message)."""

    command: ClassVar[bytes] = b"tx"
    tx: Tx

    def serialize(self) -> bytes:
        return self.tx.serialize()

    @classmethod
    def read_from(cls, reader: ByteReader) -> TxMessage:
        return cls(Tx.read_from(reader))

    def __repr__(self) -> str:
        return f"tx({short_hex(self.tx.txid)}, {len(self.tx.inputs)} in, {len(self.tx.outputs)} out)"


@dataclass(frozen=True, repr=False)
class InvItem:
    """One thing a node can have: a transaction or a block, by its hash."""

    kind: int
    hash: bytes

    def __post_init__(self) -> None:
        if self.kind not in (MSG_TX, MSG_BLOCK) or len(self.hash) != 32:
            raise ValueError("an inventory item is MSG_TX or MSG_BLOCK and a 32-byte hash")

    def serialize(self) -> bytes:
        return self.kind.to_bytes(4, "little") + self.hash

    @classmethod
    def read_from(cls, reader: ByteReader) -> InvItem:
        kind, digest = reader.read_int(4), reader.read(32)
        if kind not in (MSG_TX, MSG_BLOCK):
            raise ParseError(f"unknown inventory type {kind}")
        return cls(kind, digest)

    def __repr__(self) -> str:
        return f"{'tx' if self.kind == MSG_TX else 'block'} {short_hex(self.hash)}"


@dataclass(frozen=True, repr=False)
class Inv(Message):
    """I have these: peers ask for what they lack with getdata (Bitcoin's inv)."""

    command: ClassVar[bytes] = b"inv"
    items: tuple[InvItem, ...]

    def __post_init__(self) -> None:
        if len(self.items) > params.MAX_INV_SZ:
            raise ValueError(f"an {self.command.decode()} message holds at most {params.MAX_INV_SZ} items")

    def serialize(self) -> bytes:
        return write_list(self.items, InvItem.serialize)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Inv:
        return cls(read_list(reader, INV_ITEM_SIZE, params.MAX_INV_SZ, InvItem.read_from,
                             cls.command.decode() + " with {n} items"))

    def __repr__(self) -> str:
        shown = ", ".join(repr(item) for item in self.items[:2])
        more = f", +{len(self.items) - 2} more" if len(self.items) > 2 else ""
        return f"{self.command.decode()}({shown}{more})"


@dataclass(frozen=True, repr=False)
class GetData(Inv):
    """Send me these (each answered with tx or block, or listed in notfound)."""

    command: ClassVar[bytes] = b"getdata"


@dataclass(frozen=True, repr=False)
class NotFound(Inv):
    """I do not have these (any more): ask someone else."""

    command: ClassVar[bytes] = b"notfound"


@dataclass(frozen=True, repr=False)
class BlockMessage(Message):
    """A whole block, as ``Block.serialize()`` bytes (Bitcoin's "block" message)."""

    command: ClassVar[bytes] = b"block"
    block: Block

    def serialize(self) -> bytes:
        return self.block.serialize()

    @classmethod
    def read_from(cls, reader: ByteReader) -> BlockMessage:
        return cls(Block.read_from(reader))

    def __repr__(self) -> str:
        n = len(self.block.txs)
        return f"block({short_hex(self.block.hash)}, {n} tx{'' if n == 1 else 's'})"


@dataclass(frozen=True, repr=False)
class MempoolRequest(Message):
    """Announce your mempool to me (BIP35's mempool message): answered with inv."""

    command: ClassVar[bytes] = b"mempool"


# --- headers ------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class GetHeaders(Message):
    """Send me the headers that follow the first hash of ``locator`` that you have.

    The locator lists hashes of the asker's chain, newest first, thinning out
    towards genesis (toycoin.headers.block_locator), so the two sides
    find where their chains fork in one round trip. ``stop_hash`` of zeros
    means "as many as you may send" (MAX_HEADERS_RESULTS).
    """

    command: ClassVar[bytes] = b"getheaders"
    locator: tuple[bytes, ...]
    stop_hash: bytes = bytes(32)

    def serialize(self) -> bytes:
        return (params.PROTOCOL_VERSION.to_bytes(4, "little")
                + write_list(self.locator, bytes) + self.stop_hash)

    @classmethod
    def read_from(cls, reader: ByteReader) -> GetHeaders:
        reader.read_int(4)  # the asker's protocol version, as in Bitcoin; unused
        locator = read_list(reader, 32, params.MAX_LOCATOR_SZ, lambda r: r.read(32),
                            "getheaders with a locator of {n} hashes")
        return cls(locator, reader.read(32))

    def __repr__(self) -> str:
        first = short_hex(self.locator[0]) if self.locator else "nothing"
        return f"getheaders(locator of {len(self.locator)}, newest {first})"


@dataclass(frozen=True, repr=False)
class Headers(Message):
    """Block headers, 80 bytes each, in chain order (Bitcoin's headers message)."""

    command: ClassVar[bytes] = b"headers"
    headers: tuple[BlockHeader, ...]

    def serialize(self) -> bytes:
        return write_list(self.headers, BlockHeader.serialize)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Headers:
        return cls(read_list(reader, BLOCK_HEADER_SIZE, params.MAX_HEADERS_RESULTS, BlockHeader.read_from,
                             "headers with {n} headers"))

    def __repr__(self) -> str:
        n = len(self.headers)
        return f"headers({n} header{'' if n == 1 else 's'})"
