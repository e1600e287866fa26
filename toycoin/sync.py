"""Block sync: a node fetches the blocks of the best chain it hears of, headers first.

A node that was down, or has just joined, is missing blocks; a node that
hears of a branch with more work than its own must switch to it. Either way
it first learns headers: it asks each peer for the headers after its own tip
(``getheaders`` with a block locator) and keeps every valid header in a tree
(toycoin.headers.HeaderChain, checked by the network's proof-of-work rules),
80 bytes a block, before a single block moves. The tree's best chain, the one
with the most work, is the target. Then it downloads the blocks it lacks from
every peer that has them at once, a few blocks per peer in flight (Bitcoin's
"segmented" download), and applies them in chain order, each validated first:

- on top of its tip, one block at a time;
- on a branch that forks below its tip, all at once, and only when the
  downloaded part of the branch has more work than its own blocks above the
  fork: the node undoes its blocks back to the fork and applies the branch
  (``node.reorganize``, all or nothing). A block that breaks a rule makes the
  whole branch invalid: the node stays on its chain and drops the sender.

    BlockSync()                          a node service (toycoin.service)
      on_headers, on_blockmsg             its message handlers (getheaders is the node's own)
      screen_block(conn, payload)         a block nobody asked for, refused from its header alone
      serve, on_notfound                  getdata and notfound for blocks (the node routes them)
      on_connected(conn)                  ask a new peer for headers
      on_headers_sent(conn, ...)          the node answered a getheaders: note what the peer has
      on_block(block)                     tell peers about a new tip (BIP130: headers, not inv)
      check_timeouts(now)                 a peer that sits on a block is dropped (on a timer)
      on_closed(conn)                     its blocks are asked from someone else
      tree, pending, syncing_from(), best_height(), caught_up

What it refuses to be stalled or fooled by: a peer that announces blocks and
never delivers them is disconnected after BLOCK_DOWNLOAD_TIMEOUT and the
blocks are asked from another peer; a block on top of the tip that fails
validation costs its sender the connection, and the block is asked again from
someone else (the header may be honest and the sender not); headers that do
not form a chain, or break the proof-of-work rules, are a protocol error.

On a network without proof of work (chapters 03-08) every header has the same
work, so a branch never beats the chain a node already has: a header that
builds on an older block of its chain comes from a second sealer, and the node
records "block does not build on my tip" and keeps its own ledger.

Simplifications compared with Bitcoin: no stalling-peer eviction by speed,
only by timeout; side-branch headers are bounded by count (MAX_SIDE_HEADERS,
the lightest forgotten first), and so are headers ahead of the blocks a node
holds (MAX_HEADERS_AHEAD: it asks for the rest once its blocks catch up),
where Bitcoin Core asks a branch for a minimum of work before it keeps its
headers.

Reference: https://developer.bitcoin.org/devguide/p2p_network.html#headers-first
"""

from __future__ import annotations

import asyncio
from collections import deque

from toycoin import params
from toycoin.block import HEADER_SIZE as BLOCK_HEADER_SIZE
from toycoin.block import Block, BlockHeader, check_merkle_root
from toycoin.encoding import sha256d
from toycoin.errors import InvalidBlock, ProtocolError, ValidationError
from toycoin.headers import HeaderChain, block_locator
from toycoin.ledger import Ledger
from toycoin.msg_data import MSG_BLOCK, BlockMessage, GetData, GetHeaders, Headers, InvItem, MempoolRequest
from toycoin.peer import Connection
from toycoin.service import NodeServices, Service


