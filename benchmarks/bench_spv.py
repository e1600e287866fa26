"""What does a light wallet save? Bytes and time to sync a chain, light against full.

Builds a chain of N blocks, each with a payment (and every tenth with ten),
gives it to full node A, then measures, in one run, over real TCP on 127.0.0.1:

    light   a LightClient syncs the N headers from A and checks one Merkle proof
    full    a fresh full node (with Relay and BlockSync, chapter 07) syncs the same chain from A:
            the headers first, then every block, validating each

Bytes are what went over the wire for the chain: the frames of the headers
messages for the light wallet (plus the proof it checked), the frames of the
headers and block messages for the full node, computed from the very
messages exchanged (toycoin.wire.encode_frame). The figures are ratios from
one run, so a busy machine moves the times a little, not the byte counts.

    python benchmarks/bench_spv.py --n 500
"""

from __future__ import annotations

import argparse
import time

from toycoin import params
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.node import Node, course_genesis
from toycoin.spv import LightClient
from toycoin.txindex import TxIndex
from toycoin.wallet import Wallet
from toycoin.msg_data import BlockMessage, GetHeaders, Headers
from toycoin.msg_wallet import Proof
from toycoin.wire import encode_frame
from toycoin.relay import Relay
from toycoin.sync import BlockSync

T0 = 1_300_000_000


def build_chain(n: int) -> Ledger:
    """N blocks; Alice and Bob pay each other back and forth, ten payments in every tenth block."""
    ledger = Ledger(course_genesis())
    keys = [PrivateKey.from_seed("alice"), PrivateKey.from_seed("bob")]
    miner = PrivateKey.from_seed("miner").address
    for height in range(1, n + 1):
        txs = []
        for i in range(10 if height % 10 == 0 else 1):
            payer, payee = keys[(height + i) % 2], keys[(height + i + 1) % 2]
            coins = [c for c in ledger.unspent_for(payer.address)
                     if all(c[0] not in {t.outpoint for t in tx.inputs} for tx in txs)]
            if coins:
                txs.append(Wallet(payer).make_payment(coins[:1], payee.address, 1))
        ledger.seal_block(txs, miner, T0 + 600 * height)
    return ledger


def header_frames(ledger: Ledger) -> int:
    chain = [block.header for block in ledger.blocks]
    size = 0
    for start in range(1, len(chain), params.MAX_HEADERS_RESULTS):
        size += len(encode_frame(Headers(tuple(chain[start:start + params.MAX_HEADERS_RESULTS]))))
    return size + len(encode_frame(Headers(()))) + len(encode_frame(GetHeaders((bytes(32),))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="blocks in the chain (default 500)")
    args = parser.parse_args()
    ledger = build_chain(args.n)
    source = Node("A", services=[Relay, BlockSync])
    for block in ledger.blocks[1:]:
        source.accept_block(block)
    source.start()
    alice = PrivateKey.from_seed("alice")
    txid = ledger.block_at(args.n // 2).txs[1].txid
    try:
        started = time.perf_counter()
        light = LightClient(alice, [source.address], name="alice", discover=False)
        light.start()
        light.prove(txid[::-1].hex())
        light_time = time.perf_counter() - started
        light.stop()
        block, height, proof, tx = TxIndex(ledger).prove(txid)
        light_bytes = header_frames(ledger) + len(encode_frame(Proof(block.hash, height, proof, tx)))

        started = time.perf_counter()
        full = Node("F", services=[Relay, BlockSync])
        full.start()
        full.connect(source)
        full.wait_until(lambda: full.ledger.height == args.n, timeout=600, what="F has the whole chain")
        full_time = time.perf_counter() - started
        full.kill()
        blocks = sum(len(encode_frame(BlockMessage(b))) for b in ledger.blocks[1:])
        full_bytes = header_frames(ledger) + blocks
    finally:
        source.kill()

    print(f"chain: {args.n} blocks, {sum(len(b.txs) for b in ledger.blocks)} transactions")
    print(f"light wallet: {light_bytes:>10,} bytes  {light_time:7.3f} s  (headers + one proof)")
    print(f"full node:    {full_bytes:>10,} bytes  {full_time:7.3f} s  (headers + every block, validated)")
    print(f"full / light: {full_bytes / light_bytes:10.1f}x bytes  {full_time / light_time:6.1f}x time")
    print(f"per block:    {light_bytes / args.n:10.1f} bytes light, {full_bytes / args.n:.1f} bytes full")


if __name__ == "__main__":
    main()
