"""Flood: searching an unstructured network by asking every neighbour, who asks theirs.

In an unstructured network (Gnutella, 2000) nodes link to a few others at
random and nobody knows who holds what. To find an item, a node sends a query
to each neighbour; each passes it on to its own neighbours, and so on, until
its time-to-live (TTL, the hops it may still travel) runs out. A node that
holds the item answers with a hit, sent back along the path the query came.
A search reaches every node within TTL hops, and costs about one message per
link it crosses: n times the average degree for a search that reaches
everyone.

    MAX_TTL                the largest TTL a query may carry (more is a malformed message)
    Query(query_id, key, ttl), Hit(query_id, key, holder)
    FLOOD_MESSAGES         the registry: handshake, pings, query, hit
    FloodNode(PeerMan)     holds items, passes queries on, routes hits back
      add_item(key), search(key, ttl) -> query id, hits(query_id), saw(query_id)
      queries_sent, queries_received, hits_sent, hits_received: counters
    Search                 one finished search: holders found, nodes reached, messages
    flood_search(nodes, origin, key, ttl)   search and wait until the flood has died out

Each node remembers the queries it has seen (the highest TTL for each), so a
query that comes back by another path is dropped, unless it comes with more
hops left than before: then it is passed on again, so that every node within
TTL hops is reached whatever the order of arrival (Gnutella dropped every
repeat, and reached a set that depended on timing).

Bitcoin floods too, but it floods announcements (inv) of items that every
node wants, not questions about an item one node wants: see chapter 11.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from toycoin.encoding import ByteReader
from toycoin.errors import ParseError
from toycoin.message import Message, read_text, short_hex, write_text
from toycoin.msg_control import Ping, Pong, Verack, Version
from toycoin.params import MAX_NAME_LENGTH
from toycoin.peer import Connection
from toycoin.peerman import PeerMan
from toycoin.wire import message_set

MAX_TTL = 16  # Gnutella's default TTL was 7
MAX_REMEMBERED_QUERIES = 10_000  # query ids a node remembers (the oldest are forgotten)
MAX_REMEMBERED_HITS = 10_000  # (query id, holder) pairs a node has passed on (the oldest forgotten)


@dataclass(frozen=True, repr=False)
class Query(Message):
    """Who holds ``key``? Pass it on while ``ttl`` > 1."""

    command: ClassVar[bytes] = b"query"
    query_id: int
    key: bytes
    ttl: int

    def serialize(self) -> bytes:
        return self.query_id.to_bytes(8, "little") + self.key + self.ttl.to_bytes(1, "little")

    @classmethod
    def read_from(cls, reader: ByteReader) -> Query:
        query_id, key, ttl = reader.read_int(8), reader.read(32), reader.read_int(1)
        if not 1 <= ttl <= MAX_TTL:
            raise ParseError(f"query with ttl {ttl} (1 to {MAX_TTL})")
        return cls(query_id, key, ttl)

    def __repr__(self) -> str:
        return f"query({short_hex(self.key)}, ttl={self.ttl})"


@dataclass(frozen=True, repr=False)
class Hit(Message):
    """``holder`` has ``key``: the answer to query ``query_id``, on its way back."""

    command: ClassVar[bytes] = b"hit"
    query_id: int
    key: bytes
    holder: str

    def serialize(self) -> bytes:
        return self.query_id.to_bytes(8, "little") + self.key + write_text(self.holder)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Hit:
        return cls(reader.read_int(8), reader.read(32), read_text(reader, MAX_NAME_LENGTH, "holder name"))

    def __repr__(self) -> str:
        return f"hit({short_hex(self.key)}, holder={self.holder!r})"


FLOOD_MESSAGES = message_set(Version, Verack, Ping, Pong, Query, Hit)


class FloodNode(PeerMan):
    """A node of an unstructured network: it holds items and floods queries."""

    def __init__(self, name: str, **options: Any) -> None:
        options.setdefault("learn_addresses", False)  # the graph stays as it was wired
        super().__init__(name, messages=FLOOD_MESSAGES, **options)
        self.items: set[bytes] = set()
        self.queries_sent = self.queries_received = self.hits_sent = self.hits_received = 0
        self._seen: OrderedDict[int, tuple[int, Connection | None]] = OrderedDict()  # id -> (ttl, from)
        self._hits: dict[int, set[str]] = {}  # hits for our own queries
        self._passed: OrderedDict[tuple[int, str], None] = OrderedDict()  # hits taken, each once
        self._next_query = 0
        self._query_base = self.rng.getrandbits(64)  # query ids of different nodes do not meet
        self.handle(Query, self.on_query)
        self.handle(Hit, self.on_hit)

    def add_item(self, key: bytes) -> None:
        self.runtime.call(self.items.add, key)

    def search(self, key: bytes, ttl: int) -> int:
        """Start a search; return its query id (hits arrive later: see flood_search)."""
        if not 1 <= ttl <= MAX_TTL:
            raise ValueError(f"a TTL is 1 to {MAX_TTL}")
        return self.runtime.call(self._search, key, ttl)

    def hits(self, query_id: int) -> tuple[str, ...]:
        return self._read(lambda: tuple(sorted(self._hits.get(query_id, ()))))

    def saw(self, query_id: int) -> bool:
        """Whether this node has seen the query."""
        return self._read(lambda: query_id in self._seen)

    def _search(self, key: bytes, ttl: int) -> int:
        self._next_query += 1
        query_id = (self._query_base ^ self._next_query) & (2**64 - 1)
        self._remember(query_id, ttl + 1, None)
        self._hits[query_id] = set()
        self._forward(Query(query_id, key, ttl), None)
        return query_id

    def _remember(self, query_id: int, ttl: int, came_from: Connection | None) -> None:
        self._seen[query_id] = (ttl, came_from)
        self._seen.move_to_end(query_id)
        while len(self._seen) > MAX_REMEMBERED_QUERIES:
            self._seen.popitem(last=False)

    def _forward(self, query: Query, came_from: Connection | None) -> None:
        for conn in self.live_connections():
            if conn is not came_from:
                conn.send(query)
                self.queries_sent += 1

    def on_query(self, conn: Connection, message: Query) -> None:
        self.queries_received += 1
        seen = self._seen.get(message.query_id)
        if seen is not None and seen[0] >= message.ttl:
            return  # a repeat, with no more hops left than before
        first_time = seen is None
        self._remember(message.query_id, message.ttl, conn if first_time else seen[1])
        if first_time and message.key in self.items:
            conn.send(Hit(message.query_id, message.key, self.name))
            self.hits_sent += 1
        if message.ttl > 1:
            self._forward(Query(message.query_id, message.key, message.ttl - 1), conn)

    def on_hit(self, conn: Connection, message: Hit) -> None:
        self.hits_received += 1
        seen = self._seen.get(message.query_id)
        if seen is None:
            conn.ignore("a hit for a query this node never saw")
            return
        pair = (message.query_id, message.holder)
        if pair in self._passed:  # a holder answers a query once: a repeat is no news
            conn.ignore(f"a repeated hit from {message.holder}")
            return
        self._passed[pair] = None
        while len(self._passed) > MAX_REMEMBERED_HITS:
            self._passed.popitem(last=False)
        if seen[1] is None:  # our own query
            hits = self._hits.setdefault(message.query_id, set())
            if len(hits) < MAX_REMEMBERED_HITS:
                hits.add(message.holder)
        elif seen[1].is_open:
            seen[1].send(message)  # back the way the query came
            self.hits_sent += 1


@dataclass(frozen=True)
class Search:
    """One search, after its flood has died out."""

    holders: tuple[str, ...]  # nodes that answered, sorted
    reached: int  # nodes that saw the query (the origin included)
    queries: int  # query messages sent
    hits: int  # hit messages sent (each hop back counts)
    query_id: int = 0  # ask a node whether it saw the query: node.saw(query_id)

    @property
    def found(self) -> bool:
        return bool(self.holders)


def flood_search(nodes: Sequence[FloodNode], origin: FloodNode, key: bytes, ttl: int,
                 timeout: float = 60.0) -> Search:
    """Search from ``origin`` and wait until every message of the flood has been handled.

    The flood is over when, since the search began, the running nodes have
    received as many queries and hits as they sent. Stop or kill nodes before a search, not during one:
    a message sent to a node that dies is never received.
    """
    running = [n for n in nodes if n.is_running]

    def totals() -> tuple[int, int, int, int]:
        return (sum(n.queries_sent for n in running), sum(n.queries_received for n in running),
                sum(n.hits_sent for n in running), sum(n.hits_received for n in running))

    before = origin.runtime.call(totals)
    query_id = origin.search(key, ttl)

    def died_out() -> bool:  # every message of this search sent has been received
        sent_q, got_q, sent_h, got_h = (now - then for now, then in zip(totals(), before, strict=True))
        return sent_q == got_q and sent_h == got_h

    origin.wait_until(died_out, timeout, f"the flood of query {query_id} has died out")

    def counts() -> tuple[int, int, int]:
        after = totals()
        return sum(n.saw(query_id) for n in running), after[0] - before[0], after[2] - before[2]

    reached, queries, hits = origin.runtime.call(counts)
    return Search(origin.hits(query_id), reached, queries, hits, query_id)
