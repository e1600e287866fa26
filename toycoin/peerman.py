"""Peer manager: what any peer says to any other, one ``on_<command>`` handler per message.

The upper half of the one connection layer (Bitcoin Core: ``PeerManager`` in
net_processing.cpp; its test framework: ``P2PInterface``). Each connection
(toycoin.peer) hands it messages; it routes each message type to one small
handler through a table, passes answers to whoever asked, and ignores and
counts everything else. A full node, a light wallet's peer group and a
wallet client are all built on it; each adds handlers of its own.

    PeerMan(ConnMan)
      ping(peer), sync_with_ping()
      on_version, on_verack    the handshake
      on_ping, on_pong         liveness; a keepalive loop pings quiet peers
      on_getaddr, on_addr      peer discovery (toycoin.addrman keeps what is learned)
    For the owner above, on the network thread:
      handle(message_type, handler, screen=None)   add an ``on_<command>`` handler (one per type),
                                       and perhaps a screen that may refuse its frames unparsed
      admit(conn, header, payload)     which frames are worth parsing at all (toycoin.peer asks)
      answers                          message types that answer a question of ours
      ask(conn, message, kinds)        send a question and await its answer, in order
      session(address)                 one short connection: dial, handshake, use, close
      hooks: on_connected(conn), start_height()

The handshake is Bitcoin's: the side that connects sends ``version``; the
other answers with its own ``version`` and a ``verack``; the first side
answers ``verack``. A ``verack`` that comes before the peer's ``version``
acknowledges nothing: it is ignored and counted, as Bitcoin Core ignores every
message before version. Each ``version`` carries the sender's name, its listening
port, its height, its services (a full node, or a wallet that serves nobody)
and a nonce drawn for that connection. An inbound version carrying the nonce
of one of our own outbound handshakes means we dialled ourselves (Bitcoin
Core's rule: only our own outbound nonces count, so a copied nonce proves
nothing). Two nodes that dial each other at the same moment keep both
connections, as Bitcoin Core does; they count as one peer. A wallet talks only to full
nodes.

Nothing but version and verack is parsed before the handshake: any other
frame is dropped unparsed and counted (Bitcoin Core ignores messages before
version too; too many of them cost the connection, ``limits.max_ignored``),
and toycoin.peer refuses any payload longer than a version before a byte of
it is read. After the handshake, a frame of a type nobody handles is dropped
unparsed, and a handler may bring a screen that judges the raw payload first:
toycoin.sync refuses a block it did not ask for from its 80-byte header,
before a single transaction of it is parsed.

Peers are found through ``getaddr``/``addr``: a peer that learns addresses
asks each outbound full node whom it knows, answers such a question once per
connection, and keeps the addresses it learns that it may dial, in a bounded
book (toycoin.addrman; toycoin.dialler dials them, a few at a time). It
processes only as many addresses from each peer as its budget allows
(toycoin.addrman.AddrBudget: a full answer to its own getaddr, and a trickle
beyond): the rest of a flood is dropped unexamined.

Simplifications compared with Bitcoin: addresses are IPv4 only; no services
negotiation beyond "full node or wallet".
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from toycoin import params
from toycoin.addrman import Address, is_ipv4
from toycoin.connman import ConnMan
from toycoin.dialler import dial_error, source_address
from toycoin.errors import NodeError, ProtocolError
from toycoin.message import Message
from toycoin.msg_control import Addr, GetAddr, Ping, Pong, Verack, Version
from toycoin.peer import Connection, open_frames
from toycoin.wire import FrameHeader

Handler = Callable[[Connection, Any], None]
Screen = Callable[[Connection, bytes], "str | None"]  # a raw payload: None to parse it, or why not
HANDSHAKE_MESSAGES = (Version, Verack)


class PeerMan(ConnMan):
    """The handshake, pings, addresses and routing; public methods may be called from any thread
    but the network's."""

    def __init__(self, name: str, *, service_flags: int = params.NODE_NETWORK, learn_addresses: bool = True,
                 **options: Any) -> None:
        super().__init__(name, **options)
        self.service_flags = service_flags  # what its version announces: NODE_NETWORK or nothing
        self.learn_addresses = learn_addresses  # ask peers whom they know, and keep what they say
        self.answers: set[type[Message]] = set()  # handed to ask(), even if a handler exists
        self._ping_nonces = itertools.count(1)
        self._handlers: dict[type[Message], Handler] = {}
        self._screens: dict[type[Message], Screen] = {}
        for message_type, handler in ((Version, self.on_version), (Verack, self.on_verack),
                                      (Ping, self.on_ping), (Pong, self.on_pong),
                                      (GetAddr, self.on_getaddr), (Addr, self.on_addr)):
            self.handle(message_type, handler)

    @property
    def is_full_node(self) -> bool:
        return bool(self.service_flags & params.NODE_NETWORK)

    def handle(self, message_type: type[Message], handler: Handler, screen: Screen | None = None) -> None:
        """Route every ``message_type`` to ``handler``: one answer to each message. ``screen``,
        if given, sees each such frame's raw payload first and may refuse it unparsed."""
        if message_type in self._handlers:
            raise ValueError(f"{self.name} already handles {message_type.command.decode()}")
        self._handlers[message_type] = handler
        if screen is not None:
            self._screens[message_type] = screen

    def admit(self, conn: Connection, header: FrameHeader, payload: bytes) -> str | None:
        """Whether a whole frame is worth parsing: None, or why it is dropped unparsed."""
        message_type = self.messages.get(header.command)
        if message_type is None:
            return None  # the connection drops it as an unknown command
        if not conn.handshaked:
            handshake = message_type in HANDSHAKE_MESSAGES
            return None if handshake else f"{header.command.decode()} before the handshake"
        if message_type in self.answers:
            return None
        if message_type not in self._handlers:
            return self._unhandled(header.command.decode())
        screen = self._screens.get(message_type)
        return None if screen is None else screen(conn, payload)

    def _unhandled(self, command: str) -> str:
        return f"a {'node' if self.is_full_node else 'wallet'} does not handle {command}"

    def handles(self, message_type: type[Message]) -> bool:
        return message_type in self._handlers

    # --- pings -----------------------------------------------------------------------

    def ping(self, peer: str, timeout: float = 10.0) -> float:
        """Ping a peer by name and wait for its pong; return the round trip in seconds."""
        return self._run(self._ping(peer, timeout), timeout + 1.0)

    def sync_with_ping(self, timeout: float = 10.0) -> None:
        """Ping every peer: once all pongs are back, every earlier message was handled."""
        self._run(self._sync_with_ping(timeout), timeout + 1.0)

    async def _ping(self, peer: str, timeout: float) -> float:
        conns = [c for c in self.connections() if c.handshaked and c.is_open and self.peer_name(c) == peer]
        if not conns:
            raise NodeError(f"{self.name} has no connection to {peer!r}; its peers are {self.peers}")
        for conn in conns[:-1]:  # a second connection to a peer may be closing: try the next
            try:
                return await self.ping_connection(conn, timeout)
            except NodeError:
                if conn.is_open:
                    raise
        return await self.ping_connection(conns[-1], timeout)

    async def ping_connection(self, conn: Connection, timeout: float) -> float:
        """Ping ``conn`` and wait for its pong; NodeError if it closes or stays silent."""
        loop = asyncio.get_running_loop()
        nonce, future = next(self._ping_nonces), loop.create_future()
        self.state(conn).pings[nonce] = future  # answered in on_pong, failed if conn closes
        started = time.perf_counter()  # the loop's clock may tick in whole milliseconds (uvloop)
        self._send_ping(conn, nonce)

        def expire() -> None:
            if not future.done():
                future.set_exception(
                    NodeError(f"timed out after {timeout:g}s waiting for a pong from {conn.label}"))

        # A timer on the future itself, not wait_for: the pong wakes this task directly.
        timer = loop.call_later(timeout, expire)
        try:
            await future
        finally:
            timer.cancel()
        return time.perf_counter() - started

    async def _sync_with_ping(self, timeout: float) -> None:
        conns = [c for c in self.connections() if c.handshaked and c.is_open]
        results = await asyncio.gather(*(self.ping_connection(c, timeout) for c in conns),
                                       return_exceptions=True)
        for conn, result in zip(conns, results, strict=True):
            if isinstance(result, BaseException) and conn.is_open:
                raise result  # a peer that left meanwhile is no error; a silent one is

    def on_started(self) -> None:
        self.spawn(self._keepalive())

    async def _keepalive(self) -> None:
        """Ping quiet peers now and then, so a dead connection is noticed (PING_INTERVAL)."""
        while True:
            await asyncio.sleep(self.limits.ping_interval)
            for conn in self.live_connections():
                self._send_ping(conn, next(self._ping_nonces))

    def _send_ping(self, conn: Connection, nonce: int) -> None:
        """Send a ping and note when: its pong measures the peer's round trip (eviction protects
        the fastest peers, something an attacker far away cannot fake)."""
        self.state(conn).ping_out = (nonce, time.perf_counter())
        conn.send(Ping(nonce))

    # --- routing, questions and answers ----------------------------------------------

    def dispatch(self, conn: Connection, message: Message) -> None:
        """Route a message to its handler; nothing but version/verack before the handshake."""
        command = message.command.decode()
        if not conn.handshaked and not isinstance(message, HANDSHAKE_MESSAGES):
            conn.ignore(f"{command} before the handshake")
            return
        if type(message) in self.answers:  # an answer to ask() or tell(), while one waits
            state = self.state(conn)
            if not state.asking.locked():
                conn.ignore(f"{command} answers no question")
            elif state.replies.qsize() >= params.MAX_QUEUED_ANSWERS:
                raise ProtocolError(f"more than {params.MAX_QUEUED_ANSWERS} answers to one question")
            else:
                state.replies.put_nowait(message)
            return
        handler = self._handlers.get(type(message))
        if handler is None:
            conn.ignore(self._unhandled(command))
            return
        try:
            handler(conn, message)
        except ProtocolError:
            raise
        except Exception as error:  # a bug here must cost one connection, not the peer
            self.record("error", conn.label, f"{type(error).__name__} in on_{command}: {error}")
            raise ProtocolError(f"internal error while handling {command}") from error

    async def ask(self, conn: Connection, message: Message, kinds: tuple[type[Message], ...],
                  who: str | None = None) -> Message:
        """Send ``message`` on ``conn`` and return the next answer of one of ``kinds``.

        NodeError naming the peer (or ``who``) if it hangs up, or stays silent
        for ``self.timeout`` seconds (then the connection is closed too).
        """
        who, timeout = who or self.peer_name(conn), self.timeout
        if conn not in self.connections():
            raise NodeError(f"{who} is gone")
        state = self.state(conn)
        async with state.asking:
            conn.send(message)
            while True:
                try:
                    item = await asyncio.wait_for(state.replies.get(), timeout)
                except asyncio.TimeoutError:
                    conn.close(f"no answer to {message!r} within {timeout:g}s")
                    raise NodeError(f"{who} did not answer within {timeout:g}s") from None
                if isinstance(item, str):
                    state.replies.put_nowait(item)  # closed: every later question fails too
                    raise NodeError(f"{who} hung up: {item}")
                if isinstance(item, kinds):
                    return item

    async def tell(self, conn: Connection, message: Message, kinds: tuple[type[Message], ...],
                   who: str | None = None) -> Message | None:
        """Send ``message``, then a ping; return an answer of one of ``kinds`` that came before
        the pong, or None. A peer handles one connection's messages in order, so the pong
        proves ``message`` was handled (Bitcoin Core's test framework: ``sync_with_ping``)."""
        who = who or self.peer_name(conn)
        state = self.state(conn)
        async with state.asking:  # answers are kept only while a question is open
            conn.send(message)
            try:
                await self.ping_connection(conn, self.timeout)
            except NodeError:
                if conn.is_open:
                    raise NodeError(f"{who} did not answer within {self.timeout:g}s") from None
                raise NodeError(f"{who} hung up: {conn.close_reason}") from None
            answer = None
            while not state.replies.empty():
                item = state.replies.get_nowait()
                if isinstance(item, str):
                    state.replies.put_nowait(item)  # closed: every later question fails too
                    break
                if isinstance(item, kinds) and answer is None:
                    answer = item
            return answer

    @contextlib.asynccontextmanager
    async def session(self, address: Address, who: str) -> AsyncIterator[Connection]:
        """One short connection to ``address``: dial, handshake, yield it, close it (a wallet's call).

        NodeError naming ``who`` if it cannot be reached, hangs up or stays silent.
        """
        timeout = self.timeout
        try:
            reader, writer = await asyncio.wait_for(
                open_frames(*address, local_addr=source_address(self.host, address)), timeout)
        except ConnectionRefusedError:
            raise NodeError(f"cannot reach {who}: connection refused — is it running?") from None
        except (OSError, asyncio.TimeoutError) as error:
            raise NodeError(f"cannot reach {who}: {dial_error(error)}") from None
        opened: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
        serving = asyncio.get_running_loop().create_task(
            self.serve(reader, writer, address, opened=opened))
        conn = await opened
        try:
            if not await self.until(lambda: conn.handshaked or not conn.is_open, timeout):
                raise NodeError(f"{who} did not answer within {timeout:g}s")
            if not conn.handshaked:
                raise NodeError(f"{who} hung up: {conn.close_reason}")
            yield conn
        finally:
            conn.close(f"{'node' if self.is_full_node else 'wallet'} done")
            await serving

    # --- the handshake ---------------------------------------------------------------

    def version_message(self, nonce: int) -> Version:
        return Version(self.name, nonce, self._port if self.listen else 0, self.start_height(),
                       services=self.service_flags)

    def start_height(self) -> int:
        """Hook: the height a version message announces."""
        return 0

    def on_version(self, conn: Connection, message: Version) -> None:
        state = self.state(conn)
        if state.version is not None:
            raise ProtocolError("a second version message")
        if conn.inbound and self._dialled_myself(conn, message.nonce):
            return
        if not self.is_full_node and not message.is_full_node:
            conn.close(f"{message.name} is not a full node")  # a wallet has nothing to ask a wallet
            return
        state.version = message
        conn.label = message.name
        if state.target is not None:
            self.addrman.labels[state.target] = message.name
        if message.is_full_node and conn.inbound and message.port:  # port 0: it does not listen
            state.listen_address = (conn.remote[0], message.port)
        if state.listen_address in self.blocked:
            conn.close(f"blocked: the network is partitioned from {message.name}")
            return
        if conn.inbound:
            conn.send(self.version_message(state.nonce))
        conn.send(Verack())
        self._check_handshake(conn)

    def _dialled_myself(self, conn: Connection, nonce: int) -> bool:
        """An inbound version with the nonce of one of our own outbound handshakes: we dialled
        ourselves. Only our outbound nonces count (as in Bitcoin Core), so a peer that copies
        another's nonce proves nothing and breaks nothing."""
        for other in self.connections():
            state = self.state(other)
            if not other.inbound and not other.handshaked and state.nonce == nonce:
                assert state.target is not None
                self.addrman.mark_myself(state.target)
                other.close("connected to itself")
                self.record("connected to itself", conn.label, "my own version nonce came back")
                conn.close("connected to itself")
                return True
        return False

    def on_verack(self, conn: Connection, message: Verack) -> None:
        state = self.state(conn)
        if state.version is None:  # it acknowledges a version it has not answered with its own
            conn.ignore("verack before version")
            return
        state.verack_received = True
        self._check_handshake(conn)

    def _check_handshake(self, conn: Connection) -> None:
        state = self.state(conn)
        if conn.handshaked or not (state.version and state.verack_received):
            return
        if conn.inbound and not self.make_room(conn):
            return
        conn.handshaked = True
        if state.target is not None:
            self.addrman.reached(state.target)
        role = "full node" if state.version.is_full_node else "wallet"
        direction = "in" if conn.inbound else "out"
        self.record("connected", conn.label, f"{direction}bound {role}", direction=direction)
        self.pulse()
        if state.version.is_full_node:
            if not conn.inbound and self.learn_addresses:
                conn.send(GetAddr())  # like Bitcoin Core, ask outbound peers whom they know
                state.addr_budget.asked()
            self.on_connected(conn)

    def on_connected(self, conn: Connection) -> None:
        """Hook: ``conn`` to a full node has just finished its handshake."""

    # --- liveness and addresses ------------------------------------------------------

    def on_ping(self, conn: Connection, message: Ping) -> None:
        conn.send(Pong(message.nonce))

    def on_pong(self, conn: Connection, message: Pong) -> None:
        state = self.state(conn)
        if state.ping_out is not None and state.ping_out[0] == message.nonce:
            state.min_ping = min(state.min_ping, time.perf_counter() - state.ping_out[1])
            state.ping_out = None
        future = state.pings.pop(message.nonce, None)
        if future is not None and not future.done():
            future.set_result(None)

    def on_getaddr(self, conn: Connection, message: GetAddr) -> None:
        state = self.state(conn)
        if state.answered_getaddr:
            return  # once per connection, as in Bitcoin Core
        state.answered_getaddr = True
        known = {self.state(c).listen_address for c in self.live_connections()} - {state.listen_address}
        shareable = sorted(a for a in known if a is not None and is_ipv4(a[0]))  # addr holds IPv4 only
        conn.send(Addr(tuple(shareable[: params.MAX_ADDR_TO_SEND])))

    def on_addr(self, conn: Connection, message: Addr) -> None:
        if not self.learn_addresses:
            conn.ignore(f"addr, but {self.name} does not look for peers")
            return
        budget = self.state(conn).addr_budget
        first_excess = budget.ignored == 0
        allowed = budget.take(len(message.addresses))
        for address in message.addresses[:allowed]:  # kept only inside our networks, in a bounded book
            self.want(address, "learned")
        if allowed < len(message.addresses) and first_excess:  # said once per connection
            self.record("addr ignored", conn.label, f"{len(message.addresses) - allowed} of "
                        f"{len(message.addresses)} addresses, over what {conn.label} may send unasked")

