"""Block sync: a node that is behind fetches the blocks it lacks, headers first.

A node that was down, or has just joined, is missing blocks. It asks each
peer for the headers after its own tip (``getheaders`` with a block locator),
so it learns the chain it lacks in 80 bytes a block, before a single block
moves. Then it downloads the blocks from every peer that has them at once,
a few blocks per peer in flight (Bitcoin's "segmented" download), and applies
each one, in chain order, only after the ledger validated it.

    BlockSync()                          a node service (toycoin.service)
      on_headers, on_blockmsg             its message handlers (getheaders is the node's own)
      serve, on_notfound                  getdata and notfound for blocks (the node routes them)
      on_connected(conn)                  ask a new peer for headers
      on_headers_sent(conn, ...)          the node answered a getheaders: note what the peer has
      on_block(block)                     tell peers about a new tip (BIP130: headers, not inv)
      check_timeouts(now)                 a peer that sits on a block is dropped (on a timer)
      on_closed(conn)                     its blocks are asked from someone else
      syncing_from(), best_height(), caught_up

What it refuses to be stalled or fooled by: a peer that announces blocks and
never delivers them is disconnected after BLOCK_DOWNLOAD_TIMEOUT and the
blocks are asked from another peer; a block that fails validation costs its
sender the connection, and the block is asked again from someone else (the
header may be honest and the sender not); headers that do not form a chain
are a protocol error; once no live peer has a header, it is forgotten.

Simplifications compared with Bitcoin: one chain, no forks. A header that
builds on an older block of our chain, not on our tip, comes from a second
sealer; the node records "block does not build on my tip" and keeps its own
ledger (choosing between branches is a later chapter). No proof of work, so
headers are not checked against a target; no stalling peer eviction by
speed, only by timeout.

Reference: https://developer.bitcoin.org/devguide/p2p_network.html#headers-first
"""

from __future__ import annotations

import asyncio
from collections import deque

from toycoin import params
from toycoin.block import Block, BlockHeader
from toycoin.errors import ProtocolError, ValidationError
from toycoin.headers import block_locator
from toycoin.ledger import Ledger
from toycoin.msg_data import MSG_BLOCK, BlockMessage, GetData, GetHeaders, Headers, InvItem, MempoolRequest
from toycoin.peer import Connection
from toycoin.service import NodeServices, Service


