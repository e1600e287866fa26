"""Wire: how messages are framed on a TCP connection, and which messages toycoin knows.

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
    message_set(*classes)    a registry, command bytes -> message class, checked for clashes
    decode_payload(...)      payload bytes -> message of a registry, or None for an unknown command
    NODE_MESSAGES            the registry of toycoin's node protocol

The messages themselves, each a frozen dataclass with ``serialize()``,
``parse()`` and a short repr, are in three modules, by kind:

    toycoin.message      Message, the base class, and the field codecs messages share
    toycoin.msg_control  version, verack, ping, pong, getaddr, addr, reject
    toycoin.msg_data     tx, inv, getdata, notfound, block, getheaders, headers, mempool
    toycoin.msg_wallet   getutxos, utxos, getproof, proof, noproof
    toycoin.msg_room     getstatus, status (a node's account of itself, for a classroom's map)

A connection (toycoin.peer) is given a registry and finds a message class
only there; nothing is looked up by a name a peer sent, and nothing is
unpickled or evaluated. Another kind of peer (a DHT node, a tracker) frames
its own messages the same way, with its own registry. Bitcoin Core's names:
CMessageHeader for the frame header, ``allNetMessageTypes`` for the list of
commands.

Reference: https://en.bitcoin.it/wiki/Protocol_documentation#Message_structure
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping
from types import MappingProxyType

from toycoin import params
from toycoin.encoding import sha256d
from toycoin.errors import ProtocolError
from toycoin.message import Message
from toycoin.msg_control import Addr, GetAddr, Ping, Pong, Reject, Verack, Version
from toycoin.msg_data import (
    BlockMessage, GetData, GetHeaders, Headers, Inv, MempoolRequest, NotFound, TxMessage,
)
from toycoin.msg_room import GetStatus, Status
from toycoin.msg_wallet import GetProof, GetUtxos, NoProof, Proof, Utxos

MessageSet = Mapping[bytes, type[Message]]

HEADER_SIZE = 24
COMMAND_SIZE = 12


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


def message_set(*classes: type[Message]) -> MessageSet:
    """A read-only registry of message classes by command; ValueError if two share a command."""
    registry: dict[bytes, type[Message]] = {}
    for message_class in classes:
        if message_class.command in registry:
            raise ValueError(f"two message classes for the command {message_class.command.decode()!r}")
        registry[message_class.command] = message_class
    return MappingProxyType(registry)


def decode_payload(command: bytes, payload: bytes, messages: MessageSet) -> Message | None:
    """The message for a checked frame; None if ``messages`` has no such command.

    ParseError if the payload is not a valid message of that type.
    """
    message_class = messages.get(command)
    if message_class is None:
        return None
    return message_class.parse(payload)


NODE_MESSAGES = message_set(
    Version, Verack, Ping, Pong, GetAddr, Addr, Reject,
    TxMessage, Inv, GetData, NotFound, BlockMessage, GetHeaders, Headers, MempoolRequest,
    GetUtxos, Utxos, GetProof, Proof, NoProof,
    GetStatus, Status,
)
