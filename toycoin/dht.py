"""DHT: a Kademlia node, a structured network where every key has a place.

In an unstructured network (toycoin.flood) nobody knows where an item is, so
a search asks everyone. In a distributed hash table the key itself says where
to look: the value for a key is stored on the k nodes whose ids are closest
to it (toycoin.kbucket), and any node finds them by asking, in rounds, the
closest nodes it knows for even closer ones. Each round about halves the
distance, so a lookup takes about log2(n) rounds, not n messages.

    DHT_MESSAGES           the registry: handshake, pings and toycoin.msg_dht
    Lookup                 what a lookup found: the closest contacts, a value and its holder,
                           rounds (hops) and questions asked (rpcs)
    DhtNode(PeerMan)       a node of the DHT
      join(bootstrap)      learn the network from one node it knows: look up its own id
      lookup(target)       the k live nodes closest to ``target``
      store(key, value, replicas=k)   store on the ``replicas`` closest nodes; how many took it
      find(key)            look the value up; stops at the first node that holds it
      on_findnode, on_findvalue, on_store   the answers it gives

Each question is one short session of the connection layer (dial, handshake,
ask, close: toycoin.peerman.PeerMan.session). Kademlia sends UDP datagrams
instead; a session costs more, and keeps the one connection layer. A node
that does not answer is dropped from the routing table, and the lookup
carries on with the others: with k replicas a key survives the death of many
nodes. Contacts outside the node's own networks (``networks=``, by default
toycoin.addrman.local_networks) are never kept, so a hostile answer cannot
make it dial the internet.

A lookup runs in rounds: ask the ``alpha`` closest contacts not asked yet,
all at once; merge what they return, in the order they were asked (so runs
repeat); stop when the k closest known have all answered. ``find`` stops at
the first round in which a node returns the value.

Simplifications compared with Kademlia: values never expire and are not
republished every hour; no caching along the lookup path; bucket refresh is
left out (lookups keep the tables fresh enough here); a node trusts the
sender id a message claims (real DHTs tie ids to addresses, or to proof of work).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from toycoin.addrman import Target, in_networks, target_address
from toycoin.errors import NodeError
from toycoin.kbucket import ID_BYTES, Contact, RoutingTable, distance, node_id
from toycoin.message import Message
from toycoin.msg_control import Ping, Pong, Verack, Version
from toycoin.msg_dht import MAX_CONTACTS, FindNode, FindValue, Nodes, Store, Value
from toycoin.peer import Connection
from toycoin.peerman import PeerMan
from toycoin.wire import message_set

K = 8  # replicas of a value, and contacts per bucket (Kademlia uses 20; fewer fit 500 nodes on a laptop)
ALPHA = 3  # questions in flight in each round of a lookup (Kademlia's alpha)
MAX_STORED_VALUES = 10_000  # values one node keeps for others

DHT_MESSAGES = message_set(Version, Verack, Ping, Pong, FindNode, FindValue, Store, Nodes, Value)


@dataclass
class Lookup:
    """What one lookup found, and what it cost."""

    target: bytes
    closest: list[Contact] = field(default_factory=list)
    value: bytes | None = None
    holder: str | None = None  # the name of the node that returned the value
    hops: int = 0  # rounds of questions
    rpcs: int = 0  # questions asked
    failed: int = 0  # questions nobody answered (dead nodes)
    asked: list[tuple[bytes, ...]] = field(default_factory=list)  # the ids asked, round by round

    @property
    def found(self) -> bool:
        return self.value is not None


class DhtNode(PeerMan):
    """A Kademlia node on the one connection layer."""

    def __init__(self, name: str, *, k: int = K, alpha: int = ALPHA, **options: Any) -> None:
        options.setdefault("learn_addresses", False)
        super().__init__(name, messages=DHT_MESSAGES, **options)
        if not 1 <= k <= MAX_CONTACTS:
            raise ValueError(f"k is 1 to {MAX_CONTACTS}: a nodes message holds at most {MAX_CONTACTS}")
        self.node_id = node_id(name)
        self.k, self.alpha = k, alpha
        self.table = RoutingTable(self.node_id, k)
        self.values: dict[bytes, bytes] = {}
        self.answers.update({Nodes, Value})  # handed to the lookup that asked
        for message_type, handler in ((FindNode, self.on_findnode), (FindValue, self.on_findvalue),
                                      (Store, self.on_store)):
            self.handle(message_type, handler)

    # --- synchronous API -------------------------------------------------------------

    def join(self, bootstrap: Target) -> Lookup:
        """Join through one known node: ask it about our own id, then look our own id up."""
        address, label = target_address(bootstrap)
        return self._run(self._join(address, label), 60.0)

    def lookup(self, target: bytes) -> Lookup:
        return self._run(self._lookup(target, find_value=False), 60.0)

    def store(self, key: bytes, value: bytes, replicas: int | None = None) -> int:
        """Store ``value`` on the ``replicas`` (default k) closest live nodes; return how many took it."""
        return self._run(self._store(key, value, replicas or self.k), 60.0)

    def find(self, key: bytes) -> Lookup:
        """Look ``key`` up; ``.value`` is None if no node that was reached holds it."""
        if key in self.values:
            return Lookup(key, value=self.values[key], holder=self.name)
        return self._run(self._lookup(key, find_value=True), 60.0)

    @property
    def contact(self) -> Contact:
        return Contact(self.node_id, *self.address)

    # --- answering (network thread) ---------------------------------------------------

    def _learn(self, conn: Connection, sender: bytes) -> None:
        where = self.state(conn).listen_address
        if where is not None and in_networks(where, self.networks):
            self.table.add(Contact(sender, *where))

    def _nodes(self, conn: Connection, target: bytes) -> Nodes:
        asker = self.state(conn).listen_address
        closest = [c for c in self.table.closest(target, self.k + 1) if c.address != asker][: self.k]
        return Nodes(self.node_id, tuple(closest))

    def on_findnode(self, conn: Connection, message: FindNode) -> None:
        self._learn(conn, message.sender)
        conn.send(self._nodes(conn, message.target))

    def on_findvalue(self, conn: Connection, message: FindValue) -> None:
        self._learn(conn, message.sender)
        value = self.values.get(message.target)
        if value is not None:
            conn.send(Value(self.node_id, message.target, value))
        else:
            conn.send(self._nodes(conn, message.target))

    def on_store(self, conn: Connection, message: Store) -> None:
        self._learn(conn, message.sender)
        if message.key not in self.values and len(self.values) >= MAX_STORED_VALUES:
            conn.ignore(f"store, but {self.name} already keeps {MAX_STORED_VALUES:,} values")
            return
        self.values[message.key] = message.value

    # --- asking (network thread) ------------------------------------------------------

    async def _ask(self, contact: Contact, message: Message, who: str) -> Message | None:
        """One question in one short session; None (and the contact forgotten) if nobody answers."""
        try:
            async with self.session(contact.address, who) as conn:
                if isinstance(message, Store):
                    await self.tell(conn, message, ())
                    return message
                return await self.ask(conn, message, (Nodes, Value))
        except NodeError:
            self.table.remove(contact.node_id)
            return None

    def dialable(self, contacts: tuple[Contact, ...]) -> list[Contact]:
        """The contacts of an answer that may be dialled: in our networks, not ourselves."""
        return [c for c in contacts if c.node_id != self.node_id and len(c.node_id) == ID_BYTES
                and in_networks(c.address, self.networks)]

    async def _join(self, address: tuple[str, int], label: str) -> Lookup:
        unknown = Contact(bytes(ID_BYTES), *address)  # its id comes with its answer
        answer = await self._ask(unknown, FindNode(self.node_id, self.node_id), label)
        if not isinstance(answer, Nodes):
            raise NodeError(f"{self.name} cannot join through {label}: it did not answer")
        self.table.add(Contact(answer.sender, *address))
        for contact in self.dialable(answer.contacts):
            self.table.add(contact)
        return await self._lookup(self.node_id, find_value=False)

    async def _lookup(self, target: bytes, find_value: bool) -> Lookup:
        result = Lookup(target)
        known = {c.node_id: c for c in self.table.closest(target, self.k)}
        asked: set[bytes] = set()
        dead: set[bytes] = set()
        while True:
            shortlist = sorted((c for i, c in known.items() if i not in dead),
                               key=lambda c: distance(c.node_id, target))[: self.k]
            batch = [c for c in shortlist if c.node_id not in asked][: self.alpha]
            if not batch:
                result.closest = shortlist
                return result
            result.hops += 1
            result.rpcs += len(batch)
            result.asked.append(tuple(c.node_id for c in batch))
            asked.update(c.node_id for c in batch)
            message = (FindValue if find_value else FindNode)(self.node_id, target)
            answers = await asyncio.gather(*(self._ask(c, message, f"DHT node {c.node_id.hex()[:8]}")
                                             for c in batch))
            for contact, answer in zip(batch, answers, strict=True):  # in the order asked: runs repeat
                if answer is None:
                    dead.add(contact.node_id)
                    result.failed += 1
                    continue
                self.table.add(Contact(answer.sender, *contact.address))  # type: ignore[attr-defined]
                if isinstance(answer, Value) and answer.key == target and result.value is None:
                    result.value, result.holder = answer.value, self._holder_name(contact)
                elif isinstance(answer, Nodes):
                    for learned in self.dialable(answer.contacts):
                        known.setdefault(learned.node_id, learned)
            if result.value is not None:
                result.closest = shortlist
                return result

    def _holder_name(self, contact: Contact) -> str:
        return self.addrman.label(contact.address)

    async def _store(self, key: bytes, value: bytes, replicas: int) -> int:
        found = await self._lookup(key, find_value=False)
        targets = found.closest[:replicas]
        message = Store(self.node_id, key, value)
        answers = await asyncio.gather(*(self._ask(c, message, f"DHT node {c.node_id.hex()[:8]}")
                                         for c in targets))
        return sum(answer is not None for answer in answers)
