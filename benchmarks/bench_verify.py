"""How much faster does libsecp256k1 check a signature than python-ecdsa?

toycoin.keys checks signatures with libsecp256k1 (through the coincurve
package) when it is installed, and with python-ecdsa otherwise; keys.VERIFIER
chooses. This script signs N digests with K keys, then times, in the same run,
N calls of PublicKey.verify with each library:

    python-ecdsa    keys.VERIFIER = "python-ecdsa" (what chapter 01 explains)
    libsecp256k1    keys.VERIFIER = "libsecp256k1" (what Bitcoin Core uses)

Keys are parsed and digests computed beforehand, so only verification is
timed; every signature must verify. It prints each time and the ratio
libsecp256k1 / python-ecdsa. Each is the best of --repeat runs, taken in
turn, so a busy machine disturbs both alike.

    python benchmarks/bench_verify.py --n 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import hashlib
import time

from toycoin import keys, secp
from toycoin.keys import LIBSECP256K1, PYTHON_ECDSA, PrivateKey, PublicKey


def build(n: int, key_count: int) -> list[tuple[bytes, bytes, bytes]]:
    """N (public key, digest, signature) triples, signed by ``key_count`` keys in turn."""
    signers = [PrivateKey.from_seed(f"signer {k}") for k in range(key_count)]
    work = []
    for i in range(n):
        key = signers[i % key_count]
        digest = hashlib.sha256(f"payment {i}".encode()).digest()
        work.append((key.public_key.sec, digest, key.sign(digest)))
    return work


def time_verify(verifier: str, work: list[tuple[bytes, bytes, bytes]]) -> float:
    """Seconds for PublicKey.verify on every triple, with keys parsed by ``verifier`` beforehand."""
    keys.VERIFIER = verifier
    parsed = {sec: PublicKey(sec) for sec, _, _ in work}
    checks = [(parsed[sec], digest, signature) for sec, digest, signature in work]
    start = time.perf_counter()
    for public_key, digest, signature in checks:
        if not public_key.verify(digest, signature):
            raise AssertionError(f"a valid signature failed with {verifier}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of signatures (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    parser.add_argument("--keys", type=int, default=50, help="distinct signing keys (default 50)")
    args = parser.parse_args()

    print(f"signing {args.n} digests with {args.keys} keys ...")
    work = build(args.n, args.keys)
    verifiers = [PYTHON_ECDSA, LIBSECP256K1] if secp.INSTALLED else [PYTHON_ECDSA]
    best = dict.fromkeys(verifiers, float("inf"))
    for _ in range(args.repeat):
        for verifier in verifiers:
            best[verifier] = min(best[verifier], time_verify(verifier, work))

    for verifier, seconds in best.items():
        print(f"{verifier:13s}: {seconds:7.3f} s  ({seconds / args.n * 1e6:7.1f} us each)")
    if not secp.INSTALLED:
        print("libsecp256k1 : not installed (pip install coincurve)")
        return
    print(f"ratio libsecp256k1 / python-ecdsa: {best[LIBSECP256K1] / best[PYTHON_ECDSA]:.4f}"
          f"  ({best[PYTHON_ECDSA] / best[LIBSECP256K1]:.0f} times faster)")


if __name__ == "__main__":
    main()
