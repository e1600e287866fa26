"""Connection manager: a node's listening port, its dials, and the connections it holds.

The lowest part of a node (Bitcoin Core: ``CConnman`` in net.cpp). It opens
and closes TCP connections and keeps count of them; what travels over them
is for the layers above: toycoin.peerman (the handshake, pings, addresses)
and toycoin.node (the ledger). Each connection is a toycoin.peer.Connection.

    ConnMan                  base of toycoin.node.Node
      start(), stop(), kill(), restart(), is_running, address
      connect(other), disconnect(other), peers, connection_count
      events, subscribe(callback), wait_until(predicate)   (toycoin.events.Recorder)
    PeerState                what the node knows about one connection
    check_name(name)         a node name is 1 to MAX_NAME_LENGTH printable ASCII characters

For the layers above, on the network thread: ``_serve`` runs one connection
from open to close, ``_live_peers()`` are the handshaked full nodes,
``_label(conn)`` names a peer, ``_want``/``_forget`` add and drop addresses to
stay connected to (toycoin.addrman runs the dialling loops), and these hooks
are theirs to fill: ``_dispatch(conn, message)``, ``_version_message()``,
``_on_started()``, ``_on_closed(conn)``, ``ping(peer)``.

The connection cap: at most ``limits.max_connections`` connections, inbound
and outbound together (a connection over the cap is reset as it arrives),
and at most ``limits.max_outbound`` to addresses learned from peers.

Stopping: ``stop()`` closes each connection (FIN) and then the port;
``kill()`` resets each one (RST), as a crash does. Both keep the port, so
``restart()`` listens where the node listened before.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from toycoin import params
from toycoin.addrman import AddrMan, Address, format_address, keep_connected, target_address
from toycoin.errors import NodeError
from toycoin.events import Recorder
from toycoin.peer import Connection, Limits
from toycoin.runtime import DEFAULT_TIMEOUT, Runtime, get_runtime
from toycoin.wire import Message, Version

T = TypeVar("T")


@dataclass
class PeerState:
    """What the node knows about one connection (state inside the Node only)."""

    target: Address | None = None  # the address we dialled (outbound only)
    version: Version | None = None
    verack_received: bool = False
    listen_address: Address | None = None  # where the peer itself listens
    answered_getaddr: bool = False
    pings: dict[int, asyncio.Future] = field(default_factory=dict)


def check_name(name: str) -> str:
    if not (0 < len(name) <= params.MAX_NAME_LENGTH and all(" " <= c <= "~" for c in name)):
        raise ValueError(f"a node name is 1 to {params.MAX_NAME_LENGTH} printable ASCII characters")
    return name


class ConnMan(Recorder):
    """Listening, dialling and closing; public methods may be called from any thread but the network's."""

    def __init__(self, name: str, host: str, port: int, runtime: Runtime | None, limits: Limits | None,
                 rng: random.Random | None, discover: bool) -> None:
        super().__init__(check_name(name), get_runtime(runtime))
        self.host, self._port = host, port
        self.limits = limits or Limits()
        self._rng = rng or random.Random()
        # Dial addresses learned from addr messages? False is Bitcoin Core's -connect:
        # only the peers the node was told about (a star stays a star).
        self.discover = discover
        self.nonce = 0  # drawn at each start
        self._server: asyncio.Server | None = None
        self._peers: dict[Connection, PeerState] = {}
        self.addrman = AddrMan()  # whom to stay connected to (toycoin.addrman)
        self._tasks: set[asyncio.Task] = set()  # reconnect loops and connection handlers
        self._changed: asyncio.Event | None = None  # pulsed when a connection opens or closes

    # --- synchronous API -------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = DEFAULT_TIMEOUT) -> T:
        return self.runtime.run(coro, timeout)

    def start(self) -> None:
        """Listen on (host, port); port 0 picks a free one, kept for restarts."""
        self._run(self._start())

    def stop(self) -> None:
        """Stop cleanly: peers are told (FIN), then the port is released."""
        self._run(self._stop(abrupt=False))

    def kill(self) -> None:
        """Stop abruptly, like a crash: every connection is reset (RST)."""
        self._run(self._stop(abrupt=True))

    def restart(self) -> None:
        """Stop if running, then listen again on the same port with the same ledger."""
        self._run(self._stop(abrupt=False))
        self._run(self._start())

    @property
    def is_running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> Address:
        if self._port == 0:
            raise NodeError(f"node {self.name} has no port yet: start it first")
        return (self.host, self._port)

    def connect(self, target: Any, wait: bool = True, timeout: float = 10.0) -> None:
        """Connect to another node (a Node, a NodeProcess or a (host, port)) and keep connected.

        With ``wait``, return once both ends count the connection (handshake,
        then a ping round trip); NodeError if that takes longer than ``timeout``
        or if the address turns out to be this node. Without ``wait``, the node
        keeps dialling in the background, with backoff, until it succeeds.
        """
        address, label = target_address(target)
        if wait and not self.is_running:
            raise NodeError(f"node {self.name} is not running: start it before connecting")
        self.runtime.call(self._want, address, "asked", label)
        if wait:
            self.runtime.wait_until(
                lambda: self._handshaked_with(address) or address in self.addrman.myself,
                timeout,
                f"{self.name} is connected to {label}",
            )
            if address in self.addrman.myself:
                raise NodeError(f"{format_address(address)} is {self.name} itself: it got its own nonce back")
            # Our verack went out before this ping: the pong proves the peer has handled it,
            # so both ends count the connection when this returns.
            self.ping(self._read(lambda: self._name_at(address)), timeout)

    def disconnect(self, target: Any) -> None:
        """Forget a peer: close connections to it and stop reconnecting."""
        address, _ = target_address(target)
        self.runtime.call(self._forget, address)

    @property
    def peers(self) -> tuple[str, ...]:
        """Names of the full nodes this node has a live, handshaked connection with."""
        return self._read(lambda: tuple(sorted({self._label(c) for c in self._live_peers()})))

    @property
    def connection_count(self) -> int:
        """Live handshaked connections to full nodes (a mesh of n nodes has n-1 at each)."""
        return self._read(lambda: len(self._live_peers()))

    # --- hooks for the layers above ----------------------------------------------------

    def ping(self, peer: str, timeout: float = 10.0) -> float:
        raise NotImplementedError  # toycoin.peerman

    def _dispatch(self, conn: Connection, message: Message) -> None:
        raise NotImplementedError  # toycoin.peerman

    def _version_message(self) -> Version:
        raise NotImplementedError  # toycoin.peerman

    def _on_started(self) -> None:
        """Start the node's own background tasks (on the network thread)."""

    def _on_closed(self, conn: Connection) -> None:
        """``conn`` has just closed and left the table of peers."""

    # --- starting and stopping -------------------------------------------------------

    def _pulse(self) -> None:
        """Wake the reconnect loops: a connection opened or closed."""
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def _start(self) -> None:
        if self._server is not None:
            return
        self.nonce = self._rng.getrandbits(64)
        self._changed = asyncio.Event()
        try:
            self._server = await asyncio.start_server(self._on_inbound, self.host, self._port)
        except OSError as error:
            raise NodeError(_listen_error(self.host, self._port, error)) from None
        self._port = self._server.sockets[0].getsockname()[1]
        self._record("started", None, f"listening on {format_address(self.address)}")
        for address in self.addrman.wanted:
            self._spawn(keep_connected(self, address))
        self._on_started()

    async def _stop(self, abrupt: bool) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()  # no new connections from here on
        for conn in list(self._peers):
            if abrupt:
                conn.abort("node killed")
            else:
                conn.close("node stopped")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        await self._until(lambda: not self._peers, 5.0)  # inbound handlers end on their own
        # Only now: on Python 3.12+ wait_closed() waits for every connection to end.
        try:
            await asyncio.wait_for(server.wait_closed(), 5.0)
        except asyncio.TimeoutError:
            pass  # a connection that would not close; the port is released all the same
        self._record("killed" if abrupt else "stopped", None, "connections reset" if abrupt else "clean stop")

    async def _until(self, predicate: Callable[[], bool], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate() and loop.time() < deadline:
            assert self._changed is not None
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
            except asyncio.TimeoutError:
                pass

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- connections -----------------------------------------------------------------

    async def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None or len(self._peers) >= self.limits.max_connections:
            writer.transport.abort()
            self._record("refused", None, f"too many connections ({len(self._peers)})")
            return
        await self._serve(reader, writer, None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     target: Address | None) -> bool:
        """Run one connection until it ends; return whether its handshake completed."""
        peer = writer.get_extra_info("peername")
        label = self.addrman.label(target) if target else format_address(peer)
        conn = Connection(reader, writer, inbound=target is None, label=label,
                          dispatch=self._dispatch, log=self._record, limits=self.limits)
        self._peers[conn] = PeerState(target=target, listen_address=target)
        self._record("opened", label, "outbound" if target else "inbound")
        if target:
            conn.send(self._version_message())
        try:
            await conn.run()
        finally:  # also when stop() cancels this task
            label, state = self._label(conn), self._peers.pop(conn)
            for future in state.pings.values():
                if not future.done():
                    future.set_exception(NodeError(f"{label} disconnected before answering a ping"))
            self._record("disconnected", label, conn.close_reason or "node stopped")
            self._on_closed(conn)
            self._pulse()
        return conn.handshaked

    def _live_peers(self) -> list[Connection]:
        return [c for c, s in self._peers.items()
                if c.handshaked and c.is_open and s.version and s.version.is_full_node]

    def _label(self, conn: Connection) -> str:
        state = self._peers.get(conn)
        return state.version.name if state and state.version else conn.label

    def _handshaked_with(self, address: Address) -> bool:
        return any(self._peers[c].listen_address == address for c in self._live_peers())

    def _name_at(self, address: Address) -> str:
        return next(self._label(c) for c in self._live_peers() if self._peers[c].listen_address == address)

    def _linked(self, address: Address) -> bool:
        """An open connection to the node listening at ``address``, handshaked or not."""
        return any(s.listen_address == address and c.is_open for c, s in self._peers.items())

    # --- keeping connected (toycoin.addrman runs the dialling loops) --------------------

    def _want(self, address: Address, how: str, label: str | None = None) -> None:
        if self.addrman.want(address, how, label) and self._server is not None:
            self._spawn(keep_connected(self, address))

    def _forget(self, address: Address) -> None:
        self.addrman.forget(address)
        for conn, state in list(self._peers.items()):
            if state.listen_address == address:
                conn.close("disconnected on request")
        self._pulse()

    def _may_dial(self, address: Address) -> bool:
        if self._linked(address) or len(self._peers) >= self.limits.max_connections:
            return False
        if self.addrman.is_learned(address):
            if not self.discover:
                return False
            # Dials in progress count too (see toycoin.addrman).
            outbound = sum(1 for c in self._live_peers() if not c.inbound) + len(self.addrman.dialling)
            return outbound < self.limits.max_outbound
        return True

    async def _wait_for_change(self) -> None:
        assert self._changed is not None
        await self._changed.wait()

    async def _open(self, address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(asyncio.open_connection(*address), self.limits.frame_timeout)


def _listen_error(host: str, port: int, error: OSError) -> str:
    where = f"cannot listen on {host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"{where}: address already in use (is another node on that port?)"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{where}: {host} is not an address of this machine"
    if isinstance(error, socket.gaierror):
        return f"{where}: {host!r} is not a valid host name or IP address"
    return f"{where}: {error.strerror or error}"