class BlockSync(Service):
    """Headers-first download of the best chain, in segments from several peers (state inside one
    node only)."""

    inventory = MSG_BLOCK

    def __init__(self) -> None:
        self.pending: list[BlockHeader] = []  # best-chain headers after the fork point, in order
        self.fork_height = 0  # the ledger height pending[0] builds on
        self._pending_heights: dict[bytes, int] = {}
        self._queue: deque[bytes] = deque()  # pending blocks not asked for yet, in chain order
        self._in_flight: dict[bytes, tuple[Connection, float]] = {}  # hash -> (peer, deadline)
        self._downloaded: dict[bytes, tuple[Block, Connection]] = {}
        self._peers: set[Connection] = set()  # full nodes, from their handshake on
        self._known: dict[Connection, bytes] = {}  # the best header each peer is known to have
        self._asked_mempool: set[Connection] = set()
        # First headers of branches reported as not applied, oldest first; at most
        # MAX_REFUSED_BRANCHES (an old one forgotten is at worst reported again).
        self._refused: dict[bytes, None] = {}
        self._unconnecting: dict[Connection, int] = {}  # headers messages in a row that connect to nothing
        self._held_back: set[Connection] = set()  # asked again for headers once the blocks catch up

    def attach(self, node: NodeServices) -> None:
        super().attach(node)
        ledger = node.ledger
        # The blocks it holds stay in the tree, even as side headers while a heavier branch is
        # fetched: a flood of side branches must not push the node's own tip out.
        self.tree = HeaderChain(ledger.header_at(0), ledger.rules, now=lambda: ledger.now(),
                                pinned=lambda block_hash: ledger.height_of(block_hash) is not None)
        self.tree.add(ledger.header_at(h) for h in range(1, ledger.height + 1))
        self.fork_height = ledger.height
        node.handle(Headers, self.on_headers)
        node.handle(BlockMessage, self.on_blockmsg, screen=self.screen_block)

    def on_started(self) -> None:
        # Now and then, drop peers that sit on blocks they were asked for.
        self.node.every(self.node.limits.block_timeout / 4, self.check_timeouts)

    # --- what views read -------------------------------------------------------------

    @property
    def ledger(self) -> Ledger:
        return self.node.ledger

    def best_height(self) -> int:
        """The height of the best chain we know of: our tip, or the branch we are fetching."""
        return self.fork_height + len(self.pending) if self.pending else self.ledger.height

    @property
    def caught_up(self) -> bool:
        return not self.pending

    def syncing_from(self) -> list[Connection]:
        """Peers we are downloading blocks from right now."""
        return sorted({conn for conn, _ in self._in_flight.values()}, key=self.node.peer_name)

    # --- what each peer has ----------------------------------------------------------

    def _note(self, conn: Connection, block_hash: bytes) -> None:
        """``conn`` has the header ``block_hash`` (and so all before it): keep the one with most work."""
        known, tree = self._known.get(conn), self.tree
        if block_hash in tree and (known is None or known not in tree
                                   or tree.work_of(block_hash) > tree.work_of(known)):
            self._known[conn] = block_hash

    def _has(self, conn: Connection, block_hash: bytes) -> bool:
        known, tree = self._known.get(conn), self.tree
        if known is None or known not in tree:  # a side header forgotten to bound the tree
            return False
        height, known_height = tree.height_of(block_hash), tree.height_of(known)
        if height is not None:  # on the best chain (every block it fetches is): compare heights
            return height <= (known_height if known_height is not None else tree.fork_height(known))
        height = tree.entry_height(block_hash)
        return tree.entry_height(known) >= height and tree.ancestor(known, height) == block_hash

    # --- headers ---------------------------------------------------------------------

    def on_connected(self, conn: Connection) -> None:
        self._peers.add(conn)
        conn.send(GetHeaders(block_locator(self.ledger)))

    def on_headers_sent(self, conn: Connection, shared: int, last: int) -> None:
        if conn in self._peers:
            self._note(conn, self.ledger.hash_at(last))

    def on_headers(self, conn: Connection, message: Headers) -> None:
        headers = message.headers
        for before, after in zip(headers, headers[1:], strict=False):
            if after.prev_block_hash != before.hash:
                raise ProtocolError("headers that do not form a chain")
        if headers and headers[0].prev_block_hash not in self.tree:
            # An announcement whose parent we lack: ask for the headers in between, a few times.
            self._unconnecting[conn] = self._unconnecting.get(conn, 0) + 1
            if self._unconnecting[conn] >= params.MAX_UNCONNECTING_HEADERS:
                raise ProtocolError(f"{self._unconnecting[conn]} headers messages that connect to nothing")
            conn.send(GetHeaders(block_locator(self.ledger)))
            return
        self._unconnecting.pop(conn, None)
        full = len(headers) == params.MAX_HEADERS_RESULTS  # the peer has more
        if headers:  # keep at most MAX_HEADERS_AHEAD headers ahead of our blocks; ask again later
            room = self.ledger.height + params.MAX_HEADERS_AHEAD - self.tree.entry_height(
                headers[0].prev_block_hash)
            if len(headers) > room:
                headers = headers[:max(room, 0)]
                self._held_back.add(conn)
        try:
            new = self.tree.add(headers)
        except ValidationError as error:
            raise ProtocolError(f"invalid header: {error}") from None
        if headers:
            self._note(conn, headers[-1].hash)
        if new:
            self._retarget(conn)
            self._report_side_branch(conn, headers)
        elif not full:
            self._maybe_ask_mempool(conn)
        if full and new and conn not in self._held_back:
            locator = (headers[-1].hash, *block_locator(self.ledger))
            conn.send(GetHeaders(locator[: params.MAX_LOCATOR_SZ]))
        self._schedule()

    def _retarget(self, conn: Connection | None) -> None:
        """Aim at the tree's best chain: the headers after the fork with our ledger become pending."""
        tree, ledger, was_pending = self.tree, self.ledger, bool(self.pending)
        if tree.work <= tree.work_of(ledger.tip_hash):
            self._set_pending(ledger.height, [])
            return
        fork = min(ledger.height, tree.height)
        while tree.hash_at(fork) != ledger.hash_at(fork):
            fork -= 1
        self._set_pending(fork, [tree.header_at(h) for h in range(fork + 1, tree.height + 1)])
        if not was_pending and conn is not None:
            label = self.node.peer_name(conn)
            if fork == ledger.height:
                self.node.record("sync started", label, f"{len(self.pending)} new headers after my tip; "
                                 "fetching their blocks from every peer that has them")
            else:
                self.node.record("sync started", label, f"a branch with more work forks at height {fork}: "
                                 f"fetching its {len(self.pending)} blocks to switch to it")

    def _report_side_branch(self, conn: Connection, headers: tuple[BlockHeader, ...]) -> None:
        """Headers that fork below the chain this node follows and do not beat it: a second sealer.
        The chain it follows is the one it is fetching, if any (so a follower that hears both
        headers before either block reports the one it does not fetch), else its own."""
        chain: HeaderChain | Ledger = self.tree if self.pending else self.ledger
        first = next((h for h in headers if chain.height_of(h.hash) is None), None)
        if first is None or first.prev_block_hash in self._refused:
            return
        parent = first.prev_block_hash
        if chain.height_of(parent) is None or parent == chain.tip.hash:
            return
        self._refused[first.hash] = None
        if len(self._refused) > params.MAX_REFUSED_BRANCHES:
            del self._refused[next(iter(self._refused))]
        fetching = ", which I am fetching" if self.pending else ""
        self.node.record("block not applied", self.node.peer_name(conn),
                         f"block {first.hash_hex[:12]}… does not build on my tip "
                         f"(block {chain.tip.hash_hex[:12]}… at height {chain.height}{fetching}): "
                         "two ledgers now disagree")

    def _set_pending(self, fork: int, headers: list[BlockHeader]) -> None:
        self.fork_height, self.pending = fork, headers
        self._pending_heights = {h.hash: fork + 1 + i for i, h in enumerate(headers)}
        for block_hash in [h for h in self._downloaded if h not in self._pending_heights]:
            del self._downloaded[block_hash]
        self._queue = deque(h.hash for h in headers
                            if h.hash not in self._downloaded and h.hash not in self._in_flight)

    def _maybe_ask_mempool(self, conn: Connection) -> None:
        """Once caught up with a peer, ask for its mempool (once per connection)."""
        if self.caught_up and conn not in self._asked_mempool and conn.is_open:
            self._asked_mempool.add(conn)
            conn.send(MempoolRequest())

    # --- blocks ----------------------------------------------------------------------

    def _schedule(self) -> None:
        """Ask for queued blocks, each from the least busy peer that has it."""
        now, wanted = asyncio.get_running_loop().time(), {}
        busy = {conn: 0 for conn in self._peers if conn.is_open}
        for conn, _ in self._in_flight.values():
            busy[conn] = busy.get(conn, 0) + 1
        while self._queue:
            block_hash = self._queue[0]
            height = self._pending_heights.get(block_hash)
            if height is None or block_hash in self._downloaded or block_hash in self._in_flight:
                self._queue.popleft()  # stale: applied, pruned or already asked
                continue
            if height - self.fork_height > params.BLOCK_DOWNLOAD_WINDOW:
                break
            able = [c for c, n in busy.items() if n < params.MAX_BLOCKS_IN_TRANSIT_PER_PEER
                    and self._has(c, block_hash)]
            if not able:
                break
            conn = min(able, key=lambda c: (busy[c], self.node.peer_name(c)))
            self._queue.popleft()
            busy[conn] += 1
            self._in_flight[block_hash] = (conn, now + self.node.limits.block_timeout)
            wanted.setdefault(conn, []).append(InvItem(MSG_BLOCK, block_hash))
        for conn, items in wanted.items():
            for start in range(0, len(items), params.MAX_INV_SZ):
                conn.send(GetData(tuple(items[start:start + params.MAX_INV_SZ])))

    def serve(self, conn: Connection, hashes: list[bytes]) -> list[bytes]:
        """Send each block we have; return the hashes we do not have (for notfound)."""
        missing = []
        for block_hash in hashes:
            height = self.ledger.height_of(block_hash)
            if height is None:
                missing.append(block_hash)
            else:
                conn.send(BlockMessage(self.ledger.block_at(height)))
        return missing

    def screen_block(self, conn: Connection, payload: bytes) -> str | None:
        """A block nobody asked ``conn`` for is refused from its 80-byte header, before a single
        transaction is parsed: a known block, one that does not connect, one whose proof of work
        fails, all were never asked for (a block is asked for only after its header passed)."""
        if len(payload) < BLOCK_HEADER_SIZE:
            return None  # parsing it says what is wrong, and costs the connection
        block_hash = sha256d(payload[:BLOCK_HEADER_SIZE])
        asked = self._in_flight.get(block_hash)
        if asked is None or asked[0] is not conn:
            return f"a block I did not ask for ({block_hash[::-1].hex()[:12]}…)"
        if len(payload) > params.MAX_BLOCK_SIZE:  # invalid whatever it holds: it stays asked, and times out
            return f"a block of {len(payload):,} bytes, over the limit of {params.MAX_BLOCK_SIZE:,}"
        return None

    def on_blockmsg(self, conn: Connection, message: BlockMessage) -> None:
        block = message.block
        asked = self._in_flight.get(block.hash)
        if asked is None or asked[0] is not conn:
            conn.ignore(f"a block I did not ask for ({block.hash_hex[:12]}…)")
            return
        del self._in_flight[block.hash]
        if block.hash in self._pending_heights:
            try:  # before it is kept: a block whose transactions are not the ones its header commits to
                check_merkle_root(block)
            except ValidationError as error:
                self._queue.appendleft(block.hash)  # the header may be honest: ask someone else
                conn.close(f"sent an invalid block {block.hash_hex[:12]}…: {error}")
                return
            self._downloaded[block.hash] = (block, conn)
            self._apply_ready()
        # Ask this peer for more once half its requests are answered: one getdata
        # then carries several blocks, instead of one getdata per block.
        in_flight = sum(1 for c, _ in self._in_flight.values() if c is conn)
        if in_flight <= params.MAX_BLOCKS_IN_TRANSIT_PER_PEER // 2:
            self._schedule()

    def _apply_ready(self) -> None:
        """Apply downloaded blocks in chain order, each validated first."""
        while self.pending and self.pending[0].hash in self._downloaded:
            if self.fork_height < self.ledger.height:  # a branch: all that is ready, or nothing yet
                if not self._switch_branch():
                    return
                continue
            # First, so the node's events see the new tip as caught up or not.
            header, self.fork_height = self.pending.pop(0), self.fork_height + 1
            block, sender = self._downloaded.pop(header.hash)
            try:
                self.node.connect_block(block, self.node.peer_name(sender))
                self.node.credit(sender, "block")
            except ValidationError as error:
                self.pending.insert(0, header)
                self.fork_height -= 1
                self._queue.appendleft(block.hash)  # the header may be honest: ask someone else
                sender.close(f"sent an invalid block {block.hash_hex[:12]}…: {error}")
                self._known.pop(sender, None)
                return
            del self._pending_heights[header.hash]
        if not self.pending:
            self._after_sync()

    def _switch_branch(self) -> bool:
        """Switch to the branch being fetched once its downloaded part has more work than our blocks
        above the fork; True if the ledger is now on it."""
        ready = []
        for header in self.pending:
            if header.hash not in self._downloaded:
                break
            ready.append(header)
        if self.tree.work_of(ready[-1].hash) <= self.tree.work_of(self.ledger.tip_hash):
            return False  # not yet: wait for more of the branch
        taken = [self._downloaded.pop(h.hash) for h in ready]
        senders = {h.hash: sender for h, (_, sender) in zip(ready, taken, strict=True)}
        try:
            self.node.reorganize(self.fork_height, [block for block, _ in taken],
                                 self.node.peer_name(taken[-1][1]))
        except InvalidBlock as error:
            self.tree.invalidate(error.block_hash)
            sender = senders.get(error.block_hash)
            self.node.record("branch refused", self.node.peer_name(sender) if sender else None,
                             f"{error}; staying on my chain")
            if sender is not None:
                sender.close(f"sent an invalid block {error.block_hash[::-1].hex()[:12]}…: {error}")
                self._known.pop(sender, None)
            self._retarget(None)
            self._schedule()
            return False
        for sender in set(senders.values()):
            self.node.credit(sender, "block")
        for header in ready:
            del self._pending_heights[header.hash]
        del self.pending[:len(ready)]
        self.fork_height = self.ledger.height
        return True

    def _after_sync(self) -> None:
        self.node.record("synced", None, f"caught up at height {self.ledger.height}")
        held_back, self._held_back = self._held_back, set()
        for conn in held_back:  # their headers were cut at MAX_HEADERS_AHEAD: the next ones now
            if conn.is_open:
                conn.send(GetHeaders(block_locator(self.ledger)))
        for conn in self._peers:
            self._maybe_ask_mempool(conn)

    def on_notfound(self, conn: Connection, hashes: list[bytes]) -> None:
        """A peer that announced a block and will not serve it is dropped (its blocks are then
        asked from someone else, or forgotten if nobody has them)."""
        refused = [h for h in hashes if h in self._in_flight and self._in_flight[h][0] is conn]
        if refused:
            conn.close(f"announced block {refused[0][::-1].hex()[:12]}… and does not serve it")

    def on_block(self, block: Block) -> None:
        """A block joined the ledger: keep the tree in step, and tell every peer that lacks it
        about our new tip (once we are caught up)."""
        if block.hash not in self.tree:
            self.tree.add([block.header])  # sealed here, or handed over
        if self.pending and block.hash not in self._pending_heights:
            # Our own block while we fetch a peer's: aim again, or a branch of equal work that we
            # will never switch to keeps us "not caught up", and we never announce our blocks.
            self._retarget(None)
        if not self.caught_up:
            return
        for conn in self.node.live_connections():
            if conn in self._peers and not self._has(conn, block.hash):
                self._known[conn] = block.hash  # it has the header now
                conn.send(Headers((block.header,)))

    # --- peers that stall or go ------------------------------------------------------

    def check_timeouts(self, now: float) -> None:
        for block_hash, (conn, deadline) in list(self._in_flight.items()):
            if deadline < now and conn.is_open:
                conn.close(f"did not deliver block {block_hash[::-1].hex()[:12]}… within "
                           f"{self.node.limits.block_timeout:g}s")

    def on_closed(self, conn: Connection) -> None:
        self._peers.discard(conn)
        self._unconnecting.pop(conn, None)
        self._held_back.discard(conn)
        self._known.pop(conn, None)
        self._asked_mempool.discard(conn)
        again = [h for h, (c, _) in self._in_flight.items() if c is conn]
        for block_hash in again:
            del self._in_flight[block_hash]
        self._queue.extendleft(sorted((h for h in again if h in self._pending_heights),
                                      key=self._pending_heights.__getitem__, reverse=True))
        self._prune()
        self._schedule()

    def _prune(self) -> None:
        """Forget pending headers that no live peer has: nobody could deliver their blocks, and a
        header whose block never comes must not stand in the way of a sibling that does."""
        keep = 0
        while keep < len(self.pending) and (self.pending[keep].hash in self._downloaded or any(
                self._has(c, self.pending[keep].hash) for c in self._peers if c.is_open)):
            keep += 1
        if keep == len(self.pending):
            return
        self.tree.forget(self.pending[keep].hash)
        for conn, known in list(self._known.items()):
            if known not in self.tree:
                del self._known[conn]
        for block_hash in [h for h in self._in_flight if h not in self.tree]:
            del self._in_flight[block_hash]
        self._retarget(None)
