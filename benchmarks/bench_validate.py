"""How much does a ledger add on top of the signature checks it must do?

Checking a payment is mostly one ECDSA verification per input; everything
else (looking up the spent output, hashing the signature digest, checking
amounts and the key's address) should cost little beside it. This script
builds N signed one-input payments, then times, in the same run and for each
signature library toycoin can verify with (keys.VERIFIER: python-ecdsa, and
libsecp256k1 when coincurve is installed):

    bare verify     N calls of PublicKey.verify with that library alone, on
                    already-parsed keys and already-computed digests (the floor)
    validate_tx     Ledger.validate_tx on each payment, with that library
    apply_block     Ledger.apply_block on one block holding all N payments
                    (adds the merkle root and updating the UTXO set)

and prints each time with two ratios: to the bare verify of the same library
(what the ledger adds around its checks), and to bare python-ecdsa (what a
node gains from the faster library). The ledgers have no signature cache, so
every signature is checked. Each figure is the best of --repeat runs, taken
in turn, so a busy machine disturbs them all alike.

    python benchmarks/bench_validate.py --n 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import time

from toycoin import keys, secp
from toycoin.block import Block, make_block, make_genesis
from toycoin.keys import LIBSECP256K1, PYTHON_ECDSA, PrivateKey, PublicKey
from toycoin.ledger import Ledger
from toycoin.params import BLOCK_REWARD
from toycoin.tx import OutPoint, Tx, TxIn, TxOut, make_coinbase
from toycoin.wallet import Wallet

T0 = 1_700_000_000


def build(n: int, key_count: int) -> tuple[Block, Block, list[Tx], list[Wallet]]:
    """The genesis block, a block that fans Alice's coins out to ``key_count``
    wallets, and N payments, each spending one of those coins."""
    alice = Wallet(PrivateKey.from_seed("alice"))
    wallets = [Wallet(PrivateKey.from_seed(f"payer {k}")) for k in range(key_count)]
    genesis = make_genesis(alice.address, n, T0)
    ledger = Ledger(genesis)
    coins = ledger.unspent_for(alice.address)
    fan_out = alice.sign(Tx([TxIn(op) for op, _ in coins],
                            [TxOut(1, wallets[i % key_count].address) for i in range(n)]),
                         [out for _, out in coins])
    funding = ledger.seal_block([fan_out], alice.address, T0 + 1)
    payee = PrivateKey.from_seed("payee").address
    payments = []
    for i, out in enumerate(fan_out.outputs):
        wallet = wallets[i % key_count]
        unsigned = Tx([TxIn(OutPoint(fan_out.txid, i))], [TxOut(1, payee)])
        payments.append(wallet.sign(unsigned, [out]))
    return genesis, funding, payments, wallets


def reparsed(payments: list[Tx]) -> list[Tx]:
    return [Tx.parse(tx.serialize()) for tx in payments]


def fresh_ledger(genesis: Block, funding: Block) -> Ledger:
    ledger = Ledger(genesis)
    ledger.apply_block(funding)
    return ledger


def time_bare_verify(verifier: str, payments: list[Tx], spent: list[TxOut]) -> float:
    """N calls of PublicKey.verify with ``verifier`` alone: keys parsed and digests computed beforehand."""
    keys.VERIFIER = verifier
    parsed: dict[bytes, PublicKey] = {}
    work = []
    for tx, out in zip(payments, spent, strict=True):
        sec = tx.inputs[0].public_key
        if sec not in parsed:
            parsed[sec] = PublicKey(sec)
        work.append((parsed[sec], tx.inputs[0].signature, tx.sighash(0, out)))
    start = time.perf_counter()
    for key, signature, digest in work:
        if not key.verify(digest, signature):
            raise AssertionError("bare verification failed")
    return time.perf_counter() - start


def time_validate_tx(ledger: Ledger, payments: list[Tx]) -> float:
    start = time.perf_counter()
    for tx in payments:
        ledger.validate_tx(tx)
    return time.perf_counter() - start


def time_apply_block(ledger: Ledger, payments: list[Tx], miner: str) -> float:
    # Parsed from bytes, as a block from a peer would be: no txid is cached yet.
    block = Block.parse(ledger_block(ledger, payments, miner).serialize())
    start = time.perf_counter()
    ledger.apply_block(block)
    return time.perf_counter() - start


def ledger_block(ledger: Ledger, payments: list[Tx], miner: str) -> Block:
    coinbase = make_coinbase(ledger.height + 1, miner, BLOCK_REWARD)
    return make_block(ledger.tip_hash, [coinbase, *payments], T0 + 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of payments (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    parser.add_argument("--keys", type=int, default=50, help="distinct payer keys (default 50)")
    args = parser.parse_args()

    print(f"building {args.n} signed payments from {args.keys} keys ...")
    genesis, funding, payments, _ = build(args.n, args.keys)
    spent = [funding.txs[1].outputs[i] for i in range(args.n)]

    miner = genesis.txs[0].outputs[0].address
    verifiers = [PYTHON_ECDSA, LIBSECP256K1] if secp.INSTALLED else [PYTHON_ECDSA]
    best = {(v, what): float("inf") for v in verifiers for what in ("bare", "validate", "apply")}
    for _ in range(args.repeat):
        for v in verifiers:
            # Parsed afresh each time, so no txid or digest is cached from a previous run.
            bare = time_bare_verify(v, reparsed(payments), spent)  # sets keys.VERIFIER to v
            validate = time_validate_tx(fresh_ledger(genesis, funding), reparsed(payments))
            apply = time_apply_block(fresh_ledger(genesis, funding), reparsed(payments), miner)
            for what, seconds in (("bare", bare), ("validate", validate), ("apply", apply)):
                best[v, what] = min(best[v, what], seconds)

    floor = best[PYTHON_ECDSA, "bare"]
    for v in verifiers:
        bare = best[v, "bare"]
        print(f"{v}:")
        print(f"  bare verify       : {bare:7.3f} s  ({bare / args.n * 1e6:7.1f} us each)")
        for what, label in (("validate", "Ledger.validate_tx"), ("apply", "Ledger.apply_block")):
            seconds = best[v, what]
            print(f"  {label:18s}: {seconds:7.3f} s  ratio {seconds / bare:6.3f} to bare {v}, "
                  f"{seconds / floor:6.3f} to bare {PYTHON_ECDSA}")
    if not secp.INSTALLED:
        print("libsecp256k1: not installed (pip install coincurve)")


if __name__ == "__main__":
    main()
