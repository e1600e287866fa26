"""Tracker: a central index that answers "who has this object?" in one hop.

A hybrid network: the transfers run peer to peer, but finding the peers goes
through one well-known server (BitTorrent's tracker, BEP 3; Napster's index
before it). A peer announces the objects it holds or wants; anyone may ask
which peers announced an object. It is fast (one question, one answer) and
it is a single point of failure: when the tracker dies, the transfers already
running carry on, but a newcomer can no longer find anyone.

    Announce(root)       I take part in the swarm of ``root``; reach me where I listen
    GetPeers(root)       who takes part in the swarm of ``root``?
    Peers(root, addresses)   the answer: at most MAX_TRACKER_PEERS (host, port) pairs
    TRACKER_MESSAGES     the tracker's registry (toycoin.wire.message_set)
    Tracker(PeerMan)     the index itself, a peer of its own kind on the one connection layer
    ask_tracker(peer, address, root)   a peer's one short session: announce, then ask (network thread)

Bitcoin uses a central index only at bootstrap: a new node asks a few DNS
seeds (host names run by known people) for addresses of nodes, then learns
every further address from its peers (``getaddr``/``addr``). If every DNS
seed vanished, nodes that already know peers would not notice.

Simplifications compared with BitTorrent: announcements never expire while
the tracker runs (BitTorrent peers re-announce every 30 minutes or so), and
the tracker returns the latest announcers first rather than a random sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from toycoin.addrman import Address
from toycoin.encoding import ByteReader
from toycoin.message import Message, read_list, short_hex, write_list
from toycoin.msg_control import ADDRESS_SIZE, Ping, Pong, Verack, Version, read_address, write_address
from toycoin.peer import Connection
from toycoin.peerman import PeerMan
from toycoin.wire import message_set

MAX_TRACKER_PEERS = 50  # addresses in one answer (BitTorrent's default numwant is 50)
MAX_TRACKED_OBJECTS = 1000  # objects one tracker indexes
MAX_PEERS_PER_OBJECT = 1000  # announcers kept per object (the oldest are forgotten)


@dataclass(frozen=True, repr=False)
class Announce(Message):
    command: ClassVar[bytes] = b"announce"
    root: bytes

    def serialize(self) -> bytes:
        return self.root

    @classmethod
    def read_from(cls, reader: ByteReader) -> Announce:
        return cls(reader.read(32))

    def __repr__(self) -> str:
        return f"{self.command.decode()}({short_hex(self.root)})"


@dataclass(frozen=True, repr=False)
class GetPeers(Announce):
    command: ClassVar[bytes] = b"getpeers"


@dataclass(frozen=True, repr=False)
class Peers(Message):
    command: ClassVar[bytes] = b"peers"
    root: bytes
    addresses: tuple[Address, ...]

    def serialize(self) -> bytes:
        return self.root + write_list(self.addresses, write_address)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Peers:
        root = reader.read(32)
        return cls(root, read_list(reader, ADDRESS_SIZE, MAX_TRACKER_PEERS, read_address,
                                   "peers with {n} addresses"))

    def __repr__(self) -> str:
        return f"peers({len(self.addresses)} addresses)"


TRACKER_MESSAGES = message_set(Version, Verack, Ping, Pong, Announce, GetPeers, Peers)


class Tracker(PeerMan):
    """The central index: who announced which object, and where they listen."""

    def __init__(self, name: str = "tracker", **options: Any) -> None:
        options.setdefault("learn_addresses", False)
        super().__init__(name, messages=TRACKER_MESSAGES, **options)
        self.swarms: dict[bytes, dict[Address, None]] = {}  # root -> announcers, oldest first
        self.handle(Announce, self.on_announce)
        self.handle(GetPeers, self.on_getpeers)

    def on_announce(self, conn: Connection, message: Announce) -> None:
        where = self.state(conn).listen_address
        if where is None or where[1] == 0:
            conn.ignore("announce from a peer that does not listen")
            return
        if message.root not in self.swarms and len(self.swarms) >= MAX_TRACKED_OBJECTS:
            conn.ignore(f"announce of a new object, but {MAX_TRACKED_OBJECTS} are tracked already")
            return
        swarm = self.swarms.setdefault(message.root, {})
        swarm.pop(where, None)
        swarm[where] = None
        while len(swarm) > MAX_PEERS_PER_OBJECT:
            swarm.pop(next(iter(swarm)))
        self.record("announced", self.peer_name(conn), f"takes part in {short_hex(message.root)}")

    def on_getpeers(self, conn: Connection, message: GetPeers) -> None:
        asker = self.state(conn).listen_address
        known = [a for a in self.swarms.get(message.root, {}) if a != asker]
        conn.send(Peers(message.root, tuple(reversed(known))[:MAX_TRACKER_PEERS]))

    def peer_count(self, root: bytes) -> int:
        return self._read(lambda: len(self.swarms.get(root, {})))


async def ask_tracker(peer: PeerMan, tracker: Address, root: bytes) -> tuple[Address, ...]:
    """One short session with the tracker: ask who takes part in ``root``, then announce ourselves.

    ``peer``'s registry must hold TRACKER_MESSAGES' Announce, GetPeers and Peers.
    NodeError naming the tracker if it is down ("cannot reach tracker: connection refused").
    """
    async with peer.session(tracker, "the tracker") as conn:
        answer = await peer.ask(conn, GetPeers(root), (Peers,))
        await peer.tell(conn, Announce(root), ())
    assert isinstance(answer, Peers)
    return answer.addresses
