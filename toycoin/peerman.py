"""Peer manager: what a node says to any peer, one ``on_<command>`` handler per message.

The middle part of a node (Bitcoin Core: ``PeerManager`` in
net_processing.cpp; its test framework: ``P2PInterface``). Each connection
(toycoin.peer) hands it messages; it routes each message type to one small
handler through a fixed table, and ignores and counts messages of other types.
This module holds the handlers every node needs; toycoin.node adds the ones
that read and change the ledger.

    PeerMan(ConnMan)         base of toycoin.node.Node
      ping(peer), sync_with_ping()
      on_version, on_verack  the handshake
      on_ping, on_pong       liveness; a keepalive loop pings quiet peers
      on_getaddr, on_addr    peer discovery (toycoin.addrman keeps what is learned)
    For toycoin.node: ``_handlers`` (command -> handler, to extend) and the hook
    ``_on_connected(conn)``, called when a full node finishes the handshake.

The handshake is Bitcoin's: the side that connects sends ``version``; the
other answers with its own ``version`` and a ``verack``; the first side
answers ``verack``. Each ``version`` carries the sender's node name, its
listening port and a nonce. A version carrying our own nonce means we dialled
ourselves. Bitcoin Core draws a nonce per connection; toycoin draws one per
node run, which also reveals two connections to the same node (A dialled B
while B dialled A): the one dialled by the node with the smaller nonce stays.
Nothing but version and verack is handled before the handshake.

Peers are found through ``getaddr``/``addr``: a node asks each outbound full
node whom it knows, answers such a question once per connection, and keeps
every address it learns (toycoin.addrman dials them, with backoff).

Simplifications compared with Bitcoin: one nonce per node run; addresses are
IPv4 only; no services negotiation beyond "full node or wallet".
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from toycoin import params
from toycoin.addrman import is_ipv4
from toycoin.connman import ConnMan
from toycoin.errors import NodeError, ProtocolError
from toycoin.peer import Connection
from toycoin.wire import Addr, GetAddr, Message, Ping, Pong, Verack, Version


class PeerMan(ConnMan):
    """The handshake, pings and addresses; public methods may be called from any thread but the network's."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._ping_nonces = itertools.count(1)
        self._handlers: dict[type[Message], Callable[[Connection, Any], None]] = {
            Version: self.on_version,
            Verack: self.on_verack,
            Ping: self.on_ping,
            Pong: self.on_pong,
            GetAddr: self.on_getaddr,
            Addr: self.on_addr,
        }

    # --- pings -----------------------------------------------------------------------

    def ping(self, peer: str, timeout: float = 10.0) -> float:
        """Ping a peer by name and wait for its pong; return the round trip in seconds."""
        return self._run(self._ping(peer, timeout), timeout + 1.0)

    def sync_with_ping(self, timeout: float = 10.0) -> None:
        """Ping every peer: once all pongs are back, every earlier message was handled."""
        self._run(self._sync_with_ping(timeout), timeout + 1.0)

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

    def _on_started(self) -> None:
        self._spawn(self._keepalive())

    async def _keepalive(self) -> None:
        """Ping quiet peers now and then, so a dead connection is noticed (PING_INTERVAL)."""
        while True:
            await asyncio.sleep(self.limits.ping_interval)
            for conn in self._live_peers():
                conn.send(Ping(next(self._ping_nonces)))

    # --- routing ---------------------------------------------------------------------

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

    # --- the handshake ---------------------------------------------------------------

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
        if state.version.is_full_node:
            self._on_connected(conn)

    def _on_connected(self, conn: Connection) -> None:
        """Hook: ``conn`` to a full node has just finished its handshake."""

    # --- liveness and addresses ------------------------------------------------------

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