class BlockSync(Service):
    """Headers-first download, in segments from several peers (state inside one node only)."""

    inventory = MSG_BLOCK

    def __init__(self) -> None:
        self.pending: list[BlockHeader] = []  # headers after our tip, in chain order
        self._pending_heights: dict[bytes, int] = {}
        self._queue: deque[bytes] = deque()  # pending blocks not asked for yet, in chain order
        self._in_flight: dict[bytes, tuple[Connection, float]] = {}  # hash -> (peer, deadline)
        self._downloaded: dict[bytes, tuple[Block, Connection]] = {}
        self._best: dict[Connection, int] = {}  # highest height of our chain each peer has
        self._told: dict[Connection, int] = {}  # highest height we announced to each peer
        self._asked_mempool: set[Connection] = set()
        self._forks: set[bytes] = set()  # headers of other branches, recorded once

    def attach(self, node: NodeServices) -> None:
        super().attach(node)
        node.handle(Headers, self.on_headers)
        node.handle(BlockMessage, self.on_blockmsg)

    def on_started(self) -> None:
        # Now and then, drop peers that sit on blocks they were asked for.
        self.node.every(self.node.limits.block_timeout / 4, self.check_timeouts)

    # --- what views read -------------------------------------------------------------

    @property
    def ledger(self) -> Ledger:
        return self.node.ledger

    def best_height(self) -> int:
        """The height of the best chain we know of: our tip plus the headers we still need."""
        return self.ledger.height + len(self.pending)

    @property
    def caught_up(self) -> bool:
        return not self.pending

    def syncing_from(self) -> list[Connection]:
        """Peers we are downloading blocks from right now."""
        return sorted({conn for conn, _ in self._in_flight.values()}, key=self.node.peer_name)

    # --- headers ---------------------------------------------------------------------

    def on_connected(self, conn: Connection) -> None:
        self._best[conn] = 0
        self._told[conn] = 0
        conn.send(GetHeaders(block_locator(self.ledger)))

    def on_headers_sent(self, conn: Connection, shared: int, last: int) -> None:
        self._best[conn] = max(self._best.get(conn, 0), shared)
        if last > shared:
            self._told[conn] = max(self._told.get(conn, 0), last)

    def on_headers(self, conn: Connection, message: Headers) -> None:
        headers = message.headers
        for before, after in zip(headers, headers[1:], strict=False):
            if after.prev_block_hash != before.hash:
                raise ProtocolError("headers that do not form a chain")
        new = [h for h in headers if not self._known(conn, h)]
        if new:
            self._extend(conn, new)
        elif len(headers) < params.MAX_HEADERS_RESULTS:
            self._maybe_ask_mempool(conn)
        if len(headers) == params.MAX_HEADERS_RESULTS and new:
            locator = (headers[-1].hash, *block_locator(self.ledger))
            conn.send(GetHeaders(locator[: params.MAX_LOCATOR_SZ]))
        self._schedule()

    def _known(self, conn: Connection, header: BlockHeader) -> bool:
        """Whether we have ``header`` already (in the ledger or pending); notes that the peer has it."""
        height = self.ledger.height_of(header.hash)
        if height is None:
            height = self._pending_heights.get(header.hash)
        if height is None:
            return header.hash in self._forks
        self._best[conn] = max(self._best.get(conn, 0), height)
        return True

    def _extend(self, conn: Connection, headers: list[BlockHeader]) -> None:
        first, label = headers[0], self.node.peer_name(conn)
        end = self.pending[-1].hash if self.pending else self.ledger.tip_hash
        if first.prev_block_hash == end:
            if not self.pending:
                self.node.record("sync started", label, f"{len(headers)} new headers after my tip; "
                                  "fetching their blocks from every peer that has them")
            for header in headers:
                self._pending_heights[header.hash] = self.ledger.height + len(self.pending) + 1
                self.pending.append(header)
                self._queue.append(header.hash)
            self._best[conn] = max(self._best.get(conn, 0), self.best_height())
        elif first.prev_block_hash in self._forks:  # more of a branch already recorded
            self._forks.update(h.hash for h in headers)
        elif self._is_ours(first.prev_block_hash):
            self._forks.update(h.hash for h in headers)
            mine = self.pending[-1] if self.pending else self.ledger.tip
            self.node.record("block not applied", label,
                              f"block {first.hash_hex[:12]}… does not build on my tip "
                              f"(block {mine.hash_hex[:12]}… at height {self.best_height()}): "
                              "two ledgers now disagree")
        else:  # an announcement whose parent we lack: ask for the headers in between
            conn.send(GetHeaders(block_locator(self.ledger)))

    def _is_ours(self, block_hash: bytes) -> bool:
        return block_hash in self._pending_heights or self.ledger.height_of(block_hash) is not None

    def _maybe_ask_mempool(self, conn: Connection) -> None:
        """Once caught up with a peer, ask for its mempool (once per connection)."""
        if self.caught_up and conn not in self._asked_mempool and conn.is_open:
            self._asked_mempool.add(conn)
            conn.send(MempoolRequest())

    # --- blocks ----------------------------------------------------------------------

    def _schedule(self) -> None:
        """Ask for queued blocks, each from the least busy peer that has it."""
        now, wanted = asyncio.get_running_loop().time(), {}
        busy = {conn: 0 for conn in self._best if conn.is_open}
        for conn, _ in self._in_flight.values():
            busy[conn] = busy.get(conn, 0) + 1
        while self._queue:
            block_hash = self._queue[0]
            height = self._pending_heights.get(block_hash)
            if height is None or block_hash in self._downloaded or block_hash in self._in_flight:
                self._queue.popleft()  # stale: applied, pruned or already asked
                continue
            if height - self.ledger.height > params.BLOCK_DOWNLOAD_WINDOW:
                break
            able = [c for c, n in busy.items() if n < params.MAX_BLOCKS_IN_TRANSIT_PER_PEER
                    and self._best.get(c, 0) >= height]
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

    def on_blockmsg(self, conn: Connection, message: BlockMessage) -> None:
        block = message.block
        asked = self._in_flight.get(block.hash)
        if asked is None or asked[0] is not conn:
            conn.ignore(f"a block I did not ask for ({block.hash_hex[:12]}…)")
            return
        del self._in_flight[block.hash]
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
            header = self.pending.pop(0)  # first, so the node sees its new tip as caught up or not
            block, sender = self._downloaded.pop(header.hash)
            try:
                self.node.connect_block(block, self.node.peer_name(sender))
            except ValidationError as error:
                self.pending.insert(0, header)
                self._queue.appendleft(block.hash)  # the header may be honest: ask someone else
                sender.close(f"sent an invalid block {block.hash_hex[:12]}…: {error}")
                self._best[sender] = -1
                return
            del self._pending_heights[header.hash]
            if not self.pending:
                self.node.record("synced", None, f"caught up at height {self.ledger.height}")
                for conn in self._best:
                    self._maybe_ask_mempool(conn)

    def on_notfound(self, conn: Connection, hashes: list[bytes]) -> None:
        """The peer does not have these after all: ask someone else, not it again."""
        for block_hash in hashes:
            asked = self._in_flight.get(block_hash)
            if asked and asked[0] is conn:
                del self._in_flight[block_hash]
                self._queue.appendleft(block_hash)
                self._best[conn] = min(self._best[conn], self._pending_heights[block_hash] - 1)
        self._schedule()

    def on_block(self, block: Block) -> None:
        """Tell every peer that lacks it about our new tip (once we are caught up)."""
        header = block.header
        if not self.caught_up:
            return
        height = self.ledger.height
        for conn in self.node.live_connections():
            if conn in self._told and max(self._told[conn], self._best.get(conn, 0)) < height:
                self._told[conn] = height
                conn.send(Headers((header,)))

    # --- peers that stall or go ------------------------------------------------------

    def check_timeouts(self, now: float) -> None:
        for block_hash, (conn, deadline) in list(self._in_flight.items()):
            if deadline < now and conn.is_open:
                conn.close(f"did not deliver block {block_hash[::-1].hex()[:12]}… within "
                           f"{self.node.limits.block_timeout:g}s")

    def on_closed(self, conn: Connection) -> None:
        for table in (self._best, self._told):
            table.pop(conn, None)
        self._asked_mempool.discard(conn)
        again = [h for h, (c, _) in self._in_flight.items() if c is conn]
        for block_hash in again:
            del self._in_flight[block_hash]
        self._queue.extendleft(sorted(again, key=self._pending_heights.__getitem__, reverse=True))
        self._prune()
        self._schedule()

    def _prune(self) -> None:
        """Forget pending headers that no live peer has: nobody could deliver their blocks."""
        reach = max((h for c, h in self._best.items() if c.is_open), default=self.ledger.height)
        keep = max(0, reach - self.ledger.height)
        for header in self.pending[keep:]:
            del self._pending_heights[header.hash]
            self._downloaded.pop(header.hash, None)
            self._in_flight.pop(header.hash, None)
        del self.pending[keep:]

