"""Header chain: the 80-byte headers of every block, and which chain is best.

A light wallet keeps no blocks, only their headers: 80 bytes each, whatever
the block holds. Each header names its parent (``prev_block_hash``) and
commits to its transactions (``merkle_root``), so a chain of headers is
enough to check a Merkle proof that a payment is in a block.

    HeaderChain           every header received that links to one already known
      .add(headers)       check and store headers in order; ValidationError if one does not link
      .height, .tip, .header_at(height), .hash_at(height), .height_of(block_hash), .size_bytes
      .locator()          its block locator, to put in getheaders
    block_locator(chain)  hashes of a chain (headers or a ledger), newest first, thinning out
                          to genesis: how a node tells a peer where its chain is
    fork_point(chain, locator)     the height of the last block a getheaders' sender shares
                                   with us (Bitcoin Core: FindForkInGlobalIndex)
    headers_after(chain, locator)  what a full node answers to getheaders: the headers after it

The best chain is the one with the most work, summed over its headers
(Bitcoin's rule, not "the longest"); on a tie the one seen first stays. Headers
on other branches are kept, so a branch that later overtakes becomes best.

Side branches are kept, but at most ``max_side`` headers of them: beyond that
the branches with the least work are forgotten first, so a peer cannot fill a
node's memory with cheap forks; ``forget`` drops a branch whose blocks nobody
serves, and ``invalidate`` one whose block broke a rule.

Every header is checked by the proof-of-work rules of its network
(toycoin.pow.PowRules), the same function a full node's ledger uses: on the
network of chapters 03-08 (NO_POW) every header must carry params.BLOCK_BITS,
so none can claim more work than another, and nothing else is checked; on a
proof-of-work network (chapter 09 on) each header must carry the bits the
difficulty rule asks for and a hash below that target, so work cannot be faked.
Simplifications compared with Bitcoin: no timestamp rules; side branches are
bounded by count, where Bitcoin Core asks for a minimum of chain work first.

Reference: https://developer.bitcoin.org/devguide/operating_modes.html#simplified-payment-verification-spv
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from toycoin import params
from toycoin.block import HEADER_SIZE, BlockHeader
from toycoin.errors import ValidationError
from toycoin.pow import NO_POW, PowRules, block_work, check_header, next_bits


@dataclass(frozen=True)
class _Entry:
    header: BlockHeader
    height: int
    work: int  # total work of the chain ending here


class HeaderChain:
    """Headers from genesis; the best chain is the one with the most work."""

    def __init__(self, genesis: BlockHeader, rules: PowRules = NO_POW,
                 max_side: int = params.MAX_SIDE_HEADERS, now: Callable[[], float] = time.time,
                 pinned: Callable[[bytes], bool] = lambda block_hash: False) -> None:
        """``pinned(hash)``: a header never forgotten to bound the side branches (a node pins
        the blocks it holds, which become side headers while it fetches a heavier branch)."""
        self.rules, self.max_side, self.now, self.pinned = rules, max_side, now, pinned
        self.genesis_hash = genesis.hash
        self._entries = {genesis.hash: _Entry(genesis, 0, block_work(genesis.bits))}
        self._children: dict[bytes, list[bytes]] = {}  # hash -> hashes of the headers built on it
        self._best: list[bytes] = [genesis.hash]  # hashes of the best chain, by height
        self._invalid: set[bytes] = set()  # headers whose block broke a rule, and their descendants
        self._forks: dict[bytes, int] = {}  # fork_height's answers, kept until the best chain changes

    def __repr__(self) -> str:
        return f"HeaderChain(height {self.height}, tip {self.tip.hash_hex[:12]}…)"

    @property
    def height(self) -> int:
        return len(self._best) - 1

    @property
    def tip(self) -> BlockHeader:
        return self._entries[self._best[-1]].header

    @property
    def work(self) -> int:
        return self._entries[self._best[-1]].work

    @property
    def size_bytes(self) -> int:
        """What the best chain's headers take: 80 bytes a block."""
        return HEADER_SIZE * len(self._best)

    def header_at(self, height: int) -> BlockHeader:
        if not 0 <= height <= self.height:
            raise IndexError(f"no header at height {height}; the tip is at {self.height}")
        return self._entries[self._best[height]].header

    def height_of(self, block_hash: bytes) -> int | None:
        """The height of ``block_hash`` if it is on the best chain, else None."""
        entry = self._entries.get(block_hash)
        if entry is None or entry.height > self.height or self._best[entry.height] != block_hash:
            return None
        return entry.height

    def add(self, headers: Iterable[BlockHeader]) -> int:
        """Check and store ``headers`` in order; return how many were new.

        ValidationError at the first header that does not link to a header
        already known (the ones before it are kept).
        """
        new = 0
        for header in headers:
            if header.hash in self._entries:
                continue
            parent = self._check(header)
            if header.prev_block_hash in self._invalid:
                raise ValidationError(f"header {header.hash_hex[:12]}… builds on a block known to be invalid")
            entry = _Entry(header, parent.height + 1, parent.work + block_work(header.bits))
            self._entries[header.hash] = entry
            self._children.setdefault(header.prev_block_hash, []).append(header.hash)
            new += 1
            if entry.work > self.work:
                self._switch_to(header.hash)
        self._bound_side_branches()
        return new

    @property
    def side_count(self) -> int:
        """How many headers it keeps off the best chain."""
        return len(self._entries) - len(self._best)

    def forget(self, block_hash: bytes) -> None:
        """Drop a header and every header built on it (nobody could serve their blocks); the best
        chain becomes the valid one with the most work among the rest. Genesis stays."""
        if block_hash != self.genesis_hash and block_hash in self._entries:
            self._drop(block_hash)
            self._reselect()

    def _drop(self, block_hash: bytes) -> None:
        parent = self._entries[block_hash].header.prev_block_hash
        self._children[parent].remove(block_hash)
        stack = [block_hash]
        while stack:
            gone = stack.pop()
            del self._entries[gone]
            self._invalid.discard(gone)  # kept no longer than its header
            self._forks.pop(gone, None)
            stack.extend(self._children.pop(gone, []))

    def _reselect(self) -> None:
        """After headers were dropped or found invalid: the valid chain with most work is best
        (the current tip keeps its place on a tie)."""
        valid = [e for h, e in self._entries.items() if h not in self._invalid]
        best = max(valid, key=lambda e: e.work)
        tip = self._entries.get(self._best[-1])
        if tip is not None and self._best[-1] not in self._invalid and tip.work == best.work:
            best = tip
        keep = next((h for h, block_hash in enumerate(self._best) if block_hash not in self._entries
                     or block_hash in self._invalid), len(self._best))
        del self._best[keep:]
        self._forks.clear()
        self._switch_to(best.header.hash)

    def _bound_side_branches(self) -> None:
        """Forget side-branch tips, the least work first, until at most ``max_side`` remain
        (never a pinned one)."""
        if self.side_count <= self.max_side:
            return
        best = set(self._best)
        tips = [(e.work, e.height, h) for h, e in self._entries.items()
                if h not in best and not self._children.get(h) and not self.pinned(h)]
        heapq.heapify(tips)
        while self.side_count > self.max_side and tips:
            _, _, block_hash = heapq.heappop(tips)
            parent = self._entries[block_hash].header.prev_block_hash
            self._drop(block_hash)
            if parent not in best and not self._children.get(parent) and not self.pinned(parent):
                entry = self._entries[parent]
                heapq.heappush(tips, (entry.work, entry.height, parent))

    def _check(self, header: BlockHeader) -> _Entry:
        parent = self._entries.get(header.prev_block_hash)
        if parent is None:
            raise ValidationError(f"header {header.hash_hex[:12]}… does not link: its prev_block_hash "
                                  f"{header.prev_block_hash[::-1].hex()[:12]}… is no header I have")
        check_header(self.rules, header, next_bits(self.rules, parent.height + 1, self._branch(parent)))
        check_timestamp(header, self._timestamps(parent), self.now())
        return parent

    def _timestamps(self, entry: _Entry) -> list[int]:
        """The timestamps of ``entry`` and the headers before it, MEDIAN_TIME_SPAN at most, oldest
        first (one walk down its branch)."""
        stamps = [entry.header.timestamp]
        while len(stamps) < params.MEDIAN_TIME_SPAN and entry.height > 0:
            entry = self._entries[entry.header.prev_block_hash]
            stamps.append(entry.header.timestamp)
        return stamps[::-1]

    def _branch(self, tip: _Entry) -> Callable[[int], BlockHeader]:
        """The headers of the branch that ends at ``tip``, by height (for the difficulty rule)."""
        def header_at(height: int) -> BlockHeader:
            entry = tip
            while entry.height > height:
                entry = self._entries[entry.header.prev_block_hash]
            return entry.header

        return header_at

    def _switch_to(self, tip_hash: bytes) -> None:
        """Make the chain ending at ``tip_hash`` the best one (a reorganisation if it forks)."""
        branch, block_hash = [], tip_hash
        while True:
            entry = self._entries[block_hash]
            if entry.height < len(self._best) and self._best[entry.height] == block_hash:
                break
            branch.append(block_hash)
            block_hash = entry.header.prev_block_hash
        fork_height = self._entries[block_hash].height
        if fork_height + 1 < len(self._best):  # a reorganisation: branches meet the best chain elsewhere
            self._forks.clear()
        self._best[fork_height + 1:] = reversed(branch)

    def hash_at(self, height: int) -> bytes:
        """The hash of the best chain's header at ``height``."""
        return self._best[height]

    def __contains__(self, block_hash: object) -> bool:
        return block_hash in self._entries

    def work_of(self, block_hash: bytes) -> int:
        """The total work of the chain (best or not) that ends at ``block_hash``."""
        return self._entries[block_hash].work

    def entry_height(self, block_hash: bytes) -> int:
        """The height of a known header, on whichever branch it is."""
        return self._entries[block_hash].height

    def fork_height(self, block_hash: bytes) -> int:
        """The height at which the branch that ends at ``block_hash`` meets the best chain (its
        own height if it is on it): a walk down the side branch only, at most ``max_side`` steps,
        once until the best chain changes below its tip (block sync asks it for every pending
        block and every peer). The answers kept are at most MAX_CONNECTIONS."""
        height = self._forks.get(block_hash)
        if height is not None:
            return height
        entry = self._entries[block_hash]
        while not (entry.height < len(self._best) and self._best[entry.height] == entry.header.hash):
            entry = self._entries[entry.header.prev_block_hash]
        if len(self._forks) >= params.MAX_CONNECTIONS:
            self._forks.clear()
        self._forks[block_hash] = entry.height
        return entry.height

    def ancestor(self, block_hash: bytes, height: int) -> bytes:
        """The hash at ``height`` on the branch that ends at ``block_hash``."""
        return self._branch(self._entries[block_hash])(height).hash

    def invalidate(self, block_hash: bytes) -> None:
        """A block broke a rule: drop it and every header built on it from the best chain
        candidates, and make the valid branch with the most work best (Core: InvalidateBlock)."""
        self._invalid.add(block_hash)
        stack = list(self._children.get(block_hash, []))
        while stack:
            descendant = stack.pop()
            self._invalid.add(descendant)
            stack.extend(self._children.get(descendant, []))
        self._reselect()

    def is_invalid(self, block_hash: bytes) -> bool:
        return block_hash in self._invalid

    def locator(self) -> list[bytes]:
        """The block locator of the best chain (see block_locator), to put in getheaders."""
        return list(block_locator(self))


