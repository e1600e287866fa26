"""Node: a full node that listens on a TCP port, keeps a ledger, and talks to peers.

This is the upper of the two networking layers (Bitcoin Core's test framework
calls it ``P2PInterface``). Each connection (toycoin.peer) hands it messages;
the node routes each message type to one small ``on_<command>`` handler,
through a fixed table. Messages of other types are ignored and counted.

    Node                    the synchronous API a notebook, widget, test or script uses
      start, stop, kill, restart, is_running, address
      connect(other), disconnect(other), peers, connection_count, discover
      ping(peer), sync_with_ping(), wait_until(predicate)
      ledger, height, balance(address), submit_tx(tx), accept_block(block)
      events, subscribe(callback), unsubscribe(callback), snapshot(names)
    course_genesis()        the block every node of the course starts from

What a node records and reports (Event, NodeSnapshot) is in toycoin.events;
the address book and the reconnect-with-backoff loops are in toycoin.addrman.

The handshake is Bitcoin's: the side that connects sends ``version``; the
other answers with its own ``version`` and a ``verack``; the first side
answers ``verack``. Each ``version`` carries the sender's node name, its
listening port and a nonce. A version carrying our own nonce means we dialled
ourselves. Bitcoin Core draws a nonce per connection; toycoin draws one per
node run, which also reveals two connections to the same node (A dialled B
while B dialled A): the one dialled by the node with the smaller nonce stays.

Peers are found through ``getaddr``/``addr`` and every address a node was told
to connect to, or learned, is kept: when the peer goes away the node retries
with exponential backoff for as long as it runs (toycoin.addrman).

Payments, in two modes. With ``sync=False`` (chapters 03-05) a wallet's
``tx`` is validated and sealed into a block of this node at once, or answered
with ``reject`` and the reason; the node tells no other node, so two nodes
soon disagree. With ``sync=True`` (chapter 07) a payment enters the mempool
and gossips (toycoin.relay), ``seal()`` puts the mempool into the next block,
and blocks travel headers first to every node, which catches up from
several peers at once when it was down (toycoin.sync). With ``data_dir``
every block is also written to disk, atomically, and a restarted node
resumes from there (toycoin.store).

    Node(..., sync=True, data_dir=None)
      seal(), mempool, sync_status(), submit_tx(tx) (into the mempool)

Light clients (toycoin.spv) ask for headers (``getheaders``, answered from
the ledger's chain) and for Merkle proofs (``getproof``, answered through a
transaction index, toycoin.txindex).

Simplifications compared with Bitcoin: no proof of work, and no choice between
branches (a block that does not build on the tip is recorded, not applied);
one nonce per node run; addresses are IPv4 only; the node's clock is a
parameter (by default each block is stamped 600 seconds after the tip).
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import random
import socket
from collections import deque
from collections.abc import Callable, Coroutine
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, TypeVar

from toycoin import params
from toycoin.addrman import AddrMan, Address, format_address, is_ipv4, keep_connected, target_address
from toycoin.block import Block, make_genesis
from toycoin.errors import NodeError, ProtocolError, ValidationError
from toycoin.events import Event, NodeSnapshot
from toycoin.headers import headers_after
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.mempool import Mempool
from toycoin.peer import Connection, Limits
from toycoin.relay import Relay
from toycoin.runtime import Runtime, get_runtime
from toycoin.store import Store
from toycoin.sync import BlockSync
from toycoin.tx import Tx
from toycoin.txindex import TxIndex
from toycoin.wire import (
    Addr, GetAddr, GetUtxos, Message, Ping, Pong, Reject, TxMessage, Utxos, Verack, Version,
)
from toycoin.wire import GetHeaders, GetProof, Headers, NoProof, Proof
from toycoin.wire import MSG_BLOCK, MSG_TX, BlockMessage, GetData, Inv, InvItem, MempoolRequest, NotFound

T = TypeVar("T")

# Re-exported: views and callers found these here before they got modules of their own.
__all__ = ["Address", "Event", "Node", "NodeSnapshot", "course_genesis", "format_address"]


def course_genesis() -> Block:
    """The genesis block of the course: 100 coins to Alice, at a fixed time."""
    alice = PrivateKey.from_seed(params.GENESIS_SEED).address
    return make_genesis(alice, params.GENESIS_AMOUNT, params.GENESIS_TIMESTAMP)


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


class Node:
    """A full node; every method may be called from any thread except the network thread."""

    def __init__(
        self,
        name: str = "node",
        genesis: Block | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], int] | None = None,
        runtime: Runtime | None = None,
        limits: Limits | None = None,
        miner_address: str | None = None,
        rng: random.Random | None = None,
        discover: bool = True,
        sync: bool = False,
        data_dir: str | Path | None = None,
    ) -> None:
        self.name = check_name(name)
        self.host, self._port = host, port
        self.runtime = get_runtime(runtime)
        self.limits = limits or Limits()
        self.miner_address = miner_address or PrivateKey.from_seed(f"miner {name}").address
        genesis = genesis or course_genesis()
        # With a data directory the ledger is the store's, and every block goes to disk too.
        self._store = Store.open(data_dir, genesis) if data_dir is not None else None
        self._ledger = self._store.load() if self._store else Ledger(genesis)
        # sync=False is chapters 03-05: each node seals its own payments and tells nobody.
        # sync=True (chapter 07): payments wait in the mempool and gossip; blocks sync.
        self.sync = sync
        self.mempool = Mempool()
        self._relay = Relay(self)
        self._sync = BlockSync(self)
        self._txindex = TxIndex(self._ledger)  # answers light clients' getproof
        self._clock = clock
        self._rng = rng or random.Random()
        # Dial addresses learned from addr messages? False is Bitcoin Core's -connect:
        # only the peers the node was told about (a star stays a star).
        self.discover = discover
        self.nonce = 0  # drawn at each start
        self._ping_nonces = itertools.count(1)
        self._events: deque[Event] = deque(maxlen=params.MAX_EVENTS)
        self._subscribers: list[Callable[[Event], None]] = []
        self._server: asyncio.Server | None = None
        self._peers: dict[Connection, PeerState] = {}
        self.addrman = AddrMan()  # whom to stay connected to (toycoin.addrman)
        self._tasks: set[asyncio.Task] = set()  # reconnect loops and connection handlers
        self._changed: asyncio.Event | None = None  # pulsed when a connection opens or closes
        self._handlers: dict[type[Message], Callable[[Connection, Any], None]] = {
            Version: self.on_version,
            Verack: self.on_verack,
            Ping: self.on_ping,
            Pong: self.on_pong,
            GetAddr: self.on_getaddr,
            Addr: self.on_addr,
            GetUtxos: self.on_getutxos,
            TxMessage: self.on_tx,
            GetHeaders: self.on_getheaders,
            GetProof: self.on_getproof,
        }
        if sync:
            self._handlers.update({
                GetHeaders: self._sync.on_getheaders,  # answers as on_getheaders, and notes what the peer has
                Headers: self._sync.on_headers,
                BlockMessage: self._sync.on_block,
                Inv: self._relay.on_inv,
                GetData: self.on_getdata,
                NotFound: self.on_notfound,
                MempoolRequest: self._relay.on_mempool,
            })

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"Node({self.name!r}, {state}, height {self.height}, peers {', '.join(self.peers) or 'none'})"

    # --- synchronous API -------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return self.runtime.run(coro, timeout)

    def _read(self, fn: Callable[[], T]) -> T:
        """Read state on the loop thread; directly when already there (subscriber callbacks)."""
        return fn() if self.runtime.in_loop_thread() else self.runtime.call(fn)

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

    def ping(self, peer: str, timeout: float = 10.0) -> float:
        """Ping a peer by name and wait for its pong; return the round trip in seconds."""
        return self._run(self._ping(peer, timeout), timeout + 1.0)

    def sync_with_ping(self, timeout: float = 10.0) -> None:
        """Ping every peer: once all pongs are back, every earlier message was handled."""
        self._run(self._sync_with_ping(timeout), timeout + 1.0)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        self.runtime.wait_until(predicate, timeout, what or f"a condition holds on {self.name}")

    @property
    def ledger(self) -> Ledger:
        """The node's ledger; change it only through the node (submit_tx)."""
        return self._ledger

    @property
    def height(self) -> int:
        return self._read(lambda: self._ledger.height)

    def balance(self, address: str) -> int:
        return self._read(lambda: self._ledger.balance(address))

    def submit_tx(self, tx: Tx) -> Block | None:
        """Take a payment as if a wallet had sent it; ValidationError with the reason if refused.

        Without sync the node seals it into a block at once and returns the
        block; with sync it enters the mempool and gossips (returns None).
        """
        if self.sync:
            self._read(lambda: self._relay.accept(tx, None, None))
            return None
        return self._read(lambda: self._accept_payment(tx))

    def seal(self) -> Block:
        """Seal every payment of the mempool into the next block, apply it and announce it."""
        return self._read(self._seal)

    def sync_status(self) -> tuple[int, int]:
        """(height, best height known from peers): equal once caught up."""
        return self._read(lambda: (self._ledger.height, self._sync.best_height))

    def accept_block(self, block: Block) -> None:
        """Apply a block sealed elsewhere on top of this node's tip; ValidationError if it breaks a rule.

        An explicit way to give several nodes the same chain (chapter 06); the
        ledger checks the block exactly as it checks its own.
        """
        self._read(lambda: self._accept_block(block))

    def _accept_block(self, block: Block) -> None:
        self._ledger.apply_block(block)
        self._record("block accepted", None, f"height {self._ledger.height}, block {block.hash_hex[:12]}…")

    @property
    def events(self) -> list[Event]:
        """The most recent events (at most params.MAX_EVENTS), oldest first."""
        return self._read(lambda: list(self._events))

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on the network thread for every new event.

        The callback must be quick and may only read state (or set widget
        values). Returns a function that unsubscribes.
        """
        self._subscribers.append(callback)
        return lambda: self.unsubscribe(callback)

    def unsubscribe(self, callback: Callable[[Event], None]) -> None:
        """Stop calling ``callback`` (no error if it was not subscribed)."""
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def snapshot(self, names: dict[str, str] | None = None) -> NodeSnapshot:
        """A frozen picture; ``names`` maps addresses to labels for the balances shown."""
        return self._read(lambda: self._snapshot(names or {}))

    def _snapshot(self, names: dict[str, str]) -> NodeSnapshot:
        balances = tuple(sorted((label, self._ledger.balance(a)) for a, label in names.items()))
        peers = tuple(sorted({self._label(c) for c in self._live_peers()}))
        syncing = tuple(sorted({self._label(c) for c in self._sync.syncing_from()}))
        return NodeSnapshot(self.name, self.is_running, self._ledger.height,
                            self._ledger.tip.hash_hex, balances, peers, False, len(self.mempool),
                            syncing, self._sync.best_height)

    # --- events ----------------------------------------------------------------------

    def _record(self, kind: str, peer: str | None, detail: str) -> None:
        event = Event(self.runtime.next_seq(), kind, self.name, peer, detail)
        self._events.append(event)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception as error:  # a broken view must not break the node
                self._events.append(Event(self.runtime.next_seq(), "subscriber error", self.name,
                                          None, f"{type(error).__name__}: {error}"))
        self.runtime.notify()

    def _pulse(self) -> None:
        """Wake the reconnect loops: a connection opened or closed."""
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    # --- starting and stopping -------------------------------------------------------

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
        self._spawn(self._keepalive())
        if self.sync:
            self._spawn(self._sync_timer())

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
            if self.sync:
                self._relay.on_disconnect(conn)
                self._sync.on_disconnect(conn)
            self._pulse()
        return conn.handshaked

    def _dispatch(self, conn: Connection, message: Message) -> None:
        """Route a message to its handler; nothing but version/verack before the handshake."""
        command = message.command.decode()
        if not conn.handshaked and not isinstance(message, (Version, Verack)):
            conn.ignore(f"{command} before the handshake")
            return
        handler = self._handlers.get(type(message))
        if handler is None:
            conn.ignore(f"a node does not handle {command}")
            return
        try:
            handler(conn, message)
        except ProtocolError:
            raise
        except Exception as error:  # a bug here must cost one connection, not the node
            self._record("error", conn.label, f"{type(error).__name__} in on_{command}: {error}")
            raise ProtocolError(f"internal error while handling {command}") from error

    def _version_message(self) -> Version:
        return Version(self.name, self.nonce, self._port, self._ledger.height)

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

    async def _keepalive(self) -> None:
        """Ping quiet peers now and then, so a dead connection is noticed (PING_INTERVAL)."""
        while True:
            await asyncio.sleep(self.limits.ping_interval)
            for conn in self._live_peers():
                conn.send(Ping(next(self._ping_nonces)))

    # --- pings -----------------------------------------------------------------------

    async def _ping(self, peer: str, timeout: float) -> float:
        conns = [c for c in self._peers if c.handshaked and c.is_open and self._label(c) == peer]
        if not conns:
            raise NodeError(f"{self.name} has no connection to {peer!r}; its peers are {self.peers}")
        for conn in conns[:-1]:  # a second connection to a peer may be closing: try the next
            try:
                return await self._ping_connection(conn, timeout)
            except NodeError:
                if conn.is_open:
                    raise
        return await self._ping_connection(conns[-1], timeout)

    async def _ping_connection(self, conn: Connection, timeout: float) -> float:
        loop = asyncio.get_running_loop()
        nonce, future = next(self._ping_nonces), loop.create_future()
        self._peers[conn].pings[nonce] = future  # answered in on_pong, failed if conn closes
        started = loop.time()
        conn.send(Ping(nonce))
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise NodeError(f"timed out after {timeout:g}s waiting for a pong from {conn.label}") from None
        return loop.time() - started

    async def _sync_with_ping(self, timeout: float) -> None:
        conns = [c for c in self._peers if c.handshaked and c.is_open]
        results = await asyncio.gather(*(self._ping_connection(c, timeout) for c in conns),
                                       return_exceptions=True)
        for conn, result in zip(conns, results, strict=True):
            if isinstance(result, BaseException) and conn.is_open:
                raise result  # a peer that left meanwhile is no error; a silent one is

    # --- message handlers: one per command -------------------------------------------

    def on_version(self, conn: Connection, message: Version) -> None:
        state = self._peers[conn]
        if state.version is not None:
            raise ProtocolError("a second version message")
        if message.nonce == self.nonce:
            self._on_myself(conn)
            return
        state.version = message
        conn.label = message.name
        if message.is_full_node and conn.inbound:
            state.listen_address = (conn.remote[0], message.port)
        if self._drop_duplicate(conn, message):
            return
        if conn.inbound:
            conn.send(self._version_message())
        conn.send(Verack())
        self._check_handshake(conn)

    def _on_myself(self, conn: Connection) -> None:
        # The inbound end sees its own nonce; find the outbound end by its local address.
        for other, state in self._peers.items():
            if not other.inbound and other.writer.get_extra_info("sockname")[:2] == conn.remote:
                assert state.target is not None
                self.addrman.mark_myself(state.target)
                other.close("connected to itself")
        self._record("connected to itself", conn.label, "my own version nonce came back")
        conn.close("connected to itself")

    def _drop_duplicate(self, conn: Connection, message: Version) -> bool:
        """Two connections to the same node: keep the one dialled by the smaller nonce."""
        def dialler(c: Connection) -> int:
            return message.nonce if c.inbound else self.nonce

        for other, state in self._peers.items():
            if other is not conn and other.is_open and state.version and state.version.nonce == message.nonce:
                loser = other if dialler(other) > dialler(conn) else conn
                loser.close(f"second connection to {message.name}")
                return loser is conn
        return False

    def on_verack(self, conn: Connection, message: Verack) -> None:
        self._peers[conn].verack_received = True
        self._check_handshake(conn)

    def _check_handshake(self, conn: Connection) -> None:
        state = self._peers[conn]
        if conn.handshaked or not (state.version and state.verack_received):
            return
        conn.handshaked = True
        role = "full node" if state.version.is_full_node else "wallet"
        self._record("connected", conn.label, f"{'inbound' if conn.inbound else 'outbound'} {role}")
        self._pulse()
        if not conn.inbound and state.version.is_full_node:
            conn.send(GetAddr())  # like Bitcoin Core, ask outbound peers whom they know
        if self.sync and state.version.is_full_node:
            self._sync.on_connected(conn)  # getheaders: does the peer know blocks we lack?

    def on_ping(self, conn: Connection, message: Ping) -> None:
        conn.send(Pong(message.nonce))

    def on_pong(self, conn: Connection, message: Pong) -> None:
        future = self._peers[conn].pings.pop(message.nonce, None)
        if future is not None and not future.done():
            future.set_result(None)

    def on_getaddr(self, conn: Connection, message: GetAddr) -> None:
        state = self._peers[conn]
        if state.answered_getaddr:
            return  # once per connection, as in Bitcoin Core
        state.answered_getaddr = True
        known = {self._peers[c].listen_address for c in self._live_peers()} - {state.listen_address}
        shareable = sorted(a for a in known if a is not None and is_ipv4(a[0]))  # addr holds IPv4 only
        conn.send(Addr(tuple(shareable[: params.MAX_ADDR_TO_SEND])))

    def on_addr(self, conn: Connection, message: Addr) -> None:
        for address in message.addresses:
            if self.addrman.learnable(address, (self.host, self._port)):
                self._want(address, "learned")

    def on_getutxos(self, conn: Connection, message: GetUtxos) -> None:
        coins = self._ledger.unspent_for(message.address)[: params.MAX_UTXOS_TO_SEND]
        conn.send(Utxos(message.address, self._ledger.height, self._ledger.tip_hash, tuple(coins)))

    def on_tx(self, conn: Connection, message: TxMessage) -> None:
        if self.sync:
            self._relay.on_tx(conn, message, self._label(conn))
            return
        try:
            self._accept_payment(message.tx)
        except ValidationError as error:
            conn.send(Reject(message.tx.txid, str(error)))

    # --- light clients: headers and Merkle proofs (chapter 06) -----------------------

    def on_getheaders(self, conn: Connection, message: GetHeaders) -> None:
        chain = [block.header for block in self._ledger.blocks]
        conn.send(Headers(tuple(headers_after(chain, message.locator, message.stop_hash))))

    def on_getproof(self, conn: Connection, message: GetProof) -> None:
        found = self._txindex.prove(message.txid)
        if found is None:
            conn.send(NoProof(message.txid))
            return
        block, height, proof, tx = found
        conn.send(Proof(block.hash, height, proof, tx))

    def _accept_payment(self, tx: Tx) -> Block:
        try:
            self._ledger.validate_tx(tx)
        except ValidationError as error:
            self._record("payment rejected", None, f"{tx.txid_hex[:12]}…: {error}")
            raise
        timestamp = self._clock() if self._clock else self._ledger.tip.timestamp + params.BLOCK_INTERVAL
        block = self._ledger.seal_block([tx], self.miner_address, timestamp)
        self._save(block)
        self._record("block sealed", None,
                     f"height {self._ledger.height}, block {block.hash_hex[:12]}…, "
                     f"payment {tx.txid_hex[:12]}…")
        return block

    # --- relay and ledger sync (chapter 07: toycoin.relay, toycoin.sync) -------------

    def on_getdata(self, conn: Connection, message: GetData) -> None:
        txids = [item.hash for item in message.items if item.kind == MSG_TX]
        blocks = [item.hash for item in message.items if item.kind != MSG_TX]
        items = [InvItem(MSG_TX, h) for h in self._relay.on_getdata_txs(conn, txids)]
        items += [InvItem(MSG_BLOCK, h) for h in self._sync.serve_blocks(conn, blocks)]
        if items:
            conn.send(NotFound(tuple(items)))

    def on_notfound(self, conn: Connection, message: NotFound) -> None:
        self._relay.on_notfound_txs(conn, [i.hash for i in message.items if i.kind == MSG_TX])
        self._sync.on_notfound_blocks(conn, [i.hash for i in message.items if i.kind != MSG_TX])

    def _seal(self) -> Block:
        timestamp = self._clock() if self._clock else self._ledger.tip.timestamp + params.BLOCK_INTERVAL
        txs = self.mempool.txs()
        block = self._ledger.seal_block(txs, self.miner_address, timestamp)
        self._after_block(block)
        n = len(txs)
        self._record("block sealed", None, f"height {self._ledger.height}, block {block.hash_hex[:12]}…, "
                     f"{n} payment{'' if n == 1 else 's'}")
        return block

    def _connect_block(self, block: Block, peer: str | None) -> None:
        """Validate and apply a block from a peer (toycoin.sync calls this, in chain order)."""
        self._ledger.apply_block(block)
        self._after_block(block)
        self._record("block applied", peer, f"height {self._ledger.height} of {self._sync.best_height}, "
                     f"block {block.hash_hex[:12]}…")

    def _after_block(self, block: Block) -> None:
        self._save(block)
        self.mempool.remove_for_block(block)
        self._relay.on_new_tip()
        self._sync.announce(block.header)

    def _save(self, block: Block) -> None:
        if self._store is not None:
            self._store.append(block, self._ledger.undo_at(self._ledger.height))

    async def _sync_timer(self) -> None:
        """Now and then, drop peers that sit on blocks or transactions they were asked for."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.limits.block_timeout, self.limits.tx_request_timeout) / 4)
            self._sync.check_timeouts(loop.time())
            self._relay.check_timeouts(loop.time())


def _listen_error(host: str, port: int, error: OSError) -> str:
    where = f"cannot listen on {host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"{where}: address already in use (is another node on that port?)"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{where}: {host} is not an address of this machine"
    if isinstance(error, socket.gaierror):
        return f"{where}: {host!r} is not a valid host name or IP address"
    return f"{where}: {error.strerror or error}"
