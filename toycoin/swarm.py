"""Swarm: peers that download an object in chunks from each other, seeders and leechers at once.

One server with a capped upload serves n downloaders in n times the time it
serves one. In a swarm, every downloader serves the chunks it already holds
to the others: the more peers, the more servers. This module is the peer of
such a swarm (BitTorrent's idea), built on the one connection layer with its
own messages (toycoin.msg_swarm) and checked chunk by chunk against the
object's Merkle root (toycoin.chunks).

    SWARM_MESSAGES        the registry: handshake, pings, swarm messages, tracker messages
    Arrival               one chunk received: index, from whom, whether that peer had finished, when
    SwarmPeer(PeerMan)    holds chunks, serves them under an upload cap, fetches what it lacks
      seed(obj, indexes)  hold the whole object (or some chunks) from now on (a seeder)
      find_peers(tracker) ask a tracker (toycoin.tracker) whom to connect to, and announce;
                          only addresses in its own networks (``networks=``) are dialled
      is_complete, holdings, arrivals, bad_chunks, uploaded, completed_at
    CorruptPeer           a peer that serves chunks with one byte flipped, to be caught

How a peer fetches: each connection starts with both sides' bitfields, and
every finished chunk is announced with ``have``. A peer keeps one request
open per connection; it asks each peer for the rarest chunk (held by fewest
of its peers) that this peer has and nobody else is fetching, ties broken by
its own seeded random generator. So chunks arrive in no fixed order, and a
leecher serves a chunk as soon as it holds it. A chunk that fails its Merkle
proof costs the sender its connection, and it is never dialled again; a peer that disconnects hands its open
requests back; either way the chunk is asked of someone else.

The upload cap: a peer sends one chunk at a time, each taking
size / ``upload_rate`` seconds (a link of that many bytes per second).

Simplifications compared with BitTorrent: no choking and no tit-for-tat (every
peer serves whoever asks, first come first served), no end-game mode, no
timeout on a request to a peer that stays connected but never answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from toycoin.addrman import Address, format_address, in_networks
from toycoin.chunks import ChunkedObject, Manifest, verify_chunk
from toycoin.errors import ValidationError
from toycoin.merkle import MerkleProof
from toycoin.msg_control import Ping, Pong, Verack, Version
from toycoin.msg_swarm import Bitfield, Chunk, GetChunk, Have
from toycoin.peer import Connection
from toycoin.peerman import PeerMan
from toycoin.tracker import Announce, GetPeers, Peers, ask_tracker
from toycoin.wire import message_set

SWARM_MESSAGES = message_set(Version, Verack, Ping, Pong, Bitfield, Have, GetChunk, Chunk,
                             Announce, GetPeers, Peers)


@dataclass(frozen=True)
class Arrival:
    """Chunk ``index`` came from ``peer`` at loop time ``at``; ``peer_complete``: that peer held
    every chunk by then."""

    index: int
    peer: str
    peer_complete: bool
    at: float


class SwarmPeer(PeerMan):
    """A seeder, a leecher, or both: it serves what it holds and fetches what it lacks."""

    def __init__(self, name: str, manifest: Manifest, *, upload_rate: float | None = None,
                 shares: bool = True, **options: Any) -> None:
        options.setdefault("learn_addresses", False)
        super().__init__(name, messages=SWARM_MESSAGES, **options)
        self.manifest = manifest
        self.upload_rate = upload_rate  # bytes per second; None: as fast as the machine goes
        self.shares = shares  # False: a plain client, which only downloads (client-server)
        self.chunks: dict[int, bytes] = {}
        self.proofs: dict[int, MerkleProof] = {}
        self.arrivals: list[Arrival] = []
        self.bad_chunks: list[tuple[str, str]] = []  # (peer, why) for each chunk that failed its proof
        self.uploaded = 0  # chunks sent
        self.completed_at: float | None = None  # loop time when the last chunk arrived
        self._peer_has: dict[Connection, set[int]] = {}
        self._asked: dict[int, Connection] = {}  # chunk index -> the connection asked for it
        self._upload_slot: asyncio.Lock | None = None
        self.answers.add(Peers)  # the tracker's answer, handed to find_peers
        for message_type, handler in ((Bitfield, self.on_bitfield), (Have, self.on_have),
                                      (GetChunk, self.on_getchunk), (Chunk, self.on_chunk)):
            self.handle(message_type, handler)

    # --- synchronous API -------------------------------------------------------------

    def seed(self, obj: ChunkedObject, indexes: Iterable[int] | None = None) -> None:
        """Hold the whole object (or only the chunks at ``indexes``) from now on, and tell every peer."""
        if obj.manifest != self.manifest:
            raise ValueError(f"{self.name} was made for object {self.manifest.root_hex[:12]}…, not this one")
        self.runtime.call(self._seed, obj, range(len(obj.chunks)) if indexes is None else indexes)

    def find_peers(self, tracker: Address, want: int = 4) -> tuple[str, ...]:
        """Ask the tracker who takes part, announce ourselves, connect to up to ``want`` of them.

        NodeError if the tracker cannot be reached; returns the addresses dialled, as text.
        """
        addresses = self.dialable(self._run(ask_tracker(self, tracker, self.manifest.root)))
        # Drawn from the tracker's order (newest first), not sorted by port: ports differ between runs.
        chosen = self.rng.sample(addresses, min(want, len(addresses)))
        for address in chosen:
            self.connect(address, wait=False)
        return tuple(format_address(a) for a in chosen)

    def dialable(self, addresses: Iterable[Address]) -> list[Address]:
        """The addresses a tracker gave that may be dialled: in our own networks, not ourselves."""
        own = (self.host, self._port)
        return [a for a in addresses if a != own and in_networks(a, self.networks)]

    @property
    def is_complete(self) -> bool:
        return len(self.chunks) == self.manifest.chunk_count

    @property
    def holdings(self) -> tuple[int, ...]:
        """Indexes of the chunks held, sorted."""
        return self._read(lambda: tuple(sorted(self.chunks)))

    # --- handlers (network thread) -----------------------------------------------------

    def _seed(self, obj: ChunkedObject, indexes: Iterable[int]) -> None:
        for index in indexes:
            self.chunks[index], self.proofs[index] = obj.chunks[index], obj.proof(index)
        self.record("seeding", None, f"holds {len(self.chunks)} of {self.manifest.chunk_count} chunks")
        for conn in self.live_connections():
            conn.send(self._bitfield())

    def _bitfield(self) -> Bitfield:
        return Bitfield(self.manifest.root, frozenset(self.chunks), self.manifest.chunk_count)

    def _same_object(self, conn: Connection, root: bytes) -> bool:
        if root != self.manifest.root:
            conn.close("a message about another object")
        return root == self.manifest.root

    def on_connected(self, conn: Connection) -> None:
        self._peer_has[conn] = set()
        if self.shares:
            conn.send(self._bitfield())

    def on_closed(self, conn: Connection) -> None:
        self._peer_has.pop(conn, None)
        for index in [i for i, asked in self._asked.items() if asked is conn]:
            del self._asked[index]  # handed back: someone else will be asked
        self._request_more()

    def on_bitfield(self, conn: Connection, message: Bitfield) -> None:
        if self._same_object(conn, message.root):
            if message.chunk_count != self.manifest.chunk_count:
                conn.close(f"bitfield of {message.chunk_count} chunks, "
                           f"the object has {self.manifest.chunk_count}")
                return
            self._peer_has[conn] = set(message.have)
            self._request_more()

    def on_have(self, conn: Connection, message: Have) -> None:
        if self._same_object(conn, message.root):
            self._peer_has.setdefault(conn, set()).add(message.index)
            self._request_more()

    def on_getchunk(self, conn: Connection, message: GetChunk) -> None:
        if not self._same_object(conn, message.root):
            return
        if not self.shares or message.index not in self.chunks:
            conn.ignore(f"getchunk {message.index}, which {self.name} does not serve")
            return
        self.spawn(self._upload(conn, message.index))

    async def _upload(self, conn: Connection, index: int) -> None:
        if self._upload_slot is None:
            self._upload_slot = asyncio.Lock()
        async with self._upload_slot:  # one chunk at a time, first come first served
            if self.upload_rate:
                await asyncio.sleep(len(self.chunks[index]) / self.upload_rate)
            if conn.is_open:
                conn.send(self.chunk_message(index))
                self.uploaded += 1

    def chunk_message(self, index: int) -> Chunk:
        """The chunk message for ``index`` (a hook: CorruptPeer overrides it)."""
        return Chunk(self.manifest.root, index, self.chunks[index], self.proofs[index])

    def on_chunk(self, conn: Connection, message: Chunk) -> None:
        if not self._same_object(conn, message.root):
            return
        index, peer = message.index, self.peer_name(conn)
        if self._asked.get(index) is not conn:
            conn.ignore(f"chunk {index}, which was not asked of {peer}")
            return
        del self._asked[index]
        try:
            verify_chunk(self.manifest, index, message.data, message.proof)
        except ValidationError as error:
            self.bad_chunks.append((peer, str(error)))
            self.record("bad chunk", peer, str(error))
            where = self.state(conn).listen_address
            if where is not None:
                self.addrman.ban(where, f"sent a bad chunk: {error}")  # never dialled again
            conn.close(f"sent a bad chunk: {error}")  # on_closed asks someone else
            return
        peer_complete = len(self._peer_has.get(conn, ())) == self.manifest.chunk_count
        self.chunks[index], self.proofs[index] = message.data, message.proof
        now = asyncio.get_running_loop().time()
        self.arrivals.append(Arrival(index, peer, peer_complete, now))
        if self.shares:  # tell those who lack it (BitTorrent tells everyone; the rest know already)
            for other in self.live_connections():
                if index not in self._peer_has.get(other, ()):
                    other.send(Have(self.manifest.root, index))
        if self.is_complete:
            self.completed_at = now
            self.record("complete", None,
                        f"all {self.manifest.chunk_count} chunks, each checked against the root")
        self._request_more()

    def _request_more(self) -> None:
        """Ask each idle peer for the rarest chunk it has that we lack and nobody is fetching."""
        if self.is_complete:
            return
        busy = set(self._asked.values())
        idle = sorted((c for c in self.live_connections() if c not in busy and c in self._peer_has),
                      key=self.peer_name)
        for conn in idle:
            wanted = [i for i in self._peer_has[conn] if i not in self.chunks and i not in self._asked]
            if not wanted:
                continue
            rarity = {i: sum(i in has for has in self._peer_has.values()) for i in wanted}
            fewest = min(rarity.values())
            index = self.rng.choice(sorted(i for i in wanted if rarity[i] == fewest))
            self._asked[index] = conn
            conn.send(GetChunk(self.manifest.root, index))


class CorruptPeer(SwarmPeer):
    """A peer whose chunks have their first byte flipped: their Merkle proofs no longer lead to the root."""

    def chunk_message(self, index: int) -> Chunk:
        good = super().chunk_message(index)
        bad = bytes([good.data[0] ^ 0xFF]) + good.data[1:]
        return Chunk(good.root, index, bad, good.proof)
