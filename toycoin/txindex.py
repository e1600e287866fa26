"""Transaction index: which block of a ledger holds a transaction, and the proof of it.

A light wallet asks a full node "prove that this transaction is in a block".
The node must find the block first; scanning the whole chain for every
question would make each answer slower as the chain grows, so the node keeps
an index from txid to block height, the way Bitcoin Core's optional
``-txindex`` does (index/txindex.cpp).

    TxIndex(ledger)
      .find(txid)    (height, block, position in the block), or None
      .prove(txid)   (block, height, MerkleProof, tx), or None

The index catches up with the ledger lazily, on each question: new blocks are
added, and if a block it had indexed was undone (a later chapter's
reorganisations), it starts again from the first height that changed. So it
never needs to be told how the ledger changed.
"""

from __future__ import annotations

from toycoin.block import Block
from toycoin.ledger import Ledger
from toycoin.merkle import MerkleProof, make_proof
from toycoin.tx import Tx


class TxIndex:
    """txid -> (height, position) for every transaction in one ledger's chain."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._where: dict[bytes, tuple[int, int]] = {}
        self._hashes: list[bytes] = []  # hashes of the indexed blocks, by height

    def find(self, txid: bytes) -> tuple[int, Block, int] | None:
        """(height, block, position) of the transaction ``txid`` on the chain, or None."""
        self._catch_up()
        where = self._where.get(txid)
        if where is None:
            return None
        height, position = where
        return height, self.ledger.block_at(height), position

    def prove(self, txid: bytes) -> tuple[Block, int, MerkleProof, Tx] | None:
        """The block holding ``txid``, its height, the Merkle proof and the transaction."""
        found = self.find(txid)
        if found is None:
            return None
        height, block, position = found
        proof = make_proof([tx.txid for tx in block.txs], position)
        return block, height, proof, block.txs[position]

    def _catch_up(self) -> None:
        # Drop what was undone: heights whose block is no longer the ledger's. Blocks
        # name their parents, so if the last indexed block is still there, all are.
        keep = len(self._hashes)
        while keep and not (keep - 1 <= self.ledger.height
                            and self.ledger.block_at(keep - 1).hash == self._hashes[keep - 1]):
            keep -= 1
        if keep < len(self._hashes):
            self._where = {t: w for t, w in self._where.items() if w[0] < keep}
            del self._hashes[keep:]
        for height in range(len(self._hashes), self.ledger.height + 1):
            block = self.ledger.block_at(height)
            for position, tx in enumerate(block.txs):
                self._where.setdefault(tx.txid, (height, position))
            self._hashes.append(block.hash)
