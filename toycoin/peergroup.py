"""Peer group: a client's connections to several full nodes, and moving on when one dies.

A wallet that knows one node stops when that node stops (chapter 03). A peer
group knows several: it keeps live connections to ``connections`` of them,
learns more addresses with getaddr/addr, and redials the ones that went down
with backoff; like a node it dials only inside its ``networks`` (loopback
unless told otherwise, toycoin.addrman.undialable). It is built on the same
connection layer as a full node (toycoin.peerman), as a peer that does not
listen and announces no services.
One of the live connections is the one the client asks;
when it closes, the group picks another at once and records the switch.

    PeerGroup(name, addresses, discover=True, connections=params.SPV_CONNECTIONS, networks=None)
      start(), stop(), is_running, add_node(target)
      node (the one it asks now), last_node, nodes (all live), banned
      events, subscribe(callback), unsubscribe(callback), wait_until(predicate)
    For subclasses (toycoin.spv.LightClient), on the network thread:
      answer_types                messages that answer its questions
      ask(conn, message, kinds)   send one question, await its answer, in order (toycoin.peerman)
      with_node(work)             run work(conn) on the node it asks; if that node
                                  dies or is caught lying, on the next one
      ban(conn, reason)           disconnect a liar and never dial it again
      on_connected(conn)          hook: a new full node finished the handshake (call super)

A client announces no services in its version message: it is a wallet, not
a relay, and full nodes do not count it among their peers. BitcoinJ calls the
same idea a PeerGroup; Bitcoin Core's own wallet runs inside a full node.

Simplifications compared with Bitcoin: the node asked is chosen by name (the
first live one, alphabetically) rather than by measured speed; a liar is
banned for the rest of the run (Bitcoin Core: 24 hours, -bantime).
"""

from __future__ import annotations

import random
from ipaddress import IPv4Network
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import TypeVar

from toycoin import params
from toycoin.addrman import Target, target_address
from toycoin.errors import NodeError, ValidationError
from toycoin.message import Message
from toycoin.peer import Connection, Limits
from toycoin.peerman import PeerMan
from toycoin.runtime import Runtime

T = TypeVar("T")


class PeerGroup(PeerMan):
    """Connections to full nodes for a client; every method but the hooks is thread-safe."""

    answer_types: tuple[type[Message], ...] = ()  # messages that answer the client's questions

    def __init__(self, name: str, addresses: Iterable[Target], discover: bool = True,
                 connections: int = params.SPV_CONNECTIONS, runtime: Runtime | None = None,
                 limits: Limits | None = None, timeout: float = 5.0,
                 rng: random.Random | None = None,
                 networks: Iterable[str | IPv4Network] | None = None) -> None:
        super().__init__(name, listen=False, service_flags=0, learn_addresses=discover, discover=discover,
                         runtime=runtime, rng=rng, networks=networks,
                         limits=replace(limits or Limits(), max_outbound=connections))
        self.timeout = timeout
        self.answers.update(self.answer_types)
        for address, label in (target_address(a) for a in addresses):
            self.addrman.ask(self.dial_address(address, label), label)
        self._current: Connection | None = None
        self.last_node: str | None = None  # the node it asks, or asked last

    # --- synchronous API -------------------------------------------------------------

    def add_node(self, target: Target) -> None:
        """Tell the client about one more full node (a Node, a NodeProcess or (host, port))."""
        self.connect(target, wait=False)

    @property
    def node(self) -> str | None:
        """The full node it asks right now (None when no node answers)."""
        return self._read(lambda: self.peer_name(self._current) if self._current else None)

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every full node it has a live connection to, sorted."""
        return self.peers

    @property
    def banned(self) -> dict[str, str]:
        """Nodes caught lying: name -> what they did."""
        book = self.addrman
        return self._read(lambda: {book.label(a): why for a, why in sorted(book.banned.items())})

    # --- what the connection layer tells it ------------------------------------------

    def on_connected(self, conn: Connection) -> None:
        if self._current is None:
            self._choose_node()

    def on_closed(self, conn: Connection) -> None:
        target = self.state(conn).target
        if target is not None and (conn.close_reason or "").startswith("malformed"):
            self.addrman.ban(target, conn.close_reason or "")
        if conn is self._current:
            self._choose_node(lost=self.peer_name(conn))

    # --- asking, failing over, banning -----------------------------------------------

    def _choose_node(self, lost: str | None = None) -> None:
        """Ask the first live node, by name; record the move."""
        live = sorted((self.peer_name(c), c) for c in self.live_connections())
        self._current = live[0][1] if live else None
        if self._current is not None:
            name = live[0][0]
            detail = f"{lost} is gone; now asking {name}" if lost else "the first full node to answer"
            self.last_node = name
            self.record("switched" if lost else "asking", name, detail)
        elif lost:
            self.record("stuck", lost, f"{lost} is gone and no other full node answers")

    def ban(self, conn: Connection, reason: str) -> None:
        """A node forged an answer: record it, disconnect it, never dial it again."""
        if conn not in self.connections():
            return
        target = self.state(conn).target
        if target is not None:
            self.addrman.ban(target, reason)
        self.record("caught lying", self.peer_name(conn), reason)
        conn.close(f"forged answer: {reason}")

    async def with_node(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """``work(conn)`` on the node it asks; if that node dies or lies, on the next one."""
        for _ in range(len(self.addrman.wanted) + len(self.addrman.banned) + 2):
            conn = await self._node_or_explain()
            try:
                return await work(conn)
            except ValidationError as error:
                self.ban(conn, str(error))
            except NodeError:
                if conn.is_open:
                    raise
            if conn is self._current:  # wait for the close to pick the next node
                await self.until(lambda c=conn: c is not self._current, self.timeout)
        raise NodeError(f"{self.name} tried every full node it knows, and none answered honestly")

    async def _node_or_explain(self) -> Connection:
        """The node it asks; while none answers, wait until one does or every known one failed."""
        def settled() -> bool:
            return self._current is not None or all(a in self.addrman.down for a in self.addrman.wanted)

        await self.until(settled, self.timeout)
        if self._current is not None:
            return self._current
        raise NodeError(self._stuck_message())

    def _stuck_message(self) -> str:
        known = sorted(self.addrman.wanted)
        if not known:
            return f"{self.name} knows no full node that is not banned"
        if len(known) == 1 and not self.discover:
            address = known[0]
            why = self.addrman.down.get(address, "no answer")
            return (f"{self.name} knows only one full node, {self.addrman.label(address)}, "
                    f"and it does not answer ({why}): nothing can be checked until that node is back")
        names = ", ".join(self.addrman.label(a) for a in known)
        return f"none of the full nodes {self.name} knows answers ({names}); it keeps trying them"
