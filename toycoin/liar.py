"""Liar: a full node that forges its answers to light wallets, to watch them get caught.

Every forgery a light wallet must catch, one per name in FORGERIES. The node
is an ordinary full node in every other way: it keeps a ledger, it serves
balances and headers, it accepts payments. Only the answer it was told to
forge is wrong.

    LyingNode(name, forgery="sibling", ...)     a Node whose getproof/getheaders answers lie
    FORGERIES                                   name -> what that lie does

A forgery either fails the wallet's checks (toycoin.spv.check_proof and
toycoin.merkle.MerkleProof.verify), or breaks the wire format so badly that
the connection refuses the message before anyone looks at it. Both end the
same way: the wallet disconnects the liar and asks another node.

This is a teaching tool, kept out of the core: nothing but tests, benchmarks
and the chapter 06 and 09 notebooks import it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from toycoin.block import BlockHeader
from toycoin.encoding import compact_size, sha256d
from toycoin.headers import headers_after
from toycoin.merkle import MerkleProof, make_proof
from toycoin.node import Node
from toycoin.peer import Connection
from toycoin.msg_data import GetHeaders, Headers
from toycoin.msg_wallet import GetProof, Proof
from toycoin.pow import bits_to_target, hash_value

FORGERIES = {
    "sibling": "one byte of the first sibling hash altered",
    "flipped": "left and right swapped at the lowest level where the hash has a real sibling",
    "index-out-of-range": "an index past the last transaction of the block",
    "index-negative": "index -1 (on the wire, 0xffffffff)",
    "short-hash": "a sibling hash of 31 bytes instead of 32",
    "long-branch": "33 sibling hashes: deeper than any block could need",
    "unknown-block": "a proof against a block the wallet has no header for",
    "unlinked-header": "a header whose prev_block_hash names no block",
    "duplicate-leaf": "the last transaction counted twice (CVE-2012-2459)",
    "free-headers": "five headers on top of its chain that carry the right bits but no proof of work",
}
FREE_HEADERS = 5


class ForgedProof(Proof):
    """A proof message written by hand, so the liar can put anything on the wire."""

    def serialize(self) -> bytes:
        proof = self.proof
        return (self.block_hash + self.height.to_bytes(4, "little")
                + proof.index.to_bytes(4, "little", signed=proof.index < 0)
                + proof.tx_count.to_bytes(4, "little") + compact_size(len(proof.branch))
                + b"".join(proof.branch) + self.tx.serialize())


class LyingNode(Node):
    """A full node that forges one kind of answer, named by ``forgery`` (see FORGERIES)."""

    def __init__(self, name: str = "liar", forgery: str = "sibling", **options: Any) -> None:
        if forgery not in FORGERIES:
            raise ValueError(f"unknown forgery {forgery!r}; choose one of {sorted(FORGERIES)}")
        super().__init__(name, **options)
        self.forgery = forgery

    def on_getheaders(self, conn: Connection, message: GetHeaders) -> None:
        if self.forgery == "free-headers":
            self.record("forged", conn.label, FORGERIES[self.forgery])
            conn.send(Headers((*headers_after(self.ledger, message.locator), *self.free_headers())))
            return
        if self.forgery != "unlinked-header":
            super().on_getheaders(conn, message)
            return
        stray = BlockHeader(1, sha256d(b"no such block"), bytes(32), 0, self.ledger.tip.bits, 0)
        self.record("forged", conn.label, FORGERIES[self.forgery])
        conn.send(Headers((stray,)))

    def on_getproof(self, conn: Connection, message: GetProof) -> None:
        found = self.prove(message.txid)
        if found is None:
            super().on_getproof(conn, message)
            return
        block, height, proof, tx = found
        txids = [t.txid for t in block.txs]
        self.record("forged", conn.label, FORGERIES[self.forgery])
        conn.send(ForgedProof(*forge(self.forgery, block.hash, height, proof, tx, txids)))


    def free_headers(self) -> list[BlockHeader]:
        """FREE_HEADERS headers on this node's tip that cost nothing: on a network without proof of
        work they are as good as any; on a proof-of-work network each hash is above its target."""
        headers, prev, bits = [], self.ledger.tip, self.ledger.next_bits()
        for i in range(FREE_HEADERS):
            header = BlockHeader(1, prev.hash, sha256d(b"free header %d" % i), prev.timestamp + 600, bits, 0)
            while self.ledger.rules.check and hash_value(header) <= bits_to_target(bits):
                header = replace(header, nonce=header.nonce + 1)  # make sure it holds no work at all
            headers.append(header)
            prev = header
        return headers


def forge(forgery: str, block_hash: bytes, height: int, proof: MerkleProof, tx: Any,
          txids: list[bytes]) -> tuple[bytes, int, MerkleProof, Any]:
    """The fields of a Proof message, lied about in the way ``forgery`` names."""
    branch = list(proof.branch)
    if forgery == "sibling" and branch:
        branch[0] = bytes([branch[0][0] ^ 1]) + branch[0][1:]
    elif forgery == "flipped":
        proof = replace(proof, index=proof.index ^ (1 << _first_real_sibling(proof)))
    elif forgery == "index-out-of-range":
        proof = replace(proof, index=proof.tx_count)
    elif forgery == "index-negative":
        proof = replace(proof, index=-1)
    elif forgery == "short-hash" and branch:
        branch[0] = branch[0][:31]
    elif forgery == "long-branch":
        branch = [sha256d(bytes([i])) for i in range(33)]
    elif forgery == "unknown-block":
        block_hash = sha256d(b"a block nobody sealed")
    elif forgery == "duplicate-leaf" and proof.index == len(txids) - 1:
        # [a, b, c] and [a, b, c, c] have the same root: claim c is also at index 3 of 4.
        proof = make_proof([*txids, txids[-1]], len(txids))
        branch = list(proof.branch)
    return block_hash, height, replace(proof, branch=tuple(branch)), tx


def _first_real_sibling(proof: MerkleProof) -> int:
    """The lowest level where the proven hash is not the odd last one, paired with itself."""
    position, width = proof.index, proof.tx_count
    for level in range(len(proof.branch)):
        if not (position == width - 1 and width % 2):
            return level
        position, width = position // 2, (width + 1) // 2
    return 0
