"""Control messages: the handshake, liveness, addresses, and refusals.

Bitcoin's developer reference sorts its messages into control messages (how
two peers meet and keep in touch) and data messages (what they exchange).
These are the control messages; toycoin.msg_data holds the data messages,
toycoin.msg_wallet the questions only a wallet asks. Each is a frozen
dataclass with ``serialize()``, ``read_from()`` and a short repr
(``version(name='A', height=0)``, ``addr(2 addresses)``), found by a
connection only through a registry of toycoin.wire.

    Version, Verack          the handshake (a nonce lets a node notice itself)
    Ping, Pong               liveness, and proof that earlier messages were handled
    GetAddr, Addr            peer discovery: (host, port) of known nodes
    write_address, read_address   the 6 bytes of one IPv4 (host, port), for any message
    Reject                   why a node refused a payment

Simplifications compared with Bitcoin (see
https://en.bitcoin.it/wiki/Protocol_documentation):
- version carries a node name and a height but no addresses, timestamp or
  user agent; addr carries IPv4 (host, port) pairs without times or services.
- reject follows the retired BIP61.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from toycoin import params
from toycoin.encoding import ByteReader
from toycoin.errors import ParseError
from toycoin.message import Message, read_list, read_text, short_hex, write_list, write_text

ADDRESS_SIZE = 6  # an IPv4 address and a port

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
            + write_text(self.name)
        )

    @classmethod
    def read_from(cls, reader: ByteReader) -> Version:
        version = reader.read_int(4)
        services = reader.read_int(8)
        nonce = reader.read_int(8)
        port = int.from_bytes(reader.read(2), "big")
        height = reader.read_int(4)
        name = read_text(reader, params.MAX_NAME_LENGTH, "node name")
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


def write_address(address: tuple[str, int]) -> bytes:
    host, port = address
    return ipaddress.IPv4Address(host).packed + port.to_bytes(2, "big")


def read_address(reader: ByteReader) -> tuple[str, int]:
    host = str(ipaddress.IPv4Address(reader.read(4)))
    port = int.from_bytes(reader.read(2), "big")
    if port == 0:
        raise ParseError("addr holds port 0, where nobody can listen")
    return host, port


@dataclass(frozen=True, repr=False)
class Addr(Message):
    """Addresses (IPv4 host, port) where other nodes listen."""

    command: ClassVar[bytes] = b"addr"
    addresses: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        if len(self.addresses) > params.MAX_ADDR_TO_SEND:
            raise ValueError(f"an addr message holds at most {params.MAX_ADDR_TO_SEND} addresses")
        if any(port == 0 for _, port in self.addresses):  # what read_address refuses is never written
            raise ValueError("an addr message holds no port 0, where nobody can listen")

    def serialize(self) -> bytes:
        return write_list(self.addresses, write_address)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Addr:
        return cls(read_list(reader, ADDRESS_SIZE, params.MAX_ADDR_TO_SEND, read_address,
                             "addr with {n} addresses"))

    def __repr__(self) -> str:
        n = len(self.addresses)
        return f"addr({n} address{'' if n == 1 else 'es'})"


# --- refusals ----------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Reject(Message):
    """Why a node refused a transaction (like BIP61's reject, which Bitcoin Core dropped)."""

    command: ClassVar[bytes] = b"reject"
    txid: bytes
    reason: str

    def serialize(self) -> bytes:
        return self.txid + write_text(self.reason[: params.MAX_REJECT_REASON_LENGTH])

    @classmethod
    def read_from(cls, reader: ByteReader) -> Reject:
        txid = reader.read(32)
        return cls(txid, read_text(reader, params.MAX_REJECT_REASON_LENGTH, "reject reason"))

    def __repr__(self) -> str:
        return f"reject({short_hex(self.txid)}, {self.reason!r})"
