"""Tamper: rewrite an old block, and watch what each block's link to its parent catches.

Every header names its parent by hash (``prev_block_hash``) and commits to its
own transactions (``merkle_root``). Change one amount in an old block and the
change travels up that chain of commitments: the transaction's txid changes,
so the Merkle root no longer matches the header; put the new root in the
header and the block's hash changes, so the next block's ``prev_block_hash``
names a block that is no longer there. Re-sealing every later block (giving
each a header that names the new parent) mends every link, and takes
milliseconds: links show tampering, they cannot prevent it.

    ChainCopy(blocks)                 a chain of blocks that need not be valid; the
                                      reading API of a ledger (height, block_at, hash_at, ...)
    change_amount(chain, height, tx_index, output_index, amount, key=None)
                                      block ``height`` with one output's amount changed (and the
                                      payment signed again with ``key``); its header is left alone
    recommit(block)                   the block under a header whose merkle root matches its txs
    reseal(blocks, start)             every block from ``start`` on under a header naming the
                                      block before it: every link holds again
    merkle_mismatches(chain), broken_links(chain)   the heights where a check fails
    validate_chain(blocks)            apply every block to a fresh ledger, or ValidationError
    TamperingNode(name, services=[Relay, BlockSync], ...)
                                      a full node that serves a tampered copy of its chain
                                      (headers, blocks and proofs) instead of its ledger:
      chain, serve_chain(blocks), announce()

A TamperingNode keeps an honest ledger (no toycoin ledger would hold a
tampered chain); what it serves others is the copy given to ``serve_chain``.
It is a teaching tool, like toycoin.liar: only tests, benchmarks and the
chapter 08 notebook import it.

Reference: https://bitcoin.org/bitcoin.pdf (section 3, the timestamp server)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from toycoin.block import Block, BlockHeader, check_merkle_root
from toycoin.errors import ValidationError
from toycoin.headers import headers_after
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.merkle import make_proof, merkle_root
from toycoin.msg_data import MSG_BLOCK, BlockMessage, GetData, GetHeaders, Headers, InvItem, NotFound
from toycoin.msg_wallet import GetProof, NoProof, Proof
from toycoin.node import Node
from toycoin.peer import Connection
from toycoin.tx import TxOut
from toycoin.wallet import Wallet


class ChainCopy:
    """Blocks by height, genesis first, read like a ledger; nothing is checked."""

    def __init__(self, blocks: Iterable[Block]) -> None:
        self.blocks: tuple[Block, ...] = tuple(blocks)
        if not self.blocks:
            raise ValueError("a chain holds at least its genesis block")
        self._heights: dict[bytes, int] = {}
        for height, block in enumerate(self.blocks):
            self._heights.setdefault(block.hash, height)

    def __repr__(self) -> str:
        return f"ChainCopy(height {self.height}, tip {self.tip.hash_hex[:12]}…)"

    @property
    def height(self) -> int:
        return len(self.blocks) - 1

    @property
    def tip(self) -> BlockHeader:
        return self.blocks[-1].header

    @property
    def tip_hash(self) -> bytes:
        return self.tip.hash

    def block_at(self, height: int) -> Block:
        if not 0 <= height <= self.height:
            raise IndexError(f"no block at height {height}; the tip is at {self.height}")
        return self.blocks[height]

    def header_at(self, height: int) -> BlockHeader:
        return self.block_at(height).header

    def hash_at(self, height: int) -> bytes:
        return self.block_at(height).hash

    def height_of(self, block_hash: bytes) -> int | None:
        return self._heights.get(block_hash)

    def with_block(self, height: int, block: Block) -> ChainCopy:
        """A copy with the block at ``height`` replaced by ``block``."""
        self.block_at(height)
        return ChainCopy((*self.blocks[:height], block, *self.blocks[height + 1:]))


# --- changing blocks ---------------------------------------------------------------

def change_amount(chain: Any, height: int, tx_index: int, output_index: int, amount: int,
                  key: PrivateKey | None = None) -> Block:
    """Block ``height`` of ``chain`` with output ``output_index`` of transaction ``tx_index``
    paying ``amount`` instead; signed again with ``key`` if given (only the payer can).

    The header is left as it was, so it no longer commits to the transactions
    (see recommit). ``chain`` is a Ledger or a ChainCopy.
    """
    block = chain.block_at(height)
    if not 0 <= tx_index < len(block.txs):
        raise IndexError(f"block {height} has transactions 0 to {len(block.txs) - 1}, not {tx_index}")
    tx = block.txs[tx_index]
    if not 0 <= output_index < len(tx.outputs):
        raise IndexError(f"transaction {tx_index} has outputs 0 to {len(tx.outputs) - 1}, not {output_index}")
    outputs = list(tx.outputs)
    outputs[output_index] = TxOut(amount, outputs[output_index].address)
    changed = replace(tx, outputs=tuple(outputs))
    if key is not None and not tx.is_coinbase:
        changed = Wallet(key).sign(changed, [_spent_output(chain, height, txin.outpoint)
                                             for txin in tx.inputs])
    txs = list(block.txs)
    txs[tx_index] = changed
    return Block(block.header, txs)


def _spent_output(chain: Any, below: int, outpoint: Any) -> TxOut:
    """The output ``outpoint`` names, found in the blocks of ``chain`` up to height ``below``."""
    for height in range(below, -1, -1):
        for tx in chain.block_at(height).txs:
            if tx.txid == outpoint.txid:
                return tx.outputs[outpoint.index]
    raise ValidationError(f"no block up to height {below} creates the output {outpoint}")


def recommit(block: Block) -> Block:
    """The same block under a header whose merkle root matches its transactions: a new hash."""
    root = merkle_root([tx.txid for tx in block.txs])
    return Block(replace(block.header, merkle_root=root), block.txs)


def reseal(blocks: Iterable[Block], start: int = 1) -> list[Block]:
    """The chain with every block from height ``start`` on re-sealed: its header names the
    (new) hash of the block before it and commits to its transactions. The txs stay as they are."""
    chain = list(blocks)
    for height in range(max(start, 1), len(chain)):
        block = chain[height]
        header = replace(block.header, prev_block_hash=chain[height - 1].hash,
                         merkle_root=merkle_root([tx.txid for tx in block.txs]))
        chain[height] = Block(header, block.txs)
    return chain


# --- checking ----------------------------------------------------------------------

def merkle_mismatches(chain: Any) -> list[int]:
    """Heights whose header's merkle root does not commit to the block's transactions."""
    bad = []
    for height in range(chain.height + 1):
        try:
            check_merkle_root(chain.block_at(height))
        except ValidationError:
            bad.append(height)
    return bad


def broken_links(chain: Any) -> list[int]:
    """Heights whose ``prev_block_hash`` is not the hash of the block below them."""
    return [h for h in range(1, chain.height + 1)
            if chain.block_at(h).header.prev_block_hash != chain.hash_at(h - 1)]


def validate_chain(blocks: Iterable[Block]) -> Ledger:
    """Check every rule of every block, as a new full node would; the resulting ledger.

    ValidationError names the first block that breaks a rule.
    """
    blocks = list(blocks)
    ledger = Ledger(blocks[0])
    for height, block in enumerate(blocks[1:], start=1):
        try:
            ledger.apply_block(block)
        except ValidationError as error:
            raise ValidationError(f"block {height}: {error}") from None
    return ledger


# --- a node that serves a tampered chain -------------------------------------------

class TamperingNode(Node):
    """A full node with an honest ledger that serves ``serve_chain``'s copy to everyone else."""

    def __init__(self, name: str = "M", **options: Any) -> None:
        super().__init__(name, **options)
        self._copy: ChainCopy | None = None

    @property
    def chain(self) -> ChainCopy:
        """What this node serves: the tampered copy, or its ledger's own chain before any."""
        return self._read(self._served)

    def _served(self) -> ChainCopy:
        return self._copy if self._copy is not None else ChainCopy(self.ledger.blocks)

    def serve_chain(self, blocks: Iterable[Block]) -> None:
        """From now on answer headers, blocks and proofs from ``blocks`` (genesis first)."""
        copy = ChainCopy(blocks)
        self._read(lambda: self._set_copy(copy))

    def _set_copy(self, copy: ChainCopy) -> None:
        if copy.hash_at(0) != self.ledger.hash_at(0):
            raise ValidationError("a tampered copy still starts at this node's genesis block")
        self._copy = copy
        changed = self._first_change()
        self.record("tampered", None, "serves its own chain" if changed is None else
                    f"serves a copy of its chain that differs from block {changed} on")

    def _first_change(self) -> int | None:
        served, ledger = self._served(), self.ledger
        for height in range(served.height + 1):
            if height > ledger.height or served.block_at(height) != ledger.block_at(height):
                return height
        return None

    def announce(self) -> None:
        """Push the served chain's headers, from the first changed block on, to every peer."""
        def push() -> None:
            changed = self._first_change()
            if changed is None:
                return
            headers = tuple(b.header for b in self._served().blocks[changed:])
            for conn in self.live_connections():
                conn.send(Headers(headers))
        self._read(push)

    # --- answers, from the served copy ------------------------------------------------

    def on_getheaders(self, conn: Connection, message: GetHeaders) -> None:
        conn.send(Headers(tuple(headers_after(self._served(), message.locator, message.stop_hash))))

    def on_getdata(self, conn: Connection, message: GetData) -> None:
        served, missing = self._served(), []
        for item in message.items:
            if item.kind != MSG_BLOCK:
                continue
            height = served.height_of(item.hash)
            if height is None:
                missing.append(item)
            else:
                conn.send(BlockMessage(served.block_at(height)))
        others = tuple(item for item in message.items if item.kind != MSG_BLOCK)
        if others:
            super().on_getdata(conn, GetData(others))
        if missing:
            conn.send(NotFound(tuple(InvItem(i.kind, i.hash) for i in missing)))

    def on_getproof(self, conn: Connection, message: GetProof) -> None:
        served = self._served()
        for height, block in enumerate(served.blocks):
            txids = [tx.txid for tx in block.txs]
            if message.txid in txids:
                index = txids.index(message.txid)
                conn.send(Proof(block.hash, height, make_proof(txids, index), block.txs[index]))
                return
        conn.send(NoProof(message.txid))
