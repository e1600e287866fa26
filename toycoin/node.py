"""Node: a full node that listens on a TCP port, keeps a ledger, and talks to peers.

A node is the connection layer with a ledger behind it, and services plugged
in, as Bitcoin Core divides its own:

    toycoin.connman    ConnMan: listening, dialling with backoff, the connection cap,
                       stop/kill/restart (Bitcoin Core: CConnman)
    toycoin.peerman    PeerMan: routing each message to an ``on_<command>`` handler;
                       the handshake, pings, addresses (Bitcoin Core: PeerManager)
    toycoin.node       Node: the ledger, the answers to wallets, the path of every block
    toycoin.service    Service: what the chapters add one at a time, such as
                       toycoin.relay.Relay and toycoin.sync.BlockSync

    Node(name, genesis=None, rules=NO_POW, data_dir=None, services=(), miner_address=None,
         clock=None, now=None, host=..., port=..., discover=..., networks=..., limits=...,
         runtime=..., rng=...)
      start, stop, kill, restart, is_running, address
      connect(other), disconnect(other), peers, connection_count, discover
      ping(peer), sync_with_ping(), wait_until(predicate)
      ledger, height, balance(address), submit_tx(tx), seal(), accept_block(block)
      sigcache (toycoin.sigcache: signatures it has checked, not checked again in their block)
      mempool, sync_status(), services, service(kind)
      status_message()        its answer to ``getstatus`` (toycoin.msg_room, for a classroom's map)
      events, subscribe(callback), unsubscribe(callback), snapshot(names)
    course_genesis()        the block every node of the course starts from

The services, one line each:

    Node("A")                                chapters 03-06: a wallet's payment is validated
                                             and sealed into a block of this node at once, or
                                             answered with ``reject`` and the reason; the node
                                             tells no other node, so two nodes soon disagree
    Node("A", services=[Relay, BlockSync])   chapter 07: a payment enters the mempool and
                                             gossips (toycoin.relay); ``seal()`` puts the
                                             mempool into the next block; blocks travel
                                             headers first to every node (toycoin.sync)

With ``data_dir`` every block is also written to disk, atomically, and a
restarted node resumes from there (toycoin.store).

Every block that joins the ledger, whether sealed here, synced from a peer
or handed over with ``accept_block``, takes the same path: validated and
applied, written to the store, its payments taken out of the mempool, and
every service told (``on_block``).

Wallets ask for coins (``getutxos``); light clients (toycoin.spv) ask for
headers (``getheaders``, answered from the ledger's chain, the one answer
for wallets and syncing nodes alike) and for Merkle proofs (``getproof``,
answered through a transaction index, toycoin.txindex).

The rules of its network are a parameter (toycoin.pow.PowRules): NO_POW for
chapters 03-08, where every block has the same work and a second sealer's
block is recorded, not applied; COURSE_POW from chapter 09 on, where the
node follows the chain with the most work and reorganises (``reorganize``).

Simplifications compared with Bitcoin: the node's clock is a parameter (by
default each block is stamped 600 seconds after the tip, and always after
the median of the last 11 blocks). ``now`` (the system's clock by default) is
the one a block or header may be at most two hours ahead of.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from toycoin import params
from toycoin.addrman import is_ipv4
from toycoin.block import Block, make_genesis
from toycoin.errors import InvalidBlock, ValidationError
from toycoin.events import NodeSnapshot
from toycoin.headers import fork_point, headers_after
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.mempool import Mempool
from toycoin.mining import Miner
from toycoin.merkle import MerkleProof
from toycoin.msg_control import Reject
from toycoin.msg_data import GetData, GetHeaders, Headers, InvItem, NotFound, TxMessage
from toycoin.msg_room import MAX_STATUS_PEERS, GetStatus, Status
from toycoin.msg_wallet import GetProof, GetUtxos, NoProof, Proof, Utxos
from toycoin.peer import Connection
from toycoin.peerman import PeerMan
from toycoin.pow import NO_POW, PowRules
from toycoin.service import Service, ServiceFactory
from toycoin.sigcache import SigCache
from toycoin.store import Store
from toycoin.tx import Tx
from toycoin.txindex import TxIndex

S = TypeVar("S", bound=Service)


def course_genesis() -> Block:
    """The genesis block of the course: 100 coins to Alice, at a fixed time."""
    alice = PrivateKey.from_seed(params.GENESIS_SEED).address
    return make_genesis(alice, params.GENESIS_AMOUNT, params.GENESIS_TIMESTAMP)


class Node(PeerMan):
    """A full node; every method may be called from any thread except the network thread.

    ``options`` are the connection layer's (toycoin.connman.ConnMan): host, port,
    discover, networks (where it may dial: ``networks=["192.168.1.0/24"]`` for a
    classroom LAN; loopback by default), limits, runtime, rng.
    """

    def __init__(self, name: str = "node", genesis: Block | None = None, *, rules: PowRules = NO_POW,
                 data_dir: str | Path | None = None, services: Iterable[ServiceFactory] = (),
                 miner_address: str | None = None, clock: Callable[[], int] | None = None,
                 now: Callable[[], float] | None = None, **options: Any) -> None:
        super().__init__(name, **options)
        genesis = genesis or course_genesis()
        # With a data directory the ledger is the store's, and every block goes to disk too.
        self._store = Store.open(data_dir, genesis) if data_dir is not None else None
        # This node's own: signatures checked as payments arrive are not checked again in their block.
        self.sigcache = SigCache()
        self.ledger = (self._store.load(rules, self.sigcache) if self._store
                       else Ledger(genesis, rules, sigcache=self.sigcache))
        if now is not None:  # the clock a block or header may be at most 2 hours ahead of (tests)
            self.ledger.now = now
        self.mempool = Mempool()
        self.miner_address = miner_address or PrivateKey.from_seed(f"miner {name}").address
        self._clock = clock
        self._txindex = TxIndex(self.ledger)  # answers light clients' getproof
        self.handle(GetUtxos, self.on_getutxos)
        self.handle(GetHeaders, self.on_getheaders)
        self.handle(GetProof, self.on_getproof)
        self.handle(GetStatus, self.on_getstatus)
        self.services: tuple[Service, ...] = tuple(make() for make in services)
        for service in self.services:
            service.attach(self)
        self._inventory = {s.inventory: s for s in self.services if s.inventory is not None}
        if self._inventory:
            self.handle(GetData, self.on_getdata)
            self.handle(NotFound, self.on_notfound)
        if not self.handles(TxMessage):  # no service takes payments: seal each one at once
            self.handle(TxMessage, self.on_tx)

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"Node({self.name!r}, {state}, height {self.height}, peers {', '.join(self.peers) or 'none'})"

    def service(self, kind: type[S]) -> S:
        """This node's service of class ``kind``; LookupError if it has none."""
        found = next((s for s in self.services if isinstance(s, kind)), None)
        if found is None:
            raise LookupError(f"node {self.name} has no {kind.__name__} service")
        return found

    # --- synchronous API: the ledger ---------------------------------------------------

    @property
    def height(self) -> int:
        return self._read(lambda: self.ledger.height)

    def balance(self, address: str) -> int:
        return self._read(lambda: self.ledger.balance(address))

    def submit_tx(self, tx: Tx) -> Block | None:
        """Take a payment as if a wallet had sent it; ValidationError with the reason if refused.

        A node without a payment service seals it into a block at once and
        returns the block; with toycoin.relay.Relay it enters the mempool and
        gossips (returns None).
        """
        return self._read(lambda: None if any(s.accept_tx(tx) for s in self.services)
                          else self._seal_payment(tx))

    def seal(self) -> Block:
        """Seal every payment of the mempool into the next block, apply it and announce it."""
        return self._read(self._seal)

    def sync_status(self) -> tuple[int, int]:
        """(height, best height known from peers): equal once caught up."""
        return self._read(lambda: (self.ledger.height, self._best_height()))

    def accept_block(self, block: Block) -> None:
        """Apply a block sealed elsewhere on top of this node's tip; ValidationError if it breaks a rule.

        An explicit way to give several nodes the same chain (chapter 06); the
        block takes the path of a block synced from a peer: the ledger checks
        it exactly as it checks its own, and the store, the mempool and the
        services follow.
        """
        self._read(lambda: self._apply(block, "block accepted", None))

    def snapshot(self, names: dict[str, str] | None = None) -> NodeSnapshot:
        """A frozen picture; ``names`` maps addresses to labels for the balances shown."""
        return self._read(lambda: self._snapshot(names or {}))

    def _snapshot(self, names: dict[str, str]) -> NodeSnapshot:
        balances = tuple(sorted((label, self.ledger.balance(a)) for a, label in names.items()))
        peers = tuple(sorted({self.peer_name(c) for c in self.live_connections()}))
        syncing = tuple(sorted({self.peer_name(c) for s in self.services for c in s.syncing_from()}))
        return NodeSnapshot(self.name, self.is_running, self.ledger.height,
                            self.ledger.tip.hash_hex, balances, peers, False, len(self.mempool),
                            syncing, self._best_height())

    def _best_height(self) -> int:
        return max([self.ledger.height, *(s.best_height() for s in self.services)])

    # --- what the connection layer and the services are told -------------------------

    def start_height(self) -> int:
        return self.ledger.height

    def on_started(self) -> None:
        super().on_started()
        for service in self.services:
            service.on_started()

    def on_connected(self, conn: Connection) -> None:
        for service in self.services:
            service.on_connected(conn)

    def on_closed(self, conn: Connection) -> None:
        for service in self.services:
            service.on_closed(conn)

    def on_stopped(self) -> None:
        for service in self.services:
            service.on_stopped()

    # --- wallets and light clients (chapters 03-06) ----------------------------------

    def on_getutxos(self, conn: Connection, message: GetUtxos) -> None:
        coins = self.ledger.unspent_for(message.address)[: params.MAX_UTXOS_TO_SEND]
        conn.send(Utxos(message.address, self.ledger.height, self.ledger.tip_hash, tuple(coins)))

    def on_tx(self, conn: Connection, message: TxMessage) -> None:
        """A node without a payment service: seal the payment into a block at once."""
        try:
            self._seal_payment(message.tx)
        except ValidationError as error:
            conn.send(Reject(message.tx.txid, str(error)))

    def on_getheaders(self, conn: Connection, message: GetHeaders) -> None:
        """Our headers after the last block we share with the asker (an empty answer: nothing new)."""
        shared = fork_point(self.ledger, message.locator)
        headers = headers_after(self.ledger, message.locator, message.stop_hash)
        conn.send(Headers(tuple(headers)))
        for service in self.services:
            service.on_headers_sent(conn, shared, shared + len(headers))

    def on_getstatus(self, conn: Connection, message: GetStatus) -> None:
        """Who we are, how far, whom we are connected to, mining or not (toycoin.room asks)."""
        conn.send(self.status_message())

    def status_message(self) -> Status:
        """This node's ``status`` (on the network thread)."""
        peers = {}  # listen address -> name; IPv4 with a real port only, as a status carries
        for conn in self.live_connections():
            where = self.state(conn).listen_address
            if where is not None and is_ipv4(where[0]) and 0 < where[1] < 65536:
                peers[where] = self.peer_name(conn)
        miner = next((s for s in self.services if isinstance(s, Miner)), None)
        mining = miner is not None and miner.mining and self.is_running
        host = self.host if is_ipv4(self.host) else "0.0.0.0"  # a status carries IPv4 only
        return Status(self.name, (host, self._port), self.ledger.height, self.ledger.tip_hash,
                      tuple(sorted(peers.items())[:MAX_STATUS_PEERS]), mining,
                      min(int(miner.hashrate or 0), 2**32 - 1) if mining and miner else 0,
                      min(miner.blocks_found, 2**32 - 1) if miner else 0)

    def on_getproof(self, conn: Connection, message: GetProof) -> None:
        found = self.prove(message.txid)
        if found is None:
            conn.send(NoProof(message.txid))
            return
        block, height, proof, tx = found
        conn.send(Proof(block.hash, height, proof, tx))

    def prove(self, txid: bytes) -> tuple[Block, int, MerkleProof, Tx] | None:
        """(block, height, Merkle proof, tx) for a transaction of the ledger, or None (toycoin.txindex)."""
        return self._txindex.prove(txid)

    # --- getdata and notfound: each kind of item to the service that serves it -------

    def on_getdata(self, conn: Connection, message: GetData) -> None:
        missing = []
        for kind in sorted({item.kind for item in message.items}):
            hashes = [item.hash for item in message.items if item.kind == kind]
            service = self._inventory.get(kind)
            missing += [InvItem(kind, h) for h in (service.serve(conn, hashes) if service else hashes)]
        if missing:
            conn.send(NotFound(tuple(missing)))

    def on_notfound(self, conn: Connection, message: NotFound) -> None:
        for kind, service in self._inventory.items():
            service.on_notfound(conn, [item.hash for item in message.items if item.kind == kind])

    # --- blocks: sealed here, synced from a peer, or handed over ---------------------

    def _timestamp(self) -> int:
        """The node's clock, but always later than the median of the last blocks (Bitcoin Core's
        UpdateTime), so a fast clock-driven sealer never builds a block the rules refuse."""
        now = self._clock() if self._clock else self.ledger.tip.timestamp + params.BLOCK_INTERVAL
        return max(now, self.ledger.median_time_past() + 1)

    def _seal_payment(self, tx: Tx) -> Block:
        try:
            self.ledger.validate_tx(tx)
        except ValidationError as error:
            self.record("payment rejected", None, f"{tx.txid_hex[:12]}…: {error}")
            raise
        block = self.ledger.seal_block([tx], self.miner_address, self._timestamp())
        self._save(block)
        self.record("block sealed", None,
                    f"height {self.ledger.height}, block {block.hash_hex[:12]}…, payment {tx.txid_hex[:12]}…")
        return block

    def _seal(self) -> Block:
        timestamp, txs = self._timestamp(), self.mempool.txs_for_block()
        block = self.ledger.seal_block(txs, self.miner_address, timestamp)
        self._after_block(block)
        n = len(txs)
        self.record("block sealed", None, f"height {self.ledger.height}, block {block.hash_hex[:12]}…, "
                    f"{n} payment{'' if n == 1 else 's'}")
        return block

    def block_template(self) -> Block:
        return self.ledger.block_template(self.mempool.txs_for_block(), self.miner_address, self._timestamp())

    def add_mined_block(self, block: Block) -> None:
        self.ledger.apply_block(block)
        self._after_block(block)
        n = len(block.txs) - 1
        self.record("block mined", None, f"height {self.ledger.height}, block {block.hash_hex[:12]}…, "
                    f"{n} payment{'' if n == 1 else 's'}, nonce {block.header.nonce}")

    def connect_block(self, block: Block, peer: str | None) -> None:
        """Validate and apply a block from ``peer`` (toycoin.sync calls this, in chain order)."""
        self._apply(block, "block applied", peer)

    def reorganize(self, fork_height: int, blocks: list[Block], peer: str | None) -> None:
        """Switch the ledger to another branch: undo every block above ``fork_height``, apply
        ``blocks``; all or nothing (InvalidBlock, naming the block that broke a rule, leaves the
        ledger, store and mempool as they were). The payments of the undone blocks go back to the
        mempool if still valid, so they are mined again; a payment the new branch spends
        differently is dropped: of a double spend, one payment stands."""
        undone = [self.ledger.undo_block() for _ in range(self.ledger.height - fork_height)]
        applied = 0
        try:
            for block in blocks:
                self.ledger.apply_block(block)
                applied += 1
        except ValidationError as error:
            for _ in range(applied):
                self.ledger.undo_block()
            for block in reversed(undone):
                self.ledger.apply_block(block)
            raise InvalidBlock(blocks[applied].hash, f"block {blocks[applied].hash_hex[:12]}… of the branch: "
                               f"{error}") from None
        if self._store is not None:
            heights = range(fork_height + 1, self.ledger.height + 1)
            self._store.reorganize(fork_height, [(b, self.ledger.undo_at(h)) for b, h in zip(blocks, heights,
                                                                                             strict=True)])
        for block in blocks:
            self.mempool.remove_for_block(block)
        returned = 0
        for block in reversed(undone):  # oldest first, so a payment's parent returns before it
            for tx in block.txs[1:]:
                try:  # through the payment service, so it is announced again
                    if not any(s.accept_tx(tx) for s in self.services):
                        self.mempool.add(tx, self.ledger)
                    returned += 1
                except ValidationError:
                    pass  # spent differently on the new branch, or already there
        self.record("reorganized", peer, f"undid {len(undone)} block{'' if len(undone) == 1 else 's'} "
                    f"above height {fork_height}, applied {len(blocks)}; {returned} payment"
                    f"{'' if returned == 1 else 's'} back in the mempool")
        for block in blocks:
            for service in self.services:
                service.on_block(block)

    def _apply(self, block: Block, kind: str, peer: str | None) -> None:
        """Validate and apply a block sealed elsewhere; then as for every new block."""
        self.ledger.apply_block(block)
        self._after_block(block)
        of = f" of {self._best_height()}" if peer is not None else ""
        self.record(kind, peer, f"height {self.ledger.height}{of}, block {block.hash_hex[:12]}…")

    def _after_block(self, block: Block) -> None:
        self._save(block)
        self.mempool.remove_for_block(block)
        for service in self.services:
            service.on_block(block)

    def _save(self, block: Block) -> None:
        if self._store is not None:
            self._store.append(block, self.ledger.undo_at(self.ledger.height))
