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
    block_work(bits)      the work a header with this target represents (GetBlockProof)

The best chain is the one with the most work, summed over its headers
(Bitcoin's rule, not "the longest"); on a tie the one seen first stays. Headers
on other branches are kept, so a branch that later overtakes becomes best.

Simplifications compared with Bitcoin: no proof of work yet, so every header
must carry params.BLOCK_BITS (a header with any other target could claim any
amount of work) and its hash is not checked against the target; the proof of
work chapter adds that check. No timestamp rules, and no cap on side branches.

Reference: https://developer.bitcoin.org/devguide/operating_modes.html#simplified-payment-verification-spv
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from toycoin import params
from toycoin.block import HEADER_SIZE, BlockHeader
from toycoin.errors import ValidationError


def block_work(bits: int) -> int:
    """Expected hashes to find a header under the target ``bits`` encodes: 2**256 // (target + 1)."""
    exponent, mantissa = bits >> 24, bits & 0x007F_FFFF
    target = mantissa << (8 * (exponent - 3)) if exponent >= 3 else mantissa >> (8 * (3 - exponent))
    return 2**256 // (target + 1)


@dataclass(frozen=True)
class _Entry:
    header: BlockHeader
    height: int
    work: int  # total work of the chain ending here


class HeaderChain:
    """Headers from genesis; the best chain is the one with the most work."""

    def __init__(self, genesis: BlockHeader) -> None:
        self.genesis_hash = genesis.hash
        self._entries = {genesis.hash: _Entry(genesis, 0, block_work(genesis.bits))}
        self._best: list[bytes] = [genesis.hash]  # hashes of the best chain, by height

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
            entry = _Entry(header, parent.height + 1, parent.work + block_work(header.bits))
            self._entries[header.hash] = entry
            new += 1
            if entry.work > self.work:
                self._switch_to(header.hash)
        return new

    def _check(self, header: BlockHeader) -> _Entry:
        if header.bits != params.BLOCK_BITS:
            raise ValidationError(f"header {header.hash_hex[:12]}… has target bits {header.bits:#010x}; "
                                  f"until proof of work every header carries {params.BLOCK_BITS:#010x}")
        parent = self._entries.get(header.prev_block_hash)
        if parent is None:
            raise ValidationError(f"header {header.hash_hex[:12]}… does not link: its prev_block_hash "
                                  f"{header.prev_block_hash[::-1].hex()[:12]}… is no header I have")
        return parent

    def _switch_to(self, tip_hash: bytes) -> None:
        """Make the chain ending at ``tip_hash`` the best one (a reorganisation if it forks)."""
        branch, block_hash = [], tip_hash
        while True:
            entry = self._entries[block_hash]
            if entry.height <= self.height and self._best[entry.height] == block_hash:
                break
            branch.append(block_hash)
            block_hash = entry.header.prev_block_hash
        fork_height = self._entries[block_hash].height
        self._best[fork_height + 1:] = reversed(branch)

    def hash_at(self, height: int) -> bytes:
        """The hash of the best chain's header at ``height``."""
        return self._best[height]

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
