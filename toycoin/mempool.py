"""Mempool: payments a node has accepted and that no block holds yet.

When Alice pays Bob through a node that does not seal the block itself, the
payment has to wait somewhere: in the node's memory pool. Every node keeps
one; gossip (toycoin.relay) fills all of them with the same payments, and
whichever node seals the next block takes its transactions from there.

    Mempool(max_size)
      .add(tx, ledger)         the fee, or ValidationError naming the broken rule
      .txs_for_block()         the oldest transactions that fit in one block
      .remove_for_block(block) drop what the block holds, and what now conflicts with it
      .txs(), .get(txid), txid in pool, len(pool), .spender_of(outpoint)

A transaction enters only if it follows the relay policy (check_policy: no dust
outputs, not too large), the ledger says it is valid now, no transaction
already in the pool spends one of the same outputs (a conflicting spend,
refused with the txid it conflicts with), and the pool is not full.

Simplifications compared with Bitcoin: a transaction may only spend outputs
that are already in a block (Bitcoin Core also accepts chains of unconfirmed
transactions, up to 25 deep); no fee rate ordering, eviction or replacement
(BIP125): a full pool refuses newcomers; the pool lives in memory only
(Bitcoin Core saves mempool.dat on shutdown).

Reference: https://developer.bitcoin.org/devguide/p2p_network.html#memory-pool
"""

from __future__ import annotations

from toycoin import params
from toycoin.block import Block
from toycoin.errors import ValidationError
from toycoin.ledger import Ledger
from toycoin.tx import OutPoint, Tx


BLOCK_OVERHEAD = 1_000  # header, transaction count and coinbase, with room to spare


def check_policy(tx: Tx) -> None:
    """Relay policy (Bitcoin Core: IsStandardTx): no dust outputs, no oversized transactions; a block
    may still hold such a transaction, but a node does not pass it on or seal it from its pool."""
    size = len(tx.serialize())
    if size > params.MAX_STANDARD_TX_SIZE:
        raise ValidationError(f"transaction of {size:,} bytes is larger than the relay limit of "
                              f"{params.MAX_STANDARD_TX_SIZE:,}")
    for n, out in enumerate(tx.outputs):
        if out.amount < params.DUST_AMOUNT:
            raise ValidationError(f"output {n} is dust: {out.amount} coins, below {params.DUST_AMOUNT}")


class Mempool:
    """Accepted, not yet sealed transactions, in the order they arrived."""

    def __init__(self, max_size: int = params.MAX_MEMPOOL_TXS) -> None:
        self.max_size = max_size
        self._txs: dict[bytes, Tx] = {}  # txid -> tx; dicts keep arrival order
        self._spenders: dict[OutPoint, bytes] = {}  # outpoint -> txid of the pool tx spending it

    def __repr__(self) -> str:
        return f"Mempool({len(self)} transaction{'' if len(self) == 1 else 's'})"

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, txid: object) -> bool:
        return txid in self._txs

    def get(self, txid: bytes) -> Tx | None:
        return self._txs.get(txid)

    def txs(self) -> list[Tx]:
        """The pool's transactions, oldest first (the order a sealer puts them in a block)."""
        return list(self._txs.values())

    def txs_for_block(self, room: int | None = None) -> list[Tx]:
        """The oldest transactions that fit in ``room`` bytes together (by default a block's, less
        its header and coinbase): what the next block takes. A pool transaction spends only
        outputs already in blocks, so any of them may be left out."""
        room = params.MAX_BLOCK_SIZE - BLOCK_OVERHEAD if room is None else room
        chosen, used = [], 0
        for tx in self._txs.values():
            size = len(tx.serialize())
            if used + size <= room:
                chosen.append(tx)
                used += size
        return chosen

    def spender_of(self, outpoint: OutPoint) -> bytes | None:
        """The txid of the pool transaction that spends ``outpoint``, if any."""
        return self._spenders.get(outpoint)

    def add(self, tx: Tx, ledger: Ledger) -> int:
        """Accept ``tx`` and return its fee; ValidationError if it may not enter."""
        if tx.txid in self._txs:
            raise ValidationError("transaction is already in the mempool")
        check_policy(tx)
        for i, txin in enumerate(tx.inputs):
            other = self._spenders.get(txin.outpoint)
            if other is not None:
                raise ValidationError(f"input {i} spends an output that mempool transaction "
                                      f"{other[::-1].hex()[:16]} already spends (a conflicting spend)")
        fee = ledger.validate_tx(tx)
        if len(self._txs) >= self.max_size:
            raise ValidationError(f"the mempool is full ({self.max_size} transactions)")
        self._txs[tx.txid] = tx
        self._spenders.update((txin.outpoint, tx.txid) for txin in tx.inputs)
        return fee

    def remove(self, txid: bytes) -> Tx | None:
        tx = self._txs.pop(txid, None)
        if tx is not None:
            for txin in tx.inputs:
                self._spenders.pop(txin.outpoint, None)
        return tx

    def remove_for_block(self, block: Block) -> list[Tx]:
        """Drop the block's transactions and the pool's spends that now conflict; return all dropped."""
        dropped = []
        for tx in block.txs:
            if self.remove(tx.txid) is not None:
                dropped.append(tx)
            for txin in tx.inputs:
                conflict = self._spenders.get(txin.outpoint)
                if conflict is not None and (removed := self.remove(conflict)) is not None:
                    dropped.append(removed)
        return dropped
