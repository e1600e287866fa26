"""Wire: how messages are framed on a TCP connection, and the messages toycoin knows.

A TCP connection carries a stream of bytes with no boundaries. Like Bitcoin,
toycoin cuts it into frames, each a 24-byte header followed by a payload:

    magic     4 bytes   b"toyc": marks the start of a frame of this network
    command  12 bytes   ASCII name of the message, padded with zero bytes
    length    4 bytes   payload size, little-endian (checked before it is read)
    checksum  4 bytes   first 4 bytes of sha256d(payload)
    payload             the message's own serialization

In this module:

    FrameHeader              the 24 bytes above; FrameHeader.parse checks magic and length
    encode_frame(message)    header + payload, ready for the socket
    decode_payload(...)      payload bytes -> message, or None for an unknown command
    MESSAGES                 the fixed registry: command bytes -> message class
    Version, Verack          the handshake (a nonce lets a node notice itself)
    Ping, Pong               liveness, and proof that earlier messages were handled
    GetAddr, Addr            peer discovery: (host, port) of known nodes
    GetUtxos, Utxos          a wallet asks which coins an address has
    TxMessage, Reject        a wallet sends a payment; the node says why it refused one
    GetHeaders, Headers      the header chain after a block locator (Bitcoin's, for light
                             clients and headers-first sync)
    GetProof, Proof, NoProof a light client asks for a Merkle proof that a transaction is in a block
    Inv, GetData, NotFound   "I have these", "send me those", "I don't have that" (InvItem each)
    BlockMessage             one whole block, sent only when asked for with getdata
    MempoolRequest           "announce your mempool to me" (BIP35), for a node that just caught up

Every message is a frozen dataclass with ``serialize()``, ``parse()`` and a
short repr (``version(name='A', height=0)``, ``addr(2 addresses)``) so a
notebook can show what crossed the wire. A message class is only ever found
through MESSAGES; nothing is looked up by a name a peer sent, and nothing is
unpickled or evaluated.

Simplifications compared with Bitcoin (see
https://en.bitcoin.it/wiki/Protocol_documentation):
- version carries a node name and a height but no addresses, timestamp or
  user agent; addr carries IPv4 (host, port) pairs without times or services.
- getutxos/utxos ask by address (Bitcoin's BIP64 asked by outpoint and is gone;
  real light wallets use other schemes), and reject follows the retired BIP61.
- headers carries bare 80-byte headers (Bitcoin adds a transaction count of
  zero after each); getproof/proof/noproof are toycoin's own, shaped like an
  Electrum server's get_merkle answer rather than BIP37's merkleblock.
- inventory items are a transaction or a block (Bitcoin has witness and
  filtered variants too); new blocks are announced with headers (BIP130).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, TypeVar

from toycoin import params
from toycoin.block import HEADER_SIZE as BLOCK_HEADER_SIZE
from toycoin.block import Block, BlockHeader
from toycoin.encoding import ByteReader, compact_size, sha256d, var_bytes
from toycoin.errors import ParseError, ProtocolError
from toycoin.keys import PUBKEY_HASH_SIZE, address_to_pubkey_hash, make_address
from toycoin.merkle import MerkleProof
from toycoin.tx import OUTPOINT_SIZE, TXOUT_SIZE, OutPoint, Tx, TxOut

HEADER_SIZE = 24
COMMAND_SIZE = 12

M = TypeVar("M", bound="Message")


@dataclass(frozen=True)
class FrameHeader:
    """The fixed 24 bytes in front of every payload."""

    command: bytes
    length: int
    checksum: bytes

    @classmethod
    def parse(cls, data: bytes, magic: bytes = params.NETWORK_MAGIC) -> FrameHeader:
        """Check the header before a single payload byte is read.

        ProtocolError for a foreign magic, a garbled command or an oversize
        length: the stream can no longer be trusted to be in step.
        """
        if len(data) != HEADER_SIZE:
            raise ProtocolError(f"a frame header is {HEADER_SIZE} bytes, got {len(data)}")
        if data[:4] != magic:
            raise ProtocolError(f"wrong magic {data[:4].hex()} (expected {magic.hex()})")
        command = data[4:16].rstrip(b"\0")
        if not command or b"\0" in command or not all(0x20 < c < 0x7F for c in command):
            raise ProtocolError(f"garbled command field {data[4:16].hex()}")
        length = int.from_bytes(data[16:20], "little")
        if length > params.MAX_PROTOCOL_MESSAGE_LENGTH:
            raise ProtocolError(
                f"payload of {length:,} bytes exceeds the limit of "
                f"{params.MAX_PROTOCOL_MESSAGE_LENGTH:,}"
            )
        return cls(command, length, data[20:24])


def checksum(payload: bytes) -> bytes:
    """The first 4 bytes of sha256d(payload), as in every Bitcoin message header."""
    return sha256d(payload)[:4]


def encode_frame(message: Message, magic: bytes = params.NETWORK_MAGIC) -> bytes:
    """The bytes that go on the socket for one message."""
    payload = message.serialize()
    command = message.command.ljust(COMMAND_SIZE, b"\0")
    return magic + command + len(payload).to_bytes(4, "little") + checksum(payload) + payload


def decode_payload(command: bytes, payload: bytes) -> Message | None:
    """The message for a checked frame; None if toycoin has no such command.

    ParseError if the payload is not a valid message of that type.
    """
    message_class = MESSAGES.get(command)
    if message_class is None:
        return None
    return message_class.parse(payload)


# --- field helpers ---------------------------------------------------------------


def _write_text(text: str) -> bytes:
    # Anything outside printable ASCII becomes "?", so the reader's check always passes.
    return var_bytes(bytes(c if 0x20 <= c < 0x7F else 0x3F for c in text.encode("ascii", "replace")))


def _read_text(reader: ByteReader, max_length: int, what: str) -> str:
    """A short printable ASCII string; anything else is a ParseError."""
    raw = reader.read_var_bytes()
    if len(raw) > max_length:
        raise ParseError(f"{what} of {len(raw)} bytes is longer than {max_length}")
    if not all(0x20 <= c < 0x7F for c in raw):
        raise ParseError(f"{what} holds characters that are not printable ASCII")
    return raw.decode("ascii")


def _short_hex(digest: bytes) -> str:
    """Display order (byte-reversed, like Bitcoin's txid_hex), shortened."""
    return digest[::-1].hex()[:12] + "…"


class Message:
    """Base class: subclasses are frozen dataclasses with a ``command``."""

    command: ClassVar[bytes]

    def serialize(self) -> bytes:
        return b""

    @classmethod
    def read_from(cls: type[M], reader: ByteReader) -> M:
        return cls()

    @classmethod
    def parse(cls: type[M], data: bytes) -> M:
        """One message from exactly ``data``; ParseError on short or left-over bytes."""
        reader = ByteReader(data)
        message = cls.read_from(reader)
        reader.finish()
        return message


# --- handshake and liveness --------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Version(Message):
    """The first message each side sends: who I am, how to reach me, how far I am."""

    command: ClassVar[bytes] = b"version"
    name: str
    nonce: int  # random per node run: a version carrying our own nonce came from us
    port: int  # where the sender listens (0 for a wallet, which does not listen)
    height: int
    services: int = params.NODE_NETWORK
    version: int = params.PROTOCOL_VERSION

    def serialize(self) -> bytes:
        return (
            self.version.to_bytes(4, "little")
            + self.services.to_bytes(8, "little")
            + self.nonce.to_bytes(8, "little")
            + self.port.to_bytes(2, "big")  # ports are big-endian on Bitcoin's wire too
            + self.height.to_bytes(4, "little")
            + _write_text(self.name)
        )

    @classmethod
    def read_from(cls, reader: ByteReader) -> Version:
        version = reader.read_int(4)
        services = reader.read_int(8)
        nonce = reader.read_int(8)
        port = int.from_bytes(reader.read(2), "big")
        height = reader.read_int(4)
        name = _read_text(reader, params.MAX_NAME_LENGTH, "node name")
        return cls(name, nonce, port, height, services, version)

    @property
    def is_full_node(self) -> bool:
        return bool(self.services & params.NODE_NETWORK)

    def __repr__(self) -> str:
        role = "" if self.is_full_node else ", wallet"
        return f"version(name={self.name!r}, height={self.height}{role})"


@dataclass(frozen=True, repr=False)
class Verack(Message):
    """"I accept your version": the handshake is done once both sides sent one."""

    command: ClassVar[bytes] = b"verack"

    def __repr__(self) -> str:
        return "verack()"


@dataclass(frozen=True, repr=False)
class Ping(Message):
    """Are you there? Answered in order, so a pong proves earlier messages were handled."""

    command: ClassVar[bytes] = b"ping"
    nonce: int

    def serialize(self) -> bytes:
        return self.nonce.to_bytes(8, "little")

    @classmethod
    def read_from(cls, reader: ByteReader) -> Ping:
        return cls(reader.read_int(8))

    def __repr__(self) -> str:
        return f"{self.command.decode()}(nonce={self.nonce})"


@dataclass(frozen=True, repr=False)
class Pong(Ping):
    """The answer to a ping, with the same nonce."""

    command: ClassVar[bytes] = b"pong"


# --- peer discovery ----------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class GetAddr(Message):
    """Which other nodes do you know?"""

    command: ClassVar[bytes] = b"getaddr"

    def __repr__(self) -> str:
        return "getaddr()"


@dataclass(frozen=True, repr=False)
class Addr(Message):
    """Addresses (IPv4 host, port) where other nodes listen."""

    command: ClassVar[bytes] = b"addr"
    addresses: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        if len(self.addresses) > params.MAX_ADDR_TO_SEND:
            raise ValueError(f"an addr message holds at most {params.MAX_ADDR_TO_SEND} addresses")

    def serialize(self) -> bytes:
        out = [compact_size(len(self.addresses))]
        for host, port in self.addresses:
            out.append(ipaddress.IPv4Address(host).packed + port.to_bytes(2, "big"))
        return b"".join(out)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Addr:
        count = reader.read_count(6)
        if count > params.MAX_ADDR_TO_SEND:
            raise ParseError(f"addr with {count} addresses (at most {params.MAX_ADDR_TO_SEND})")
        addresses = []
        for _ in range(count):
            host = str(ipaddress.IPv4Address(reader.read(4)))
            port = int.from_bytes(reader.read(2), "big")
            if port == 0:
                raise ParseError("addr holds port 0, where nobody can listen")
            addresses.append((host, port))
        return cls(tuple(addresses))

    def __repr__(self) -> str:
        n = len(self.addresses)
        return f"addr({n} address{'' if n == 1 else 'es'})"


# --- wallets ----------------------------------------------------------------------


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


@dataclass(frozen=True, repr=False)
class Utxos(Message):
    """The coins of an address, as the node's ledger sees them at ``height``."""

    command: ClassVar[bytes] = b"utxos"
    address: str
    height: int
    tip_hash: bytes
    coins: tuple[tuple[OutPoint, TxOut], ...]

    def serialize(self) -> bytes:
        out = [address_to_pubkey_hash(self.address), self.height.to_bytes(4, "little"), self.tip_hash]
        out.append(compact_size(len(self.coins)))
        out += [outpoint.serialize() + txout.serialize() for outpoint, txout in self.coins]
        return b"".join(out)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Utxos:
        address = make_address(reader.read(PUBKEY_HASH_SIZE))
        height, tip_hash = reader.read_int(4), reader.read(32)
        count = reader.read_count(OUTPOINT_SIZE + TXOUT_SIZE)
        if count > params.MAX_UTXOS_TO_SEND:
            raise ParseError(f"utxos with {count} coins (at most {params.MAX_UTXOS_TO_SEND})")
        coins = tuple((OutPoint.read_from(reader), TxOut.read_from(reader)) for _ in range(count))
        return cls(address, height, tip_hash, coins)

    @property
    def balance(self) -> int:
        return sum(txout.amount for _, txout in self.coins)

    def __repr__(self) -> str:
        coins = f"{len(self.coins)} coin{'' if len(self.coins) == 1 else 's'}"
        return f"utxos({self.address}, {coins} worth {self.balance}, height {self.height})"


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
        return f"tx({_short_hex(self.tx.txid)}, {len(self.tx.inputs)} in, {len(self.tx.outputs)} out)"


@dataclass(frozen=True, repr=False)
class Reject(Message):
    """Why a node refused a transaction (like BIP61's reject, which Bitcoin Core dropped)."""

    command: ClassVar[bytes] = b"reject"
    txid: bytes
    reason: str

    def serialize(self) -> bytes:
        return self.txid + _write_text(self.reason[: params.MAX_REJECT_REASON_LENGTH])

    @classmethod
    def read_from(cls, reader: ByteReader) -> Reject:
        txid = reader.read(32)
        return cls(txid, _read_text(reader, params.MAX_REJECT_REASON_LENGTH, "reject reason"))

    def __repr__(self) -> str:
        return f"reject({_short_hex(self.txid)}, {self.reason!r})"


# --- headers and Merkle proofs (light clients, chapter 06) ---------------------------


@dataclass(frozen=True, repr=False)
class GetHeaders(Message):
    """Send me the headers that follow the first hash of ``locator`` that you have.

    The locator lists hashes of the asker's chain, newest first, thinning out
    towards genesis (toycoin.headers.HeaderChain.locator), so the two sides
    find where their chains fork in one round trip. ``stop_hash`` of zeros
    means "as many as you may send" (MAX_HEADERS_RESULTS).
    """

    command: ClassVar[bytes] = b"getheaders"
    locator: tuple[bytes, ...]
    stop_hash: bytes = bytes(32)

    def serialize(self) -> bytes:
        return (params.PROTOCOL_VERSION.to_bytes(4, "little") + compact_size(len(self.locator))
                + b"".join(self.locator) + self.stop_hash)

    @classmethod
    def read_from(cls, reader: ByteReader) -> GetHeaders:
        reader.read_int(4)  # the asker's protocol version, as in Bitcoin; unused
        count = reader.read_count(32)
        if count > params.MAX_LOCATOR_SZ:
            raise ParseError(f"getheaders with a locator of {count} hashes (at most {params.MAX_LOCATOR_SZ})")
        locator = tuple(reader.read(32) for _ in range(count))
        return cls(locator, reader.read(32))

    def __repr__(self) -> str:
        first = _short_hex(self.locator[0]) if self.locator else "nothing"
        return f"getheaders(locator of {len(self.locator)}, newest {first})"


@dataclass(frozen=True, repr=False)
class Headers(Message):
    """Block headers, 80 bytes each, in chain order (Bitcoin's headers message)."""

    command: ClassVar[bytes] = b"headers"
    headers: tuple[BlockHeader, ...]

    def serialize(self) -> bytes:
        return compact_size(len(self.headers)) + b"".join(h.serialize() for h in self.headers)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Headers:
        count = reader.read_count(BLOCK_HEADER_SIZE)
        if count > params.MAX_HEADERS_RESULTS:
            raise ParseError(f"headers with {count} headers (at most {params.MAX_HEADERS_RESULTS})")
        return cls(tuple(BlockHeader.read_from(reader) for _ in range(count)))

    def __repr__(self) -> str:
        n = len(self.headers)
        return f"headers({n} header{'' if n == 1 else 's'})"


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
        return f"getproof({_short_hex(self.txid)})"


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
        return (f"proof({_short_hex(self.tx.txid)} in block {_short_hex(self.block_hash)} "
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
        return f"noproof({_short_hex(self.txid)})"


# --- relay and block download (chapter 07) ----------------------------------------

MSG_TX = 1  # inventory types, Bitcoin's numbers [GetDataMsg]
MSG_BLOCK = 2
INV_ITEM_SIZE = 36


@dataclass(frozen=True, repr=False)
class InvItem:
    """One thing a node can have: a transaction or a block, by its hash."""

    kind: int
    hash: bytes

    def __post_init__(self) -> None:
        if self.kind not in (MSG_TX, MSG_BLOCK) or len(self.hash) != 32:
            raise ValueError("an inventory item is MSG_TX or MSG_BLOCK and a 32-byte hash")

    def __repr__(self) -> str:
        return f"{'tx' if self.kind == MSG_TX else 'block'} {_short_hex(self.hash)}"


@dataclass(frozen=True, repr=False)
class Inv(Message):
    """I have these: peers ask for what they lack with getdata (Bitcoin's inv)."""

    command: ClassVar[bytes] = b"inv"
    items: tuple[InvItem, ...]

    def __post_init__(self) -> None:
        if len(self.items) > params.MAX_INV_SZ:
            raise ValueError(f"an {self.command.decode()} message holds at most {params.MAX_INV_SZ} items")

    def serialize(self) -> bytes:
        body = b"".join(item.kind.to_bytes(4, "little") + item.hash for item in self.items)
        return compact_size(len(self.items)) + body

    @classmethod
    def read_from(cls, reader: ByteReader) -> Inv:
        count = reader.read_count(INV_ITEM_SIZE)
        if count > params.MAX_INV_SZ:
            raise ParseError(f"{cls.command.decode()} with {count} items (at most {params.MAX_INV_SZ})")
        items = []
        for _ in range(count):
            kind, digest = reader.read_int(4), reader.read(32)
            if kind not in (MSG_TX, MSG_BLOCK):
                raise ParseError(f"unknown inventory type {kind}")
            items.append(InvItem(kind, digest))
        return cls(tuple(items))

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
        return f"block({_short_hex(self.block.hash)}, {n} tx{'' if n == 1 else 's'})"


@dataclass(frozen=True, repr=False)
class MempoolRequest(Message):
    """Announce your mempool to me (BIP35's mempool message): answered with inv."""

    command: ClassVar[bytes] = b"mempool"

    def __repr__(self) -> str:
        return "mempool()"


MESSAGES = MappingProxyType(
    {
        message.command: message
        for message in (Version, Verack, Ping, Pong, GetAddr, Addr, GetUtxos, Utxos, TxMessage, Reject,
                        GetHeaders, Headers, GetProof, Proof, NoProof,
                        Inv, GetData, NotFound, BlockMessage, MempoolRequest)
    }
)
