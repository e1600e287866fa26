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
    decode_payload(...)      payload bytes -> message, or None for an unknown command
    MESSAGES                 the fixed registry: command bytes -> message class

The messages themselves, each a frozen dataclass with ``serialize()``,
``parse()`` and a short repr, are in three modules; every one of their names
can also be imported from here (``from toycoin.wire import Version``):

    toycoin.payload      Message, the base class, and the field codecs messages share
    toycoin.messages     version, verack, ping, pong, getaddr, addr, getutxos, utxos, tx, reject
    toycoin.inventory    getheaders, headers, getproof, proof, noproof,
                         inv, getdata, notfound, block, mempool (InvItem, MSG_TX, MSG_BLOCK)

A message class is only ever found through MESSAGES; nothing is looked up by
a name a peer sent, and nothing is unpickled or evaluated. Bitcoin Core's
names: CMessageHeader for the frame header, ``allNetMessageTypes`` for the
list of commands.

Reference: https://en.bitcoin.it/wiki/Protocol_documentation#Message_structure
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from toycoin import params
from toycoin.encoding import sha256d
from toycoin.errors import ProtocolError
from toycoin.inventory import (
    INV_ITEM_SIZE, MSG_BLOCK, MSG_TX, BlockMessage, GetData, GetHeaders, GetProof, Headers, Inv, InvItem,
    MempoolRequest, NoProof, NotFound, Proof,
)
from toycoin.messages import Addr, GetAddr, GetUtxos, Ping, Pong, Reject, TxMessage, Utxos, Verack, Version
from toycoin.payload import Message

# Every message name stays importable from here, as it was before the messages got modules of their own.
__all__ = [
    "COMMAND_SIZE", "HEADER_SIZE", "INV_ITEM_SIZE", "MESSAGES", "MSG_BLOCK", "MSG_TX",
    "Addr", "BlockMessage", "FrameHeader", "GetAddr", "GetData", "GetHeaders", "GetProof", "GetUtxos",
    "Headers", "Inv", "InvItem", "MempoolRequest", "Message", "NoProof", "NotFound", "Ping", "Pong",
    "Proof", "Reject", "TxMessage", "Utxos", "Verack", "Version",
    "checksum", "decode_payload", "encode_frame",
]

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


def decode_payload(command: bytes, payload: bytes) -> Message | None:
    """The message for a checked frame; None if toycoin has no such command.

    ParseError if the payload is not a valid message of that type.
    """
    message_class = MESSAGES.get(command)
    if message_class is None:
        return None
    return message_class.parse(payload)


MESSAGES = MappingProxyType(
    {
        message.command: message
        for message in (Version, Verack, Ping, Pong, GetAddr, Addr, GetUtxos, Utxos, TxMessage, Reject,
                        GetHeaders, Headers, GetProof, Proof, NoProof,
                        Inv, GetData, NotFound, BlockMessage, MempoolRequest)
    }
)
