"""What a light wallet's ``getproof`` costs a node: the Merkle tree hashed each time, or kept.

A node answers a proof by building the block's Merkle tree and reading the
path off it. It used to hash the whole tree for every question, so a peer
asking about a transaction of a large block, again and again, cost the node
a tree's worth of hashing each time; toycoin.txindex now keeps the trees of
the last few blocks it proved something in (TREES_KEPT). The script times
proofs for every transaction of a block of 6,000 both ways in one run (the
proofs must be equal) and prints the ratio.

    python benchmarks/bench_proof.py [--txs 6000]
"""

from __future__ import annotations

import argparse
import time

from toycoin.encoding import sha256d
from toycoin.merkle import make_proof, merkle_levels, proof_from_levels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=6000, help="transactions in the block")
    parser.add_argument("--asked", type=int, default=300, help="proofs asked (spread over the block)")
    args = parser.parse_args()

    txids = [sha256d(i.to_bytes(4, "little")) for i in range(args.txs)]
    asked = [i * args.txs // args.asked for i in range(args.asked)]
    start = time.perf_counter()
    hashed = [make_proof(txids, i) for i in asked]
    hashed_s = time.perf_counter() - start
    start = time.perf_counter()
    levels = merkle_levels(txids)  # once, on the first question about the block
    kept = [proof_from_levels(levels, i) for i in asked]
    kept_s = time.perf_counter() - start
    assert kept == hashed, "the proofs differ"
    print(f"a block of {args.txs:,} transactions, {args.asked} proofs asked")
    print(f"  tree hashed for each proof: {hashed_s * 1000 / args.asked:8.3f} ms a proof")
    print(f"  tree kept (built once):     {kept_s * 1000 / args.asked:8.3f} ms a proof")
    print(f"  ratio: {hashed_s / kept_s:,.0f}x")


if __name__ == "__main__":
    main()
