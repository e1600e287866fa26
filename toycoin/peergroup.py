"""Peer group: a client's connections to several full nodes, and moving on when one dies.

A wallet that knows one node stops when that node stops (chapter 03). A peer
group knows several: it keeps live connections to ``connections`` of them,
learns more addresses with getaddr/addr, and redials the ones that went down
with backoff, using the same loop as full nodes (toycoin.addrman's
keep_connected). One of the live connections is the one the client asks;
when it closes, the group picks another at once and records the switch.

    PeerGroup(name, addresses, discover=True, connections=params.SPV_CONNECTIONS)
      start(), stop(), is_running, add_node(target)
      node (the one it asks now), last_node, nodes (all live), banned
      events, subscribe(callback), unsubscribe(callback), wait_until(predicate)
    For subclasses (toycoin.spv.LightClient), on the network thread:
      ask(conn, message, kinds)   send one question, await its answer, in order
      with_node(work)             run work(conn) on the node it asks; if that node
                                  dies or is caught lying, on the next one
      ban(conn, reason)           disconnect a liar and never dial it again
      on_connected(conn)          hook: a new full node finished the handshake

A client announces no services in its version message: it is a wallet, not
a relay, and full nodes do not count it among their peers. BitcoinJ calls the
same idea a PeerGroup; Bitcoin Core's own wallet runs inside a full node.

Simplifications compared with Bitcoin: the node asked is chosen by name (the
first live one, alphabetically) rather than by measured speed; a liar is
banned for the rest of the run (Bitcoin Core: 24 hours, -bantime).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from toycoin import params
from toycoin.addrman import AddrMan, Address, dial_error, keep_connected, target_address
from toycoin.errors import NodeError, ValidationError
from toycoin.events import Recorder
from toycoin.peer import Connection, Limits
from toycoin.runtime import Runtime, get_runtime
from toycoin.wire import Addr, GetAddr, Message, Ping, Pong, Verack, Version

T = TypeVar("T")


class Link:
    """One connection to a full node (state inside the PeerGroup only)."""

    def __init__(self, address: Address, name: str) -> None:
        self.address, self.name = address, name
        self.version: Version | None = None
        self.replies: asyncio.Queue = asyncio.Queue()  # answers, then the close reason (a str)
        self.lock = asyncio.Lock()  # one question at a time, so answers come back in order


class PeerGroup(Recorder):
    """Connections to full nodes for a client; every method but the hooks is thread-safe."""

    answer_types: tuple[type[Message], ...] = ()  # messages that answer the client's questions

    def __init__(self, name: str, addresses: Iterable[Any], discover: bool = True,
                 connections: int = params.SPV_CONNECTIONS, runtime: Runtime | None = None,
                 limits: Limits | None = None, timeout: float = 5.0,
                 rng: random.Random | None = None) -> None:
        super().__init__(name, get_runtime(runtime))
        self.discover, self.connections = discover, connections
        self.limits, self.timeout = limits or Limits(), timeout
        self.addrman = AddrMan()
        self._given = [target_address(a) for a in addresses]
        self._rng = rng or random.Random()
        self._links: dict[Connection, Link] = {}
        self._current: Connection | None = None
        self.last_node: str | None = None  # the node it asks, or asked last
        self._down: dict[Address, str] = {}  # addresses whose last dial failed, and why
        self._banned: dict[Address, str] = {}  # caught lying: address -> what it did
        self._running = False
        self._tasks: set[asyncio.Task] = set()
        self._changed: asyncio.Event | None = None

    # --- synchronous API -------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runtime.run(coro, 4 * self.timeout)

    def stop(self) -> None:
        """Close every connection and stop redialling."""
        self._run(self._stop())

    @property
    def is_running(self) -> bool:
        return self._running

    def add_node(self, target: Any) -> None:
        """Tell the client about one more full node (a Node, a NodeProcess or (host, port))."""
        address, label = target_address(target)
        self.runtime.call(self._want, address, "asked", label)

    @property
    def node(self) -> str | None:
        """The full node it asks right now (None when no node answers)."""
        return self._read(lambda: self._links[self._current].name if self._current else None)

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every full node it has a live connection to, sorted."""
        return self._read(self._live_names)

    @property
    def banned(self) -> dict[str, str]:
        """Nodes caught lying: name -> what they did."""
        return self._read(lambda: {self.addrman.label(a): why for a, why in sorted(self._banned.items())})

    def _live_names(self) -> tuple[str, ...]:
        return tuple(sorted(link.name for conn, link in self._links.items()
                            if conn.handshaked and conn.is_open))

    def _pulse(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    # --- starting, stopping, dialling (toycoin.addrman.Dialler) ----------------------

    async def _start(self) -> None:
        if self._running:
            return
        self._running, self._changed = True, asyncio.Event()
        for address, label in self._given:
            self._want(address, "asked", label)

    async def _stop(self) -> None:
        self._running = False
        for conn in list(self._links):
            conn.close("wallet stopped")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)

    def _want(self, address: Address, how: str, label: str | None = None) -> None:
        if address in self._banned:
            return
        if self.addrman.want(address, how, label) and self._running:
            task = asyncio.get_running_loop().create_task(keep_connected(self, address))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _may_dial(self, address: Address) -> bool:
        if address in self._banned or any(link.address == address for link in self._links.values()):
            return False
        if self.addrman.is_learned(address):
            return len(self._links) + len(self.addrman.dialling) < self.connections
        return True

    async def _wait_for_change(self) -> None:
        assert self._changed is not None
        await self._changed.wait()

    async def _open(self, address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.wait_for(asyncio.open_connection(*address), self.timeout)
        except (OSError, asyncio.TimeoutError) as error:
            self._down[address] = dial_error(error)
            self._pulse()
            raise

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     target: Address | None) -> bool:
        assert target is not None  # a client only dials out
        link = Link(target, self.addrman.label(target))
        conn = Connection(reader, writer, inbound=False, label=link.name, dispatch=self._dispatch,
                          log=self._record, limits=self.limits)
        self._links[conn] = link
        conn.send(Version(self.name, self._rng.getrandbits(64), 0, self._height(), services=0))
        try:
            await conn.run()
        finally:
            del self._links[conn]
            link.replies.put_nowait(conn.close_reason or "connection ended")
            if (conn.close_reason or "").startswith("malformed"):
                self._banned.setdefault(target, conn.close_reason or "")
                self.addrman.forget(target)
            self._record("disconnected", link.name, conn.close_reason or "connection ended")
            if conn is self._current:
                self._choose_node(lost=link.name)
            self._pulse()
        return conn.handshaked

    def _height(self) -> int:
        return 0  # subclasses announce how far they are

    # --- messages --------------------------------------------------------------------

    def _dispatch(self, conn: Connection, message: Message) -> None:
        link = self._links[conn]
        if isinstance(message, Version):
            self._on_version(conn, link, message)
        elif isinstance(message, Verack) and link.version and not conn.handshaked:
            conn.handshaked = True
            self._down.pop(link.address, None)
            self._record("connected", link.name, "outbound full node")
            if self.discover:
                conn.send(GetAddr())
            if self._current is None:
                self._choose_node()
            self._pulse()
            self.on_connected(conn)
        elif isinstance(message, Ping):
            conn.send(Pong(message.nonce))
        elif isinstance(message, Addr) and self.discover:
            for address in message.addresses:
                if self.addrman.learnable(address, ("", 0)):
                    self._want(address, "learned")
        elif isinstance(message, self.answer_types) and conn.handshaked:
            link.replies.put_nowait(message)
        else:
            conn.ignore(f"a light client does not handle {message.command.decode()} here")

    def _on_version(self, conn: Connection, link: Link, message: Version) -> None:
        if link.version is not None:
            conn.close("a second version message")
        elif not message.is_full_node:
            conn.close(f"{message.name} is not a full node")
        else:
            link.version, link.name = message, message.name
            conn.label = message.name
            self.addrman.labels[link.address] = message.name
            conn.send(Verack())

    def on_connected(self, conn: Connection) -> None:
        """Hook: ``conn`` to a full node has just finished its handshake."""

    # --- asking, failing over, banning -----------------------------------------------

    def _choose_node(self, lost: str | None = None) -> None:
        """Ask the first live node, by name; record the move."""
        live = sorted((link.name, conn) for conn, link in self._links.items()
                      if conn.handshaked and conn.is_open)
        self._current = live[0][1] if live else None
        if self._current is not None:
            name = live[0][0]
            detail = f"{lost} is gone; now asking {name}" if lost else "the first full node to answer"
            self.last_node = name
            self._record("switched" if lost else "asking", name, detail)
        elif lost:
            self._record("stuck", lost, f"{lost} is gone and no other full node answers")

    async def ask(self, conn: Connection, message: Message, kinds: tuple[type[Message], ...]) -> Message:
        """Send ``message`` on ``conn`` and return the next answer of one of ``kinds``."""
        link = self._links.get(conn)
        if link is None:
            raise NodeError("that node is gone")
        async with link.lock:
            conn.send(message)
            while True:
                try:
                    item = await asyncio.wait_for(link.replies.get(), self.timeout)
                except asyncio.TimeoutError:
                    conn.close(f"no answer to {message!r} within {self.timeout:g}s")
                    raise NodeError(f"{link.name} did not answer within {self.timeout:g}s") from None
                if isinstance(item, str):
                    link.replies.put_nowait(item)  # closed: every later question fails too
                    raise NodeError(f"{link.name} hung up: {item}")
                if isinstance(item, kinds):
                    return item

    def ban(self, conn: Connection, reason: str) -> None:
        """A node forged an answer: record it, disconnect it, never dial it again."""
        link = self._links.get(conn)
        if link is None:
            return
        self._banned[link.address] = reason
        self.addrman.forget(link.address)
        self._record("caught lying", link.name, reason)
        conn.close(f"forged answer: {reason}")

    async def with_node(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """``work(conn)`` on the node it asks; if that node dies or lies, on the next one."""
        for _ in range(len(self.addrman.wanted) + len(self._banned) + 2):
            conn = await self._node_or_explain()
            try:
                return await work(conn)
            except ValidationError as error:
                self.ban(conn, str(error))
            except NodeError:
                if conn.is_open:
                    raise
            if conn is self._current:  # wait for the close to pick the next node
                await self._until(lambda c=conn: c is not self._current, self.timeout)
        raise NodeError(f"{self.name} tried every full node it knows, and none answered honestly")

    async def _node_or_explain(self) -> Connection:
        """The node it asks; while none answers, wait until one does or every known one failed."""
        def settled() -> bool:
            return self._current is not None or all(a in self._down for a in self.addrman.wanted)

        await self._until(settled, self.timeout)
        if self._current is not None:
            return self._current
        raise NodeError(self._stuck_message())

    def _stuck_message(self) -> str:
        known = sorted(self.addrman.wanted)
        if not known:
            return f"{self.name} knows no full node that is not banned"
        if len(known) == 1 and not self.discover:
            address = known[0]
            why = self._down.get(address, "no answer")
            return (f"{self.name} knows only one full node, {self.addrman.label(address)}, "
                    f"and it does not answer ({why}): nothing can be checked until that node is back")
        names = ", ".join(self.addrman.label(a) for a in known)
        return f"none of the full nodes {self.name} knows answers ({names}); it keeps trying them"

    async def _until(self, predicate: Callable[[], bool], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate() and loop.time() < deadline:
            assert self._changed is not None
            try:
                await asyncio.wait_for(self._changed.wait(), min(0.05, deadline - loop.time()))
            except asyncio.TimeoutError:
                pass

