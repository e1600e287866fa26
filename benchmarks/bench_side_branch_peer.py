"""Does a peer on a side branch have our pending blocks? The cost of asking, walked and looked up.

Block sync asks, for every block it may fetch and every peer, whether that
peer has the block. For a peer whose best header is on a side branch that
question was answered by walking the branch down from that header, once per
block; now it compares the block's height with where the peer's branch meets
the best chain (toycoin.headers.HeaderChain.fork_height), worked out once
until the best chain changes. The script builds a tree of 10,000 best-chain
headers and a side branch of 4,999 that forks at height 5,000, asks the
question for all 10,000 blocks both ways, checks the answers agree, and
prints the ratio.

    python benchmarks/bench_side_branch_peer.py
"""

from __future__ import annotations

import time

from toycoin import params
from toycoin.block import BlockHeader
from toycoin.node import Node, course_genesis
from toycoin.sync import BlockSync


def chain(length: int, start: BlockHeader, salt: int) -> list[BlockHeader]:
    headers, prev = [], start
    for i in range(length):
        prev = BlockHeader(1, prev.hash, bytes([salt]) * 32, prev.timestamp + 600, params.BLOCK_BITS, i)
        headers.append(prev)
    return headers


def main() -> None:
    sync = Node("victim", services=[BlockSync]).service(BlockSync)
    tree = sync.tree
    best = chain(10_000, course_genesis().header, 1)
    for start in range(0, len(best), params.MAX_HEADERS_RESULTS):
        tree.add(best[start:start + params.MAX_HEADERS_RESULTS])
    side = chain(4_999, best[4_999], 2)  # forks at height 5,000, ends at 9,999: less work
    tree.add(side)
    known = side[-1].hash
    known_height = tree.entry_height(known)

    started = time.perf_counter()
    walked = [known_height >= h and tree.ancestor(known, h) == header.hash
              for h, header in enumerate(best, start=1)]
    walk_time = time.perf_counter() - started

    started = time.perf_counter()
    looked_up = [h <= tree.fork_height(known) for h in range(1, len(best) + 1)]  # walked once, then kept
    lookup_time = time.perf_counter() - started

    assert walked == looked_up, "the two ways disagree"
    print(f"a peer whose best header ends a {len(side):,}-header side branch, asked about "
          f"{len(best):,} pending blocks (it has {sum(walked):,}):")
    print(f"  walking its branch for each block: {walk_time:.3f} s")
    print(f"  where its branch meets the best chain, once: {lookup_time:.4f} s")
    print(f"  ratio: {walk_time / lookup_time:,.0f}x")


if __name__ == "__main__":
    main()
