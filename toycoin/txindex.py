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
never needs to be told how the ledger changed. It keeps the Merkle trees of
the last TREES_KEPT blocks it proved something in, so a proof asked again
costs a lookup rather than hashing the block's whole tree.
"""

from __future__ import annotations

from collections import OrderedDict

from toycoin.block import Block
from toycoin.ledger import Ledger
from toycoin.merkle import MerkleProof, merkle_levels, proof_from_levels
from toycoin.tx import Tx

# The Merkle trees of this many blocks are kept, the most recently asked: light wallets ask about
# recent payments, and a peer asking again and again about one block costs lookups, not hashing.
TREES_KEPT = 8


class TxIndex:
    """txid -> (height, position) for every transaction in one ledger's chain."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._where: dict[bytes, tuple[int, int]] = {}
        self._hashes: list[bytes] = []  # hashes of the indexed blocks, by height
        self._trees: OrderedDict[bytes, list[list[bytes]]] = OrderedDict()  # block hash -> levels

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
        return block, height, proof_from_levels(self._tree(block), position), block.txs[position]

    def _tree(self, block: Block) -> list[list[bytes]]:
        levels = self._trees.pop(block.hash, None)
        if levels is None:
            levels = merkle_levels([tx.txid for tx in block.txs])
        self._trees[block.hash] = levels  # the most recently asked last
        if len(self._trees) > TREES_KEPT:
            self._trees.popitem(last=False)
        return levels

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
