"""Signature cache: the signatures a node has already found valid, so it checks each once.

A payment is checked twice on its way into the ledger: when it enters the
mempool, and again when the block that holds it arrives. The second check
would find exactly what the first found: the same signature of the same
digest under the same key. So a node remembers each signature it has checked
and found valid, and the ledger skips the check when the block comes.

    SigCache(max_entries)
      SigCache.key(digest, public_key, signature)   32 bytes naming one check
      key in cache, cache.add(key), cache.discard(key), len(cache)

What is remembered is a SHA-256 of the digest, the public key and the
signature: 32 bytes a check, whatever their size, and only checks that
passed (a bad signature is refused at once, so it is never asked twice).
The cache is bounded: beyond ``max_entries`` the oldest entry is forgotten,
which costs at most one more check later. Each node has its own, as each
Bitcoin node is its own computer: a cache shared between nodes would let one
node's check vouch for another's.

Bitcoin Core's ``CSignatureCache`` (sigcache.cpp) does the same: filled when
a transaction enters the mempool, consulted when a block is connected
(``CachingTransactionSignatureChecker``), bounded by -maxsigcachesize (32
MiB). Core salts the hash with a random nonce per node, so nobody can aim
at the buckets of its hash table; a Python dict of SHA-256 outputs needs no
salt. toycoin forgets an entry once its block is applied (Core keeps it until
evicted), since that payment is not checked again.

Reference: https://github.com/bitcoin/bitcoin/blob/master/src/script/sigcache.h
"""

from __future__ import annotations

from toycoin import params
from toycoin.encoding import sha256


class SigCache:
    """Keys of signature checks that passed, oldest first (state inside one node only)."""

    def __init__(self, max_entries: int = params.MAX_SIGNATURE_CACHE) -> None:
        if max_entries < 1:
            raise ValueError("a signature cache holds at least one entry")
        self.max_entries = max_entries
        self._keys: dict[bytes, None] = {}  # a dict keeps insertion order: the oldest first

    def __repr__(self) -> str:
        return f"SigCache({len(self)} of {self.max_entries} entries)"

    @staticmethod
    def key(digest: bytes, public_key: bytes, signature: bytes) -> bytes:
        """The 32 bytes that name one check: this signature of this digest under this key."""
        return sha256(digest + public_key + signature)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: bytes) -> None:
        """Remember a check that passed; the oldest is forgotten when the cache is full."""
        if key in self._keys:
            return
        if len(self._keys) >= self.max_entries:
            del self._keys[next(iter(self._keys))]
        self._keys[key] = None

    def discard(self, key: bytes) -> None:
        """Forget a check (no error if it was not remembered)."""
        self._keys.pop(key, None)
