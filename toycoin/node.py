"""Node: a full node that listens on a TCP port, keeps a ledger, and talks to peers.

A node is three layers, each a class the next one extends, as Bitcoin Core
divides its own:

    toycoin.connman    ConnMan: listening, dialling, accepting, the connection cap,
                       stop/kill/restart (Bitcoin Core: CConnman)
    toycoin.peerman    PeerMan: routing each message to an ``on_<command>`` handler;
                       the handshake, pings, addresses (Bitcoin Core: PeerManager)
    toycoin.node       Node: the ledger, and the handlers that read or change it

    Node                    the synchronous API a notebook, widget, test or script uses
      start, stop, kill, restart, is_running, address
      connect(other), disconnect(other), peers, connection_count, discover
      ping(peer), sync_with_ping(), wait_until(predicate)
      ledger, height, balance(address), submit_tx(tx), accept_block(block)
      events, subscribe(callback), unsubscribe(callback), snapshot(names)
    course_genesis()        the block every node of the course starts from

What a node records and reports (Event, NodeSnapshot) is in toycoin.events;
the address book and the reconnect-with-backoff loops are in toycoin.addrman.

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

Every block that joins the ledger, whether sealed here, synced from a peer
or handed over with ``accept_block``, takes the same path: validated and
applied, written to the store, its payments taken out of the mempool, and
announced to peers.

Wallets ask for coins (``getutxos``); light clients (toycoin.spv) ask for
headers (``getheaders``, answered from the ledger's chain) and for Merkle
proofs (``getproof``, answered through a transaction index, toycoin.txindex).

Simplifications compared with Bitcoin: no proof of work, and no choice between
branches (a block that does not build on the tip is recorded, not applied);
the node's clock is a parameter (by default each block is stamped 600
seconds after the tip).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

from toycoin import params
from toycoin.addrman import Address, format_address
from toycoin.block import Block, make_genesis
from toycoin.connman import check_name
from toycoin.errors import ValidationError
from toycoin.events import Event, NodeSnapshot
from toycoin.headers import headers_after
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.mempool import Mempool
from toycoin.peer import Connection, Limits
from toycoin.peerman import PeerMan
from toycoin.relay import Relay
from toycoin.runtime import Runtime
from toycoin.store import Store
from toycoin.sync import BlockSync
from toycoin.tx import Tx
from toycoin.txindex import TxIndex
from toycoin.wire import (
    MSG_BLOCK, MSG_TX, BlockMessage, GetData, GetHeaders, GetProof, GetUtxos, Headers, Inv, InvItem,
    MempoolRequest, NoProof, NotFound, Proof, Reject, TxMessage, Utxos, Version,
)

# Re-exported: views and callers found these here before they got modules of their own.
__all__ = ["Address", "Event", "Node", "NodeSnapshot", "check_name", "course_genesis", "format_address"]


def course_genesis() -> Block:
    """The genesis block of the course: 100 coins to Alice, at a fixed time."""
    alice = PrivateKey.from_seed(params.GENESIS_SEED).address
    return make_genesis(alice, params.GENESIS_AMOUNT, params.GENESIS_TIMESTAMP)


class Node(PeerMan):
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
        super().__init__(name, host, port, runtime, limits, rng, discover)
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
        self._handlers.update({
            GetUtxos: self.on_getutxos,
            TxMessage: self.on_tx,
            GetHeaders: self.on_getheaders,
            GetProof: self.on_getproof,
        })
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

    # --- synchronous API: the ledger ---------------------------------------------------

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
        block takes the path of a block synced from a peer: the ledger checks
        it exactly as it checks its own, and the store, the mempool and the
        peers follow.
        """
        self._read(lambda: self._accept_block(block))

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

    # --- hooks of the layers below (toycoin.connman, toycoin.peerman) ----------------

    def _version_message(self) -> Version:
        return Version(self.name, self.nonce, self._port, self._ledger.height)

    def _on_started(self) -> None:
        super()._on_started()
        if self.sync:
            self._spawn(self._sync_timer())

    def _on_connected(self, conn: Connection) -> None:
        if self.sync:
            self._sync.on_connected(conn)  # getheaders: does the peer know blocks we lack?

    def _on_closed(self, conn: Connection) -> None:
        if self.sync:
            self._relay.on_disconnect(conn)
            self._sync.on_disconnect(conn)

    # --- wallets and light clients (chapters 03-06) ----------------------------------

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

    async def _sync_timer(self) -> None:
        """Now and then, drop peers that sit on blocks or transactions they were asked for."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.limits.block_timeout, self.limits.tx_request_timeout) / 4)
            self._sync.check_timeouts(loop.time())
            self._relay.check_timeouts(loop.time())

    # --- blocks: sealed here, synced from a peer, or handed over ---------------------

    def _timestamp(self) -> int:
        return self._clock() if self._clock else self._ledger.tip.timestamp + params.BLOCK_INTERVAL

    def _accept_payment(self, tx: Tx) -> Block:
        try:
            self._ledger.validate_tx(tx)
        except ValidationError as error:
            self._record("payment rejected", None, f"{tx.txid_hex[:12]}…: {error}")
            raise
        block = self._ledger.seal_block([tx], self.miner_address, self._timestamp())
        self._save(block)
        self._record("block sealed", None,
                     f"height {self._ledger.height}, block {block.hash_hex[:12]}…, "
                     f"payment {tx.txid_hex[:12]}…")
        return block

    def _seal(self) -> Block:
        timestamp, txs = self._timestamp(), self.mempool.txs()
        block = self._ledger.seal_block(txs, self.miner_address, timestamp)
        self._after_block(block)
        n = len(txs)
        self._record("block sealed", None, f"height {self._ledger.height}, block {block.hash_hex[:12]}…, "
                     f"{n} payment{'' if n == 1 else 's'}")
        return block

    def _connect_block(self, block: Block, peer: str | None) -> None:
        """Validate and apply a block from a peer (toycoin.sync calls this, in chain order)."""
        self._apply(block)
        self._record("block applied", peer, f"height {self._ledger.height} of {self._sync.best_height}, "
                     f"block {block.hash_hex[:12]}…")

    def _accept_block(self, block: Block) -> None:
        self._apply(block)
        self._record("block accepted", None, f"height {self._ledger.height}, block {block.hash_hex[:12]}…")

    def _apply(self, block: Block) -> None:
        """Validate and apply a block sealed elsewhere; then as for every new block."""
        self._ledger.apply_block(block)
        self._after_block(block)

    def _after_block(self, block: Block) -> None:
        self._save(block)
        self.mempool.remove_for_block(block)
        self._relay.on_new_tip()
        self._sync.announce(block.header)

    def _save(self, block: Block) -> None:
        if self._store is not None:
            self._store.append(block, self._ledger.undo_at(self._ledger.height))
