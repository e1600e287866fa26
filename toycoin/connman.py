"""Connection manager: listening, dialling with backoff, and the connections a peer holds.

The lower half of the one connection layer that every kind of peer in
toycoin is built on: a full node, a light wallet's peer group, a wallet
client's short sessions, and any other kind of node with a message set of its
own (Bitcoin Core: ``CConnman`` in net.cpp). It opens and closes TCP
connections, keeps count of them, and keeps dialling the addresses it wants;
what travels over them is the business of toycoin.peerman (the handshake,
pings, addresses, routing) and of the owner above it. Each connection is a
toycoin.peer.Connection.

    ConnMan(name, host, port, listen, ..., networks=None)
      start(), stop(), kill(), restart(), is_running, address
      networks                  where it may dial (default: toycoin.addrman.local_networks(host))
      dial_address(address)     a (host, port) to dial, a name looked up once; NodeError if outside
      shutdown(abrupt)   what stop and kill run, for the network thread (stops many peers at once)
      connect(target), disconnect(target), retry(target), peers, connection_count
      block(target), unblock(target), blocked    a firewall between two peers (a partition)
      link_delay                                 seconds each frame it sends waits (a slow link)
      events, subscribe(callback), wait_until(predicate)   (toycoin.events.Recorder)
    PeerState        what the layer knows about one connection
    check_name(name) a name is 1 to MAX_NAME_LENGTH printable ASCII characters

For the layers above, on the network thread: ``live_connections()`` (the
handshaked full nodes), ``connections()``, ``tasks()``, ``state(conn)``,
``peer_name(conn)``, ``listen_address(conn)``, ``spawn(coro)``,
``every(seconds, callback)``, ``until(predicate, timeout)``, ``changed(timeout)``
and ``want(address, how)``; and the hooks they fill: ``dispatch``,
``version_message``, ``on_started``, ``on_closed``.

Where: only inside ``networks`` (127.0.0.0/8 for a loopback host, the /24
around a LAN host, or what it was given), and never to 0.0.0.0, multicast,
broadcast or link-local addresses (toycoin.addrman.undialable). Asking for an
address outside is a NodeError that names ``networks=``; a learned one is
dropped.

Listening belongs to toycoin.listener: a free port at first, the same one
after a restart, and a stopped node's port refusing before ``stop()`` returns.
Dialling belongs to toycoin.dialler (``self.dialler``), from the book that
toycoin.addrman keeps (``self.addrman``): a loop of its own for each address
it was asked to connect to, redialling with backoff for ever; one loop for
all the addresses it learned, one dial at a time, rate-limited, only while
fewer than ``limits.max_outbound`` outbound connections are open or being
dialled, and only when it discovers (``discover=True``; False is Bitcoin
Core's -connect).

Slots: inbound and outbound connections are counted apart. At most
``limits.max_inbound`` handshaked inbound connections (what the outbound slots
leave of ``limits.max_connections``); a newcomer that finishes its handshake
and finds them all taken makes room by evicting an inbound peer that has shown
nothing an attacker cannot fake (toycoin.eviction), or is closed if every one
is protected. Before that, a connection waits in a small pool of its own,
MAX_INBOUND_HANDSHAKES, for at most ``limits.handshake_timeout`` (a few
seconds); when the pool is full, one goes: one that misbehaved, else one that
has not said a word yet, else the one that has waited longest (an honest peer
says version at once). So strangers that connect and churn compete with each
other for the pool, and evict an established peer only by finishing a
handshake, and a wallet's short session (connect, handshake, one question) is
over before anyone reaches it. Bitcoin Core counts every inbound connection in
one pool and spreads evictions across address groups instead, which cannot
tell peers apart on one machine. A dial is never held back by inbound
connections: outbound ones count only against ``limits.max_outbound`` (learned
addresses) and ``limits.max_connections`` (asked ones).

Stopping: ``stop()`` closes each connection (FIN) and then the port;
``kill()`` resets each one (RST), as a crash does. Both keep the port, so
``restart()`` listens where the peer listened before. A dial under way when
the peer stops is dropped, never served (toycoin.dialler), so a stop
leaves no connection and no task behind (else it records "stop incomplete").
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import random
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from toycoin import listener, params
from toycoin.addrman import (AddrBudget, AddrMan, Address, Target, format_address, parse_networks,
                             target_address)
from toycoin.dialler import Dialler, checked_address, resolve
from toycoin.errors import NodeError
from toycoin.eviction import Candidate, netgroup, select
from toycoin.events import Recorder
from toycoin.message import Message
from toycoin.msg_control import Version
from toycoin.peer import Connection, Limits
from toycoin.runtime import DEFAULT_TIMEOUT, Runtime, get_runtime
from toycoin.wire import NODE_MESSAGES, FrameHeader, MessageSet

T = TypeVar("T")


@dataclass
class PeerState:
    """What the connection layer knows about one connection (state inside one peer only)."""

    target: Address | None = None  # the address we dialled (outbound only)
    nonce: int = 0  # the nonce of the version we sent on this connection
    version: Version | None = None
    verack_received: bool = False
    listen_address: Address | None = None  # where the peer itself listens
    answered_getaddr: bool = False
    addr_budget: AddrBudget = field(default_factory=AddrBudget)  # addresses it may still send us
    pings: dict[int, asyncio.Future] = field(default_factory=dict)
    # Answers to our questions (toycoin.peerman.PeerMan.ask), then why the connection ended.
    replies: asyncio.Queue = field(default_factory=asyncio.Queue)
    asking: asyncio.Lock = field(default_factory=asyncio.Lock)  # one question at a time
    # What protects an inbound peer from eviction (toycoin.eviction), in loop time.
    last_block: float = 0.0  # it last sent a block that joined our chain
    last_tx: float = 0.0  # it last sent a transaction that entered our mempool
    min_ping: float = math.inf  # its fastest ping round trip
    ping_out: tuple[int, float] | None = None  # (nonce, when) of the last ping we sent it


def _resolved(target: Target) -> Address:
    """The (host, port) a target is known by in the address book: its host name looked up."""
    address, label = target_address(target)
    return resolve(address[0], address[1], label), address[1]


def check_name(name: str) -> str:
    if not (isinstance(name, str) and 0 < len(name) <= params.MAX_NAME_LENGTH
            and all(" " <= c <= "~" for c in name)):
        raise ValueError(f"a node name is 1 to {params.MAX_NAME_LENGTH} printable ASCII characters "
                         f"(no accents), not {name!r}")
    return name


class ConnMan(Recorder):
    """Listening, dialling and closing; public methods may be called from any thread but the network's."""

    def __init__(self, name: str, *, host: str = "127.0.0.1", port: int = 0, listen: bool = True,
                 runtime: Runtime | None = None, limits: Limits | None = None,
                 rng: random.Random | None = None, discover: bool = True,
                 messages: MessageSet = NODE_MESSAGES,
                 networks: Iterable[str | ipaddress.IPv4Network] | None = None) -> None:
        super().__init__(check_name(name), get_runtime(runtime))
        self.host, self._port, self.listen = host, port, listen
        # The only places it dials, asked or learned (toycoin.addrman.undialable).
        self.networks = parse_networks(networks, host)
        self.limits = limits or Limits()
        self.timeout = self.limits.frame_timeout  # seconds a dial, or an answer to ask(), may take
        self.rng = rng or random.Random()
        # Version nonces come from a generator of their own, seeded from rng: how many connections
        # open, and in which order, then changes nothing else the owner draws from rng.
        self._nonces = random.Random(self.rng.getrandbits(64))
        self.discover = discover
        self.messages = messages  # the registry its connections parse frames with
        # Whom to stay connected to. Its random replacements (a flood) draw from a generator of
        # their own, not from rng: what a peer advertises changes nothing the owner draws.
        self.addrman = AddrMan()
        self.dialler = Dialler(self)  # dials what the book holds (toycoin.dialler)
        self.blocked: set[Address] = set()  # a firewall: never connected to, in or out (a partition)
        self._link_delay = 0.0
        self._running = False
        self._server: asyncio.Server | None = None
        self._peers: dict[Connection, PeerState] = {}
        self._tasks: set[asyncio.Task] = set()  # dial loops, connection handlers, services' timers
        self._changed = asyncio.Event()  # pulsed when a connection opens, closes or fails to open

    # --- synchronous API -------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = DEFAULT_TIMEOUT) -> T:
        return self.runtime.run(coro, timeout)

    def start(self) -> None:
        """Start: listen on (host, port) if it listens (port 0 picks a free one, kept for restarts)."""
        self._run(self._start())

    def stop(self) -> None:
        """Stop cleanly: peers are told (FIN), then the port is released."""
        self._run(self.shutdown(abrupt=False))

    def kill(self) -> None:
        """Stop abruptly, like a crash: every connection is reset (RST)."""
        self._run(self.shutdown(abrupt=True))

    def restart(self) -> None:
        """Stop if running, then start again on the same port."""
        self._run(self.shutdown(abrupt=False))
        self._run(self._start())

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def address(self) -> Address:
        if self._port == 0:
            raise NodeError(f"node {self.name} has no port yet: start it first")
        return (self.host, self._port)

    def connect(self, target: Target, wait: bool = True, timeout: float = 10.0) -> None:
        """Connect to a node (a Node, a NodeProcess or a (host, port)) and keep connected.

        With ``wait``, return once both ends count the connection (handshake,
        then a ping round trip); NodeError if that takes longer than ``timeout``
        or if the address turns out to be this node. Without ``wait``, it keeps
        dialling in the background, with backoff, until it succeeds.
        """
        address, label = target_address(target)
        address = self.dial_address(address, label)
        if wait and not self.is_running:
            raise NodeError(f"node {self.name} is not running: start it before connecting")
        self.runtime.call(self.want, address, "asked", label)
        if wait:
            self.runtime.wait_until(
                lambda: self._connection_to(address) is not None or address in self.addrman.myself,
                timeout,
                f"{self.name} is connected to {label}",
            )
            if address in self.addrman.myself:
                raise NodeError(f"{format_address(address)} is {self.name} itself: it got its own nonce back")
            # Our verack went out before this ping: the pong proves the peer has handled it,
            # so both ends count the connection when this returns.
            peer = self._read(lambda: (conn := self._connection_to(address)) and self.peer_name(conn))
            if not peer:  # handshaked, then closed at once: the peer or this node hung up
                raise NodeError(f"{self.name} connected to {label}, but the connection closed at once "
                                f"(its 'disconnected' event says why); it redials with backoff")
            self.ping(peer, timeout)

    def dial_address(self, address: Address, label: str | None = None) -> Address:
        """``address`` checked for dialling, a host name looked up once (toycoin.dialler.
        checked_address); NodeError naming ``networks=`` if it may not be dialled."""
        return checked_address(address, self.networks, self.name, label)

    def retry(self, target: Target) -> None:
        """Dial ``target``, a peer it keeps connected to, now rather than at the end of its backoff:
        for when you know it is back (nothing if it is connected, or was never asked for)."""
        self.runtime.call(self.dialler.retry, _resolved(target))

    def disconnect(self, target: Target) -> None:
        """Forget a peer: close connections to it and stop redialling it."""
        self.runtime.call(self._forget, _resolved(target))

    @property
    def link_delay(self) -> float:
        """Seconds every frame it sends waits first: a slow link, for experiments (0: none)."""
        return self._link_delay

    @link_delay.setter
    def link_delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a link delay is 0 seconds or more")
        self._link_delay = seconds
        for conn in list(self._peers):
            conn.delay = seconds

    def block(self, target: Target) -> None:
        """Cut this peer off from ``target``, as a firewall would: the connections between them
        close, and neither dial nor accept succeeds until ``unblock`` (a state: twice is once)."""
        address, _ = target_address(target)
        self.runtime.call(self._block, address)

    def unblock(self, target: Target) -> None:
        """Let connections to ``target`` through again; the dial loops reconnect by themselves."""
        address, _ = target_address(target)
        self.runtime.call(self._unblock, address)

    def _block(self, address: Address) -> None:
        self.blocked.add(address)
        for conn, state in list(self._peers.items()):
            if state.listen_address == address:
                conn.close("blocked: the network is partitioned")
        self.pulse()

    def _unblock(self, address: Address) -> None:
        self.blocked.discard(address)
        self.pulse()

    @property
    def peers(self) -> tuple[str, ...]:
        """Names of the full nodes it has a live, handshaked connection with."""
        return self._read(lambda: tuple(sorted({self.peer_name(c) for c in self.live_connections()})))

    @property
    def connection_count(self) -> int:
        """Full nodes it has a live, handshaked connection with (a mesh of n nodes has n-1 at each;
        two nodes that dialled each other at once hold two connections, and count once)."""
        return self._read(lambda: len({self.peer_name(c) for c in self.live_connections()}))

    def ping(self, peer: str, timeout: float = 10.0) -> float:
        raise NotImplementedError  # toycoin.peerman

    # --- for the layers above (network thread) ---------------------------------------

    def live_connections(self) -> list[Connection]:
        """Open, handshaked connections to full nodes."""
        return [c for c, s in self._peers.items()
                if c.handshaked and c.is_open and s.version and s.version.is_full_node]

    def connections(self) -> list[Connection]:
        """Every connection, open or closing, handshaked or not."""
        return list(self._peers)

    def tasks(self) -> list[asyncio.Task]:
        """This peer's background tasks that have not finished (none once it has stopped)."""
        return [task for task in self._tasks if not task.done()]

    def state(self, conn: Connection) -> PeerState:
        return self._peers[conn]

    def peer_name(self, conn: Connection) -> str:
        """The name the peer gave in its version; its address before that."""
        state = self._peers.get(conn)
        return state.version.name if state and state.version else conn.label

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run ``coro`` as a task of this peer: stop() cancels it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def every(self, seconds: float, callback: Callable[[float], None]) -> None:
        """Call ``callback(now)`` every ``seconds`` (loop time) until the peer stops."""
        async def timer() -> None:
            loop = asyncio.get_running_loop()
            while True:
                await asyncio.sleep(seconds)
                callback(loop.time())

        self.spawn(timer())

    def pulse(self) -> None:
        """Wake the dial loops and ``until``: connections changed."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait on the network thread until ``predicate()`` holds or ``timeout`` passes; return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate() and loop.time() < deadline:
            try:  # woken by a pulse, and re-checked every 50 ms in case nothing pulses
                await asyncio.wait_for(self._changed.wait(), min(0.05, deadline - loop.time()))
            except asyncio.TimeoutError:
                pass
        return predicate()

    async def changed(self, timeout: float | None = None) -> None:
        """Wait for the next pulse (connections changed), or ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def credit(self, conn: Connection, kind: str) -> None:
        """``conn`` has just given us something new and valid: a "block" or a "tx" (it protects
        the peer from eviction)."""
        state = self._peers.get(conn)
        if state is not None:
            setattr(state, f"last_{kind}", asyncio.get_running_loop().time())

    def inbound_count(self) -> int:
        """Open, handshaked inbound connections: those that hold an inbound slot."""
        return sum(1 for c in self._peers if c.inbound and c.is_open and c.handshaked)

    def outbound_count(self) -> int:
        """Open outbound connections, handshaked or not."""
        return sum(1 for c in self._peers if not c.inbound and c.is_open)

    def want(self, address: Address, how: str, label: str | None = None) -> None:
        """Keep connected to ``address``: "asked" (checked by ``dial_address`` first), or "learned"
        from a peer (kept only if it may be dialled; toycoin.dialler)."""
        self.dialler.want(address, how, label, own=(self.host, self._port))

    def listen_address(self, conn: Connection) -> Address | None:
        """Where the peer at the other end of ``conn`` listens (None: not known, or a wallet)."""
        state = self._peers.get(conn)
        return state.listen_address if state else None

    # --- hooks for the layers above ----------------------------------------------------

    def dispatch(self, conn: Connection, message: Message) -> None:
        raise NotImplementedError  # toycoin.peerman

    def admit(self, conn: Connection, header: FrameHeader, payload: bytes) -> str | None:
        """Hook: None to parse this whole frame, or why it is dropped unparsed (toycoin.peerman)."""
        return None

    def version_message(self, nonce: int) -> Version:
        raise NotImplementedError  # toycoin.peerman

    def on_started(self) -> None:
        """Start background tasks (on the network thread)."""

    def on_closed(self, conn: Connection) -> None:
        """``conn`` has just closed; ``state(conn)`` is readable until this returns."""

    def on_stopped(self) -> None:
        """Stopped or killed: every connection and task has ended (on the network thread)."""

    # --- starting and stopping -------------------------------------------------------

    async def _start(self) -> None:
        if self._running:
            return
        if self.listen:
            self._server = await listener.listen(self._on_inbound, self.host, self._port)
            self._port = self._server.sockets[0].getsockname()[1]
            self.record("started", None, f"listening on {format_address(self.address)}")
        self._running = True
        self.dialler.start()
        self.on_started()

    async def shutdown(self, abrupt: bool = False) -> None:
        """What stop() (and, abrupt, kill()) runs, for a caller on the network thread.

        Everything up to the first ``await`` happens in one step: no new
        connections, every connection closed, every task cancelled. So
        toycoin.network can stop many peers at once, before any of them
        redials another.
        """
        if not self._running:
            return
        self._running = False
        server, self._server = self._server, None
        if server is not None:
            server.close()  # no new connections from here on
        for conn in list(self._peers):
            if abrupt:
                conn.abort("node killed")
            else:
                conn.close(f"{'node' if self.listen else 'wallet'} stopped")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        await self.until(lambda: not self._peers, 5.0)  # inbound handlers end on their own
        if server is not None:
            # Only now: on Python 3.12+ wait_closed() waits for every connection to end.
            try:
                await asyncio.wait_for(server.wait_closed(), 5.0)
            except asyncio.TimeoutError:
                pass  # a connection that would not close; the port is released all the same
            await listener.released(self.host, self._port)
            self.record("killed" if abrupt else "stopped", None,
                        "connections reset" if abrupt else "clean stop")
        if self._tasks or self._peers:  # a task that ignored its cancel, a connection that stayed
            self.record("stop incomplete", None, f"{len(self._tasks)} tasks and "
                        f"{len(self._peers)} connections still running")
        self.on_stopped()

    # --- connections -----------------------------------------------------------------

    async def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None or self.limits.max_inbound == 0:
            writer.transport.abort()
            return
        waiting = [c for c in self._peers if c.inbound and c.is_open and not c.handshaked]
        if len(waiting) >= params.MAX_INBOUND_HANDSHAKES:
            # The first to go: one that misbehaved, else one that has said nothing yet, else the oldest.
            min(waiting, key=lambda c: (c.ignored == 0, c.last_received > c.opened_at, c.opened_at)).close(
                f"no handshake yet, and {len(waiting)} other connections are waiting for theirs")
        await self.serve(reader, writer, None)

    def make_room(self, conn: Connection) -> bool:
        """``conn``, inbound, has just finished its handshake: find it an inbound slot, evicting
        an unprotected peer if they are all taken (toycoin.eviction); else close it, False."""
        held = [c for c in self._peers if c.inbound and c.is_open and c.handshaked and c is not conn]
        if len(held) < self.limits.max_inbound:
            return True
        candidates = [Candidate(c, c.opened_at, c.last_received, self._peers[c].last_block,
                                self._peers[c].last_tx, self._peers[c].min_ping, netgroup(c.remote[0]),
                                c.ignored > 0) for c in held]
        victim = select(candidates)
        if not isinstance(victim, Connection):
            conn.close("every inbound slot is taken, and every inbound peer is protected from eviction")
            self.record("refused", conn.label, f"every inbound slot is taken ({len(held)})")
            return False
        victim.close("evicted: every inbound slot was taken, and a new peer arrived")
        self.record("evicted", self.peer_name(victim), f"to make room for {conn.label}")
        return True

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    target: Address | None, nonce: int | None = None,
                    opened: asyncio.Future[Connection] | None = None) -> bool:
        """Run one connection until it ends; return whether its handshake completed.

        Each connection's version carries a nonce of its own (``nonce``, or one
        drawn from ``rng``); an outbound connection (``target`` given) sends it
        first. ``opened`` receives the connection as soon as it exists.
        """
        peer = writer.get_extra_info("peername") or ("?", 0)
        label = self.addrman.label(target) if target else format_address(peer)
        conn = Connection(reader, writer, inbound=target is None, label=label, dispatch=self.dispatch,
                          log=self.record, limits=self.limits, messages=self.messages, delay=self.link_delay,
                          admit=self.admit)
        state = PeerState(target=target, listen_address=target,
                          nonce=self._nonces.getrandbits(64) if nonce is None else nonce)
        self._peers[conn] = state
        if opened is not None:
            opened.set_result(conn)
        self.record("opened", label, "outbound" if target else "inbound", direction="out" if target else "in")
        if target:
            conn.send(self.version_message(state.nonce))
        try:
            await conn.run()
        finally:  # also when stop() cancels this task
            label, reason = self.peer_name(conn), conn.close_reason or "node stopped"
            for future in state.pings.values():
                if not future.done():
                    future.set_exception(NodeError(f"{label} disconnected before answering a ping"))
            state.replies.put_nowait(reason)  # wakes a question waiting for an answer
            self.record("disconnected", label, reason)
            try:
                self.on_closed(conn)  # closed, but its state still readable
            except Exception as error:  # noqa: BLE001  (a bug above must not leave the connection here)
                self.record("service error", label, f"on_closed: {type(error).__name__}: {error}")
            del self._peers[conn]
            self.pulse()
        return conn.handshaked

    def _connection_to(self, address: Address) -> Connection | None:
        """The live connection to the node listening at ``address``, if any."""
        return next((c for c in self.live_connections() if self._peers[c].listen_address == address), None)

    # --- keeping connected -------------------------------------------------------------

    def _forget(self, address: Address) -> None:
        self.addrman.forget(address)
        for conn, state in list(self._peers.items()):
            if state.listen_address == address:
                conn.close("disconnected on request")
        self.pulse()