class Chain(Protocol):
    """A chain by height: a HeaderChain, or a node's toycoin.ledger.Ledger."""

    @property
    def height(self) -> int: ...

    def hash_at(self, height: int) -> bytes: ...


class IndexedChain(Chain, Protocol):
    """A chain that can also find a block's height and give its header."""

    def height_of(self, block_hash: bytes) -> int | None: ...

    def header_at(self, height: int) -> BlockHeader: ...


def check_timestamp(header: BlockHeader, past: Sequence[int], now: float) -> None:
    """Bitcoin's two time rules: later than the median of the ``past`` timestamps (the last
    MEDIAN_TIME_SPAN blocks, newest last), and not more than MAX_FUTURE_BLOCK_TIME ahead of ``now``."""
    median = sorted(past[-params.MEDIAN_TIME_SPAN:])[len(past[-params.MEDIAN_TIME_SPAN:]) // 2]
    if header.timestamp <= median:
        raise ValidationError(f"header {header.hash_hex[:12]}… has timestamp {header.timestamp}, not later "
                              f"than the median of the last {params.MEDIAN_TIME_SPAN} blocks ({median})")
    if header.timestamp > now + params.MAX_FUTURE_BLOCK_TIME:
        raise ValidationError(f"header {header.hash_hex[:12]}… has timestamp {header.timestamp}, more than "
                              f"{params.MAX_FUTURE_BLOCK_TIME // 3600} hours ahead of this node's clock")


def block_locator(chain: Chain) -> tuple[bytes, ...]:
    """The chain's hashes, newest first: eleven in a row, then doubling steps, then genesis.

    About log2(height) hashes, enough for the other side to find the last
    block both chains share. The rule is Bitcoin Core's (CChain::GetLocator):
    step 1; after each hash, go down by the step (never below genesis), and
    once more than ten hashes are in, double the step. For tip 40 that is
    40 ... 29, 27, 23, 15, 0.
    """
    hashes, height, step = [], chain.height, 1
    while True:
        hashes.append(chain.hash_at(height))
        if height == 0:
            break
        height = max(height - step, 0)
        if len(hashes) > 10:
            step *= 2
    return tuple(hashes[: params.MAX_LOCATOR_SZ])


def fork_point(chain: IndexedChain, locator: Sequence[bytes]) -> int:
    """The height of the first locator hash that ``chain`` holds: the last block both sides share.

    0 (genesis) if none is known, as in Bitcoin Core (FindForkInGlobalIndex).
    """
    return next((h for h in map(chain.height_of, locator) if h is not None), 0)


def headers_after(chain: IndexedChain, locator: Sequence[bytes], stop_hash: bytes = bytes(32),
                  limit: int = params.MAX_HEADERS_RESULTS) -> list[BlockHeader]:
    """What a full node answers to getheaders: the headers of ``chain`` after the fork point.

    At most ``limit`` headers; the answer ends early at ``stop_hash``. Works on
    a HeaderChain and on a ledger alike.
    """
    start = fork_point(chain, locator) + 1
    answer = []
    for height in range(start, min(chain.height, start + limit - 1) + 1):
        answer.append(chain.header_at(height))
        if answer[-1].hash == stop_hash:
            break
    return answer
