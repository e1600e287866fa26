"""Relay: payments spread to every node by gossip, each node passing each one on once.

When a node accepts a payment into its mempool it does not push the whole
transaction to its peers. It announces it (``inv``: "I have tx 3f2a…"); a
peer that lacks it asks for it (``getdata``) and gets the ``tx``; once that
peer accepts it, it announces it to its own peers in turn. Announcements are
small, and a node never sends a transaction to a peer that told it about it
or that it already told, so a payment crosses each connection at most once
and gossip stops by itself: no loops, no storms.

    Relay()                           a node service (toycoin.service): Node(..., services=[Relay, ...])
      .accept(tx, source)             into the mempool and announced, or ValidationError
      on_inv, on_tx, on_mempool       its message handlers
      screen_tx(conn, payload)        a tx too big for relay policy, refused before it is parsed
      announced(conn)                 (asked, waiting): what a peer announced that we still want
      serve, on_notfound              getdata and notfound for transactions (the node routes them)
      check_timeouts(now)             a peer that announced a tx and never sent it (on a timer)
      on_block, on_closed             what the node tells it

A node asks one peer at a time for a transaction it lacks, and remembers who
else announced it, so a peer that announces and never delivers only delays
it (TX_REQUEST_TIMEOUT), and a transaction arrives once per node. A rejected
transaction is answered with ``reject`` and its reason, never relayed, and
not asked for again until the tip changes.

What a flood of ``inv`` can cost is bounded per peer, not by how fast it
arrives: a node keeps at most MAX_PEER_TX_ANNOUNCEMENTS transactions a peer
announced and it still wants, and has at most MAX_PEER_TX_REQUEST_IN_FLIGHT
of them asked of that peer at once; the rest wait their turn, and
announcements past the bound are dropped (Bitcoin Core's TxRequestTracker
keeps the same two bounds, with the same numbers).

Bitcoin Core does the same in net_processing (``TxRequestTracker`` for who
announced what, ``m_tx_inventory_known_filter`` for what a peer knows);
simplifications: announcements go out at once rather than in random batches
(which hide where a payment entered the network), and there are no
transaction orphans: a transaction whose inputs a node has not seen yet is
rejected, and the node asks for peers' mempools once it has caught up
(toycoin.sync). It answers a peer's ``mempool`` once per connection, as it
asks once: an answer is up to 5,000 announcements for a request of 24 bytes,
and a repeated request is ignored and counted.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from toycoin import params
from toycoin.block import Block
from toycoin.encoding import sha256d
from toycoin.errors import ValidationError
from toycoin.msg_control import Reject
from toycoin.msg_data import MSG_TX, GetData, Inv, InvItem, MempoolRequest, TxMessage
from toycoin.peer import Connection
from toycoin.service import NodeServices, Service
from toycoin.tx import Tx


def _chunks(items: list[InvItem]) -> list[tuple[InvItem, ...]]:
    return [tuple(items[i:i + params.MAX_INV_SZ]) for i in range(0, len(items), params.MAX_INV_SZ)]


class Relay(Service):
    """Transaction gossip for one node (state inside that node only)."""

    inventory = MSG_TX

    def __init__(self) -> None:
        self._known: dict[Connection, set[bytes]] = {}  # per peer: txids it has or we told it
        self._requested: dict[bytes, tuple[Connection, float]] = {}  # txid -> (asked peer, deadline)
        self._asked: dict[Connection, set[bytes]] = {}  # per peer: txids asked of it, not yet come
        # Per peer: txids it announced that we want and have not asked it for (another peer was
        # asked first, or it has too many requests in flight), oldest first.
        self._waiting: dict[Connection, dict[bytes, None]] = {}
        self._rejects: OrderedDict[bytes, None] = OrderedDict()  # recently rejected txids
        self._told_mempool: set[Connection] = set()  # peers whose mempool request was answered

    def attach(self, node: NodeServices) -> None:
        super().attach(node)
        node.handle(Inv, self.on_inv)
        node.handle(TxMessage, self.on_tx, screen=self.screen_tx)
        node.handle(MempoolRequest, self.on_mempool)

    def on_started(self) -> None:
        # Now and then, ask another peer for transactions an announcer sits on.
        self.node.every(self.node.limits.tx_request_timeout / 4, self.check_timeouts)

    def accept_tx(self, tx: Tx) -> bool:
        self.accept(tx, None, None)
        return True

    def _knows(self, conn: Connection, txid: bytes) -> None:
        known = self._known.setdefault(conn, set())
        if len(known) >= params.MAX_KNOWN_INVENTORY:
            known.clear()  # forgetting only costs a redundant announcement later
        known.add(txid)

    # --- accepting and announcing ------------------------------------------------------

    def accept(self, tx: Tx, source: Connection | None, label: str | None) -> int:
        """Put ``tx`` in the mempool and announce it to every peer that lacks it; return its fee."""
        try:
            fee = self.node.mempool.add(tx, self.node.ledger)
        except ValidationError as error:
            self._rejects[tx.txid] = None
            if len(self._rejects) > params.MAX_RECENT_REJECTS:
                self._rejects.popitem(last=False)
            self.node.record("tx rejected", label, f"{tx.txid_hex[:12]}…: {error}")
            raise
        self.node.record("tx accepted", label, f"{tx.txid_hex[:12]}… into the mempool "
                          f"({len(self.node.mempool)} waiting)")
        self._settle(tx.txid)
        if source is not None:
            self.node.credit(source, "tx")
        for conn in self.node.live_connections():
            if conn is not source and tx.txid not in self._known.get(conn, ()):
                self._knows(conn, tx.txid)
                conn.send(Inv((InvItem(MSG_TX, tx.txid),)))
        return fee

    def screen_tx(self, conn: Connection, payload: bytes) -> str | None:
        """A transaction larger than relay policy allows is refused before it is parsed (its
        sender still hears why, as for any refused payment)."""
        if len(payload) <= params.MAX_STANDARD_TX_SIZE:
            return None
        reason = (f"transaction of {len(payload):,} bytes is larger than the relay limit of "
                  f"{params.MAX_STANDARD_TX_SIZE:,}")
        conn.send(Reject(sha256d(payload), reason))
        return reason

    def on_tx(self, conn: Connection, message: TxMessage) -> None:
        tx = message.tx
        self._settle(tx.txid)
        self._knows(conn, tx.txid)
        if tx.txid in self.node.mempool:
            return  # a wallet sending twice, or an unasked duplicate: nothing new
        try:
            self.accept(tx, conn, self.node.peer_name(conn))
        except ValidationError as error:
            conn.send(Reject(tx.txid, str(error)))

    # --- asking for what we lack ---------------------------------------------------------

    def announced(self, conn: Connection) -> tuple[int, int]:
        """(asked of it, waiting): transactions ``conn`` announced that we still want."""
        return len(self._asked.get(conn, ())), len(self._waiting.get(conn, ()))

    def on_inv(self, conn: Connection, message: Inv) -> None:
        asked, waiting = self._asked.setdefault(conn, set()), self._waiting.setdefault(conn, {})
        wanted = []
        for item in message.items:
            if item.kind != MSG_TX:
                continue  # blocks are announced with headers (toycoin.sync)
            txid = item.hash
            self._knows(conn, txid)
            if txid in self.node.mempool or txid in self._rejects or txid in asked or txid in waiting:
                continue
            if len(asked) + len(waiting) >= params.MAX_PEER_TX_ANNOUNCEMENTS:
                continue  # its bound: more announcements from it are dropped until some are settled
            if txid not in self._requested and len(asked) < params.MAX_PEER_TX_REQUEST_IN_FLIGHT:
                self._ask(conn, txid)
                wanted.append(InvItem(MSG_TX, txid))
            else:
                waiting[txid] = None  # a spare, should the asked peer not deliver; or its turn later
        for items in _chunks(wanted):
            conn.send(GetData(items))

    def _ask(self, conn: Connection, txid: bytes) -> None:
        deadline = asyncio.get_running_loop().time() + self.node.limits.tx_request_timeout
        self._requested[txid] = (conn, deadline)
        self._asked.setdefault(conn, set()).add(txid)
        self._waiting.get(conn, {}).pop(txid, None)

    def _settle(self, txid: bytes) -> None:
        """``txid`` came (or is no longer wanted): no peer is asked for it, none waits with it."""
        asked = self._requested.pop(txid, None)
        if asked is not None:
            self._asked.get(asked[0], set()).discard(txid)
            self._ask_more(asked[0])
        for waiting in self._waiting.values():
            waiting.pop(txid, None)

    def _ask_more(self, conn: Connection) -> None:
        """``conn`` has request slots free: ask it for what it announced and nobody is asked for."""
        asked, waiting = self._asked.get(conn), self._waiting.get(conn)
        if not conn.is_open or asked is None or not waiting:
            return
        wanted = []
        for txid in list(waiting):
            if len(asked) >= params.MAX_PEER_TX_REQUEST_IN_FLIGHT:
                break
            if txid in self.node.mempool or txid in self._rejects:
                del waiting[txid]
            elif txid not in self._requested:
                self._ask(conn, txid)
                wanted.append(InvItem(MSG_TX, txid))
        for items in _chunks(wanted):
            conn.send(GetData(items))

    def serve(self, conn: Connection, txids: list[bytes]) -> list[bytes]:
        """Send each transaction of our mempool; return the txids we do not have."""
        missing = []
        for txid in txids:
            tx = self.node.mempool.get(txid)
            if tx is None:
                missing.append(txid)
            else:
                self._knows(conn, txid)
                conn.send(TxMessage(tx))
        return missing

    def on_notfound(self, conn: Connection, txids: list[bytes]) -> None:
        for txid in txids:
            asked = self._requested.get(txid)
            if asked and asked[0] is conn:
                self._ask_next(txid)

    def on_mempool(self, conn: Connection, message: MempoolRequest) -> None:
        """Announce our whole mempool to a peer that has just caught up (BIP35), once."""
        if conn in self._told_mempool:
            conn.ignore("mempool asked again: it is answered once per connection")
            return
        self._told_mempool.add(conn)
        items = [InvItem(MSG_TX, tx.txid) for tx in self.node.mempool.txs()]
        for txid in (item.hash for item in items):
            self._knows(conn, txid)
        for chunk in _chunks(items):
            conn.send(Inv(chunk))

    def _ask_next(self, txid: bytes) -> None:
        """The asked peer did not deliver: ask the next one that announced the tx and has a
        request slot free (else it waits for a slot); then give the first peer's slot to another."""
        failed, _ = self._requested.pop(txid)
        self._asked.get(failed, set()).discard(txid)
        for conn, waiting in self._waiting.items():
            if (txid in waiting and conn.is_open
                    and len(self._asked.get(conn, ())) < params.MAX_PEER_TX_REQUEST_IN_FLIGHT):
                self._ask(conn, txid)
                conn.send(GetData((InvItem(MSG_TX, txid),)))
                break
        self._ask_more(failed)

    # --- time, tips and peers that go ------------------------------------------------------

    def check_timeouts(self, now: float) -> None:
        for txid, (_, deadline) in list(self._requested.items()):
            if deadline < now:
                self._ask_next(txid)

    def on_block(self, block: Block) -> None:
        """A new block may make a rejected transaction valid (its inputs now exist)."""
        self._rejects.clear()

    def on_closed(self, conn: Connection) -> None:
        self._known.pop(conn, None)
        self._told_mempool.discard(conn)
        self._waiting.pop(conn, None)
        for txid in self._asked.pop(conn, set()):
            self._ask_next(txid)
