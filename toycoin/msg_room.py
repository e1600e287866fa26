"""Room messages: a node's short account of itself, so a teacher can draw the whole room.

A teacher who wants to see every node of a classroom network asks each node
it can reach the same question, and follows the peers each one names
(toycoin.room crawls that way). Every full node answers:

    GetStatus                who are you, how far are you, whom are you connected to?
    Status                   the answer: name, listen address, height, tip, peers (their
                             listen addresses and names), mining or not, hash-rate cap,
                             blocks this node's miner found
    MAX_STATUS_PEERS         most peers in one answer (a node keeps at most
                             params.MAX_CONNECTIONS connections, so more is a lie)

A status is read like any message from a stranger: the peer list is capped
before a single entry is read, names are short printable ASCII, addresses are
IPv4 with a real port. What a status says is still only what that node says:
toycoin.room dials the addresses it names only inside the room's networks.

Simplifications compared with Bitcoin: Bitcoin has no such message. A node
operator asks her own node over RPC (``getpeerinfo``, ``getblockchaininfo``,
``getmininginfo``), and network crawlers such as Bitnodes learn the network
from ``version`` and ``addr`` alone; a classroom can afford to ask directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from toycoin import params
from toycoin.encoding import ByteReader
from toycoin.errors import ParseError
from toycoin.message import Message, read_list, read_text, short_hex, write_list, write_text
from toycoin.msg_control import ADDRESS_SIZE, read_address, write_address

MAX_STATUS_PEERS = params.MAX_CONNECTIONS
PEER_SIZE = ADDRESS_SIZE + 2  # an address, then a name of at least 1 byte and its length

Address = tuple[str, int]


def write_peer(peer: tuple[Address, str]) -> bytes:
    address, name = peer
    return write_address(address) + write_text(name[: params.MAX_NAME_LENGTH])


def read_peer(reader: ByteReader) -> tuple[Address, str]:
    address = read_address(reader)
    return address, read_text(reader, params.MAX_NAME_LENGTH, "peer name")


@dataclass(frozen=True, repr=False)
class GetStatus(Message):
    """Tell me about yourself (answered with ``status``)."""

    command: ClassVar[bytes] = b"getstatus"


@dataclass(frozen=True, repr=False)
class Status(Message):
    """A node's account of itself; ``hashrate`` 0 means no cap (or not mining)."""

    command: ClassVar[bytes] = b"status"
    name: str
    address: Address  # where it listens
    height: int
    tip_hash: bytes
    peers: tuple[tuple[Address, str], ...]  # (listen address, name) of each handshaked full node
    mining: bool = False
    hashrate: int = 0  # hashes per second it is capped at; 0: no cap
    blocks_found: int = 0  # blocks its own miner found since it started

    def __post_init__(self) -> None:
        if len(self.peers) > MAX_STATUS_PEERS:
            raise ValueError(f"a status names at most {MAX_STATUS_PEERS} peers")

    def serialize(self) -> bytes:
        return (write_text(self.name) + write_address(self.address) + self.height.to_bytes(4, "little")
                + self.tip_hash + write_list(self.peers, write_peer) + bytes([self.mining])
                + self.hashrate.to_bytes(4, "little") + self.blocks_found.to_bytes(4, "little"))

    @classmethod
    def read_from(cls, reader: ByteReader) -> Status:
        name = read_text(reader, params.MAX_NAME_LENGTH, "node name")
        address = read_address(reader)
        height = reader.read_int(4)
        tip_hash = reader.read(32)
        peers = read_list(reader, PEER_SIZE, MAX_STATUS_PEERS, read_peer, "status with {n} peers")
        mining = reader.read_int(1)
        if mining > 1:
            raise ParseError(f"status says mining is {mining}: expected 0 or 1")
        hashrate, blocks_found = reader.read_int(4), reader.read_int(4)
        return cls(name, address, height, tip_hash, peers, bool(mining), hashrate, blocks_found)

    def __repr__(self) -> str:
        n = len(self.peers)
        return (f"status(name={self.name!r}, height={self.height}, tip={short_hex(self.tip_hash)}, "
                f"{n} peer{'' if n == 1 else 's'}{', mining' if self.mining else ''})")
