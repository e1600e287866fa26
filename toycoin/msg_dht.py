"""DHT messages: Kademlia's questions and answers, each carrying the sender's id.

The messages of a DHT node (toycoin.dht), framed like every other message
(toycoin.wire) and found only through the DHT's own registry. Every message
names its sender's 160-bit id, so whoever receives it can put the sender in
its routing table (toycoin.kbucket): lookups teach the network its shape.

    FindNode(sender, target)          which nodes do you know closest to ``target``?
    FindValue(sender, key)            the value stored under ``key``, or your closest nodes
    Store(sender, key, value)         keep ``value`` under ``key`` (at most MAX_VALUE_SIZE bytes)
    Nodes(sender, contacts)           the answer: at most MAX_CONTACTS contacts
    Value(sender, key, value)         the answer: the value itself
    write_contact, read_contact       26 bytes: id, IPv4 address, port

Kademlia's four RPCs are PING, STORE, FIND_NODE and FIND_VALUE; toycoin's
ping is the connection layer's own. BitTorrent's DHT (BEP 5) calls them ping,
announce_peer, find_node and get_peers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from toycoin.encoding import ByteReader, var_bytes
from toycoin.errors import ParseError
from toycoin.kbucket import ID_BYTES, Contact
from toycoin.message import Message, read_list, write_list
from toycoin.msg_control import read_address, write_address

MAX_CONTACTS = 20  # contacts in one answer (Kademlia's k is 20)
MAX_VALUE_SIZE = 512  # bytes of one stored value
CONTACT_SIZE = ID_BYTES + 6


def write_contact(contact: Contact) -> bytes:
    return contact.node_id + write_address(contact.address)


def read_contact(reader: ByteReader) -> Contact:
    node_id = reader.read(ID_BYTES)
    host, port = read_address(reader)
    return Contact(node_id, host, port)


def _short(node_id: bytes) -> str:
    return node_id.hex()[:8] + "…"


@dataclass(frozen=True, repr=False)
class FindNode(Message):
    command: ClassVar[bytes] = b"findnode"
    sender: bytes
    target: bytes

    def serialize(self) -> bytes:
        return self.sender + self.target

    @classmethod
    def read_from(cls, reader: ByteReader) -> FindNode:
        return cls(reader.read(ID_BYTES), reader.read(ID_BYTES))

    def __repr__(self) -> str:
        return f"{self.command.decode()}({_short(self.target)})"


@dataclass(frozen=True, repr=False)
class FindValue(FindNode):
    command: ClassVar[bytes] = b"findvalue"


@dataclass(frozen=True, repr=False)
class Store(Message):
    command: ClassVar[bytes] = b"store"
    sender: bytes
    key: bytes
    value: bytes

    def serialize(self) -> bytes:
        return self.sender + self.key + var_bytes(self.value)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Store:
        sender, key = reader.read(ID_BYTES), reader.read(ID_BYTES)
        size = reader.read_compact_size()
        if size > MAX_VALUE_SIZE:  # checked before the bytes are read
            raise ParseError(f"value of {size:,} bytes is larger than {MAX_VALUE_SIZE}")
        return cls(sender, key, reader.read(size))

    def __repr__(self) -> str:
        return f"{self.command.decode()}({_short(self.key)}, {len(self.value)} bytes)"


@dataclass(frozen=True, repr=False)
class Value(Store):
    command: ClassVar[bytes] = b"value"


@dataclass(frozen=True, repr=False)
class Nodes(Message):
    command: ClassVar[bytes] = b"nodes"
    sender: bytes
    contacts: tuple[Contact, ...]

    def serialize(self) -> bytes:
        return self.sender + write_list(self.contacts, write_contact)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Nodes:
        sender = reader.read(ID_BYTES)
        return cls(sender, read_list(reader, CONTACT_SIZE, MAX_CONTACTS, read_contact,
                                     "nodes with {n} contacts"))

    def __repr__(self) -> str:
        return f"nodes({len(self.contacts)} contacts)"
