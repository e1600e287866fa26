"""What a wallet's question costs a node with a large UTXO set: looked up by key, and walked.

Every ``getutxos`` a peer sends, and every balance a panel draws, asks for
the coins of one address. The UTXO set used to answer it by walking every
unspent output; toycoin.utxoset keeps them by key hash too, so the answer
costs what that address holds. The script restores a ledger with 200,000
unspent outputs spread over 2,000 addresses, asks for the balance of 200 of
them both ways (the walk as the ledger made it before), checks the answers
agree, and prints the ratio. It also times a wallet's ``getutxos`` over
loopback to a node holding that ledger.

    python benchmarks/bench_balance.py [--outputs 200000]
"""

from __future__ import annotations

import argparse
import random
import time

from toycoin.client import WalletClient
from toycoin.keys import PrivateKey, make_address
from toycoin.ledger import Ledger
from toycoin.node import Node, course_genesis
from toycoin.tx import OutPoint, TxOut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=int, default=200_000, help="unspent outputs in the set")
    args = parser.parse_args()

    rng = random.Random("bench_balance")
    addresses = [make_address(rng.randbytes(20)) for _ in range(2_000)]
    genesis = course_genesis()
    utxos = dict(Ledger(genesis).utxos)
    for i in range(args.outputs):
        utxos[OutPoint(rng.randbytes(32), i % 3)] = TxOut(rng.randrange(1, 50), rng.choice(addresses))
    ledger = Ledger.restore([genesis], [[]], utxos)
    asked = addresses[:200]

    def walked(address: str) -> int:  # the ledger's answer before the index: every output looked at
        return sum(out.amount for _, out in ledger._utxos.items() if out.address == address)

    walked(asked[0])  # every output's address text made once, as a first walk did
    start = time.perf_counter()
    slow = [walked(a) for a in asked]
    walk_s = time.perf_counter() - start
    start = time.perf_counter()
    fast = [ledger.balance(a) for a in asked]
    index_s = time.perf_counter() - start
    assert fast == slow, "the index and the walk disagree"
    print(f"{len(utxos):,} unspent outputs, {len(asked)} balances asked")
    print(f"  walked:        {walk_s * 1000 / len(asked):8.3f} ms a balance")
    print(f"  looked up:     {index_s * 1000 / len(asked):8.3f} ms a balance")
    print(f"  ratio:         {walk_s / index_s:,.0f}x")

    node = Node("N", genesis=genesis)
    node.ledger = ledger
    node.start()
    try:
        wallet = WalletClient(PrivateKey.from_seed("bench"), node.address, node.runtime)
        wallet.balance()  # connected once
        start = time.perf_counter()
        for _ in range(50):
            wallet.balance()
        print(f"  a wallet's getutxos over loopback: {(time.perf_counter() - start) * 1000 / 50:.2f} ms")
    finally:
        node.stop()


if __name__ == "__main__":
    main()
