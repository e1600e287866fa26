"""Service: a part of a full node that the chapters add one at a time.

A full node (toycoin.node) is a ledger behind the connection layer
(toycoin.connman, toycoin.peerman): it answers wallets and seals each payment
it receives into a block at once. Everything more is a service, given when
the node is made, in one line:

    Node("A")                                    chapters 03-06: each node keeps its own ledger
    Node("A", services=[Relay, BlockSync])       chapter 07: payments gossip, blocks sync

    Service        the base class: attach(node) adds its message handlers, and the
                   node tells it what happens (on_started ... on_block)
    NodeServices   what a service may ask of its node: a Protocol, so a service
                   sees only these public names (toycoin.node.Node is one)
    ServiceFactory a Service class, or anything that makes one: each node gets its own

One answer to each message: a service adds its handlers with
``node.handle(MessageType, handler)``, which refuses a message type that is
handled already. A service that serves ``getdata`` items of one kind (a
transaction, a block) names it in ``inventory``, and the node hands it those
items and the ``notfound`` answers about them. A service that takes payments
(``accept_tx``) replaces the node's own "seal each payment at once".

Bitcoin Core's node is one program, but its parts talk the same way: the
validation interface tells subscribers of each new block
(``CValidationInterface::BlockConnected``), and net_processing asks the chain
state through named calls (``ProcessNewBlock``), never through its internals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Protocol

from toycoin.block import Block
from toycoin.ledger import Ledger
from toycoin.mempool import Mempool
from toycoin.message import Message
from toycoin.peer import Connection, Limits
from toycoin.runtime import Runtime
from toycoin.tx import Tx

Handler = Callable[[Connection, Any], None]


class NodeServices(Protocol):
    """What a service may ask of its node; everything is called on the network thread."""

    name: str
    ledger: Ledger
    mempool: Mempool
    limits: Limits
    runtime: Runtime  # a service's own synchronous API hands work to the network thread with it

    @property
    def is_running(self) -> bool: ...

    def handle(self, message_type: type[Message], handler: Handler,
               screen: Callable[[Connection, bytes], str | None] | None = None) -> None:
        """Route every message of this type to ``handler`` (ValueError if already handled);
        ``screen`` sees each such frame's raw payload first: None to parse it, or why not."""

    def credit(self, conn: Connection, kind: str) -> None:
        """``conn`` gave us something new and valid, a "block" or a "tx": it protects the peer
        from eviction when inbound slots run out (toycoin.eviction)."""

    def live_connections(self) -> list[Connection]:
        """Open, handshaked connections to full nodes."""

    def peer_name(self, conn: Connection) -> str:
        """How events name the peer of ``conn``."""

    def record(self, kind: str, peer: str | None, detail: str, *, command: str | None = None,
               direction: str | None = None) -> None:
        """Record an event of the node."""

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run a background task of the node; stopping the node cancels it."""

    def every(self, seconds: float, callback: Callable[[float], None]) -> None:
        """Call ``callback(now)`` every ``seconds`` while the node runs."""

    def connect_block(self, block: Block, peer: str | None) -> None:
        """Validate a block from ``peer`` and apply it on the tip (ValidationError if it breaks a rule);
        then store it and tell every service (on_block)."""

    def block_template(self) -> Block:
        """The next block: the mempool's payments and a coinbase to the node's miner address, on the
        tip, with the bits the difficulty rule asks for; not mined yet."""

    def add_mined_block(self, block: Block) -> None:
        """A block whose proof of work was found here: apply it, store it, announce it."""

    def reorganize(self, fork_height: int, blocks: list[Block], peer: str | None) -> None:
        """Undo the ledger's blocks above ``fork_height`` and apply ``blocks``, all or nothing
        (ValidationError leaves everything as it was); undone payments return to the mempool."""


class Service:
    """A part of a node; subclasses override what they need (every hook defaults to nothing)."""

    inventory: ClassVar[int | None] = None  # the getdata kind it serves: MSG_TX or MSG_BLOCK

    def attach(self, node: NodeServices) -> None:
        """Join ``node``: keep it, and add this service's handlers with ``node.handle``."""
        self.node = node

    # --- what the node tells its services --------------------------------------------

    def on_started(self) -> None:
        """The node listens; start background tasks with ``node.spawn``."""

    def on_connected(self, conn: Connection) -> None:
        """A full node finished its handshake with us."""

    def on_closed(self, conn: Connection) -> None:
        """A connection has closed."""

    def on_stopped(self) -> None:
        """The node has stopped (or was killed): release what the service holds."""

    def on_block(self, block: Block) -> None:
        """A block joined the ledger (sealed here, synced, or handed over)."""

    def on_headers_sent(self, conn: Connection, shared: int, last: int) -> None:
        """The node answered ``conn``'s getheaders: it shares our chain up to ``shared``
        and now knows our headers up to ``last``."""

    # --- what the node asks of its services ------------------------------------------

    def accept_tx(self, tx: Tx) -> bool:
        """Take a payment handed to the node (``node.submit_tx``); False if this is not its job."""
        return False

    def serve(self, conn: Connection, hashes: list[bytes]) -> list[bytes]:
        """Send ``conn`` the items of our ``inventory`` kind it asked for; return those we lack."""
        return hashes

    def on_notfound(self, conn: Connection, hashes: list[bytes]) -> None:
        """``conn`` does not have these items of our ``inventory`` kind after all."""

    # --- what views read -------------------------------------------------------------

    def best_height(self) -> int:
        """The highest height this service knows of (-1: it does not track heights)."""
        return -1

    def syncing_from(self) -> list[Connection]:
        """Peers it is downloading from right now."""
        return []


ServiceFactory = Callable[[], Service]
