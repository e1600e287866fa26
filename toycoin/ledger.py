"""Ledger: the chain of blocks one node has accepted, and the coins still unspent.

A node does not store balances. It stores the UTXO set: every transaction
output that no later transaction has spent, by outpoint. A new transaction is
valid if each input spends an output in that set, is signed by the key that
output is locked to, and creates no more coins than it spends. A block is
valid if its header builds on the tip, every transaction in it is valid, and
its coinbase pays no more than the block reward plus the fees.

    Ledger(genesis, sigcache=None)   one chain and its UTXO set (state lives only in here)
      .validate_tx(tx)     the fee, or ValidationError naming the broken rule
      .apply_block(block)  check everything, then apply all of it or nothing
      .undo_block()        take the tip block back off, using its undo data
      .seal_block(...)     build the next block around some transactions, apply it
      .balance(address), .unspent_for(address), .height, .tip, .block_at(height)
      .hash_at(height), .height_of(block_hash), .undo_at(height)   for nodes that serve and store blocks
      Ledger.restore(...)  a ledger from stored blocks, undo data and UTXO set (toycoin.store)

Rules checked, with Bitcoin Core's names: CheckTransaction (inputs and outputs
present, amounts within 0..MAX_MONEY and so are their sums, no input spending
the same output twice: CVE-2018-17144), Consensus::CheckTxInputs (inputs exist
and are unspent, outputs not above inputs), the signature check (Bitcoin:
the P2PKH script), and in ConnectBlock: one coinbase, first, paying at most
the subsidy plus fees, carrying its height (BIP34); no two transactions of a
block spending the same output; a merkle root that matches and is not mutated;
the header's bits and proof of work, by the rules of the ledger's network
(toycoin.pow: none at all on the network of chapters 03-08).

Signatures are checked last, being by far the costliest rule. A ledger given
a toycoin.sigcache.SigCache (a node gives its own) remembers each signature
that validate_tx found valid, and apply_block does not check it again: a
payment checked on entering the mempool costs no second check when its block
arrives. Without one, every check is made.

Simplifications compared with Bitcoin: one chain (the node chooses between
branches and moves its ledger with undo_block and apply_block); no coinbase maturity
(Bitcoin's COINBASE_MATURITY makes new coins wait 100 blocks); the genesis
coinbase is spendable (Bitcoin's is not), since Alice's first coins come from
it; undo data is kept in memory (Bitcoin Core: CBlockUndo in rev*.dat files).

Reference: https://developer.bitcoin.org/devguide/block_chain.html
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from toycoin import params
from toycoin.block import Block, BlockHeader, check_merkle_root, make_block
from toycoin.errors import ParseError, ValidationError
from toycoin.headers import check_timestamp
from toycoin.keys import PublicKey, address_to_pubkey_hash, pubkey_hash
from toycoin.params import BLOCK_REWARD, MAX_MONEY
from toycoin.pow import NO_POW, PowRules, check_header, mine, next_bits
from toycoin.sigcache import SigCache
from toycoin.tx import OutPoint, Tx, TxOut, make_coinbase
from toycoin.utxoset import UtxoSet

# Parsing a compressed public key costs about a fifth of a signature check, and
# wallets reuse keys, so a ledger remembers the keys it has parsed, up to this many.
MAX_CACHED_KEYS = 10_000

# For each transaction of a block, the outputs it spent: what undo_block puts back.
TxUndo = list[tuple[OutPoint, TxOut]]


def check_tx_shape(tx: Tx) -> None:
    """The rules that need no UTXO set (Bitcoin Core: CheckTransaction)."""
    if len(tx.serialize()) == 64:  # two joined Merkle hashes are 64 bytes too
        raise ValidationError("a transaction of exactly 64 bytes could pass for an inner Merkle node")
    if not tx.inputs:
        raise ValidationError("transaction has no inputs")
    if not tx.outputs:
        raise ValidationError("transaction has no outputs")
    check_amounts([out.amount for out in tx.outputs], "outputs")
    seen: dict[OutPoint, int] = {}
    for i, txin in enumerate(tx.inputs):
        if txin.outpoint in seen:
            raise ValidationError(f"input {i} spends the same output as input "
                                  f"{seen[txin.outpoint]} (CVE-2018-17144)")
        seen[txin.outpoint] = i
        if txin.outpoint.is_null and not tx.is_coinbase:
            raise ValidationError(f"input {i} has the null outpoint, which only a coinbase may use")
    if tx.is_coinbase and (tx.coinbase_height is None or tx.inputs[0].public_key):
        raise ValidationError("a coinbase input must carry only the block height, in 4 bytes")


def check_amounts(amounts: list[int], what: str) -> int:
    """The sum of ``amounts``, once each amount and the sum are within 0..MAX_MONEY.

    ``what`` is a plural noun ("outputs", "inputs") naming the amounts in errors.
    """
    one = what.removesuffix("s")
    for i, amount in enumerate(amounts):
        if amount < 0:
            raise ValidationError(f"{one} {i} has a negative amount ({amount})")
        if amount > MAX_MONEY:
            raise ValidationError(f"{one} {i} has an amount ({amount}) above MAX_MONEY ({MAX_MONEY})")
    total = sum(amounts)
    # Python integers never overflow, but a sum above MAX_MONEY is still invalid
    # (Bitcoin Core checks MoneyRange on every running total).
    if total > MAX_MONEY:
        raise ValidationError(f"{what} add up to {total}, above MAX_MONEY ({MAX_MONEY})")
    return total


class Ledger:
    """One chain of blocks, starting at ``genesis``, and its UTXO set."""

    def __init__(self, genesis: Block, rules: PowRules = NO_POW,
                 now: Callable[[], float] = time.time, *, sigcache: SigCache | None = None) -> None:
        self.rules, self.now = rules, now  # now: the clock the future-time rule checks against
        self.sigcache = sigcache  # signatures already found valid, or None: check every one
        self._blocks: list[Block] = []
        self._undo: list[list[TxUndo]] = []
        self._utxos = UtxoSet()
        self._public_keys: dict[bytes, PublicKey] = {}
        self._heights: dict[bytes, int] = {}  # block hash -> height, for every block of the chain
        self._check_genesis(genesis)
        self._add_outputs(genesis.txs[0])
        self._append(genesis, [[]])

    @classmethod
    def restore(cls, blocks: list[Block], undo: list[list[TxUndo]],
                utxos: dict[OutPoint, TxOut], rules: PowRules = NO_POW, *,
                sigcache: SigCache | None = None) -> Ledger:
        """A ledger as it was stored: its blocks, their undo data and the UTXO set after them.

        Trusts what it is given (toycoin.store checks its own integrity); the
        blocks must link, though, or ValidationError.
        """
        ledger = cls(blocks[0], rules, sigcache=sigcache)
        for block, block_undo in zip(blocks[1:], undo[1:], strict=True):
            if block.header.prev_block_hash != ledger.tip_hash:
                raise ValidationError(f"stored block {block.hash_hex[:12]}… does not build "
                                      "on the one before it")
            ledger._append(block, block_undo)
        ledger._utxos = UtxoSet(utxos.items())
        return ledger

    def _append(self, block: Block, undo: list[TxUndo]) -> None:
        self._heights[block.hash] = len(self._blocks)
        self._blocks.append(block)
        self._undo.append(undo)

    # --- reading -------------------------------------------------------------

    @property
    def height(self) -> int:
        """The tip's height; the genesis block is height 0."""
        return len(self._blocks) - 1

    @property
    def tip(self) -> BlockHeader:
        return self._blocks[-1].header

    @property
    def tip_hash(self) -> bytes:
        return self.tip.hash

    @property
    def blocks(self) -> list[Block]:
        """A copy of the chain, genesis first."""
        return list(self._blocks)

    def block_at(self, height: int) -> Block:
        if not 0 <= height <= self.height:
            raise IndexError(f"no block at height {height}; the tip is at {self.height}")
        return self._blocks[height]

    def header_at(self, height: int) -> BlockHeader:
        return self.block_at(height).header

    def hash_at(self, height: int) -> bytes:
        return self.block_at(height).hash

    def height_of(self, block_hash: bytes) -> int | None:
        """The height of the block called ``block_hash`` in this chain, or None."""
        return self._heights.get(block_hash)

    def undo_at(self, height: int) -> list[TxUndo]:
        """What undoing the block at ``height`` puts back: per transaction, the outputs it spent."""
        self.block_at(height)  # the same IndexError for a height off the chain
        return [list(spent) for spent in self._undo[height]]

    @property
    def utxos(self) -> dict[OutPoint, TxOut]:
        """A copy of the UTXO set."""
        return dict(self._utxos.items())

    def utxo(self, outpoint: OutPoint) -> TxOut | None:
        """The unspent output at ``outpoint``, or None if it does not exist or is spent."""
        return self._utxos.get(outpoint)

    def balance(self, address: str) -> int:
        """The coins ``address`` holds; ParseError naming the mistake if it is not an address."""
        return sum(out.amount for out in self._utxos.of(address_to_pubkey_hash(address)).values())

    def unspent_for(self, address: str) -> list[tuple[OutPoint, TxOut]]:
        """The coins ``address`` can spend, sorted by outpoint so every node lists them alike."""
        return sorted(self._utxos.of(address_to_pubkey_hash(address)).items())

    # --- validating ----------------------------------------------------------

    def validate_tx(self, tx: Tx, spent_in_block: set[OutPoint] | None = None) -> int:
        """The fee ``tx`` pays, if it may join the next block; else ValidationError.

        ``spent_in_block`` holds outpoints already spent by earlier transactions
        of the block being built: spending one again is a double spend. The
        signatures it finds valid go into the sigcache, if the ledger has one.
        """
        return self._check_tx(tx, spent_in_block, in_block=False)

    def _check_tx(self, tx: Tx, spent_in_block: set[OutPoint] | None, in_block: bool) -> int:
        if tx.is_coinbase:
            raise ValidationError("a coinbase is only valid as the first transaction of a block")
        check_tx_shape(tx)
        spent_outputs = [self._spent_output(i, txin.outpoint, spent_in_block)
                         for i, txin in enumerate(tx.inputs)]
        total_in = check_amounts([out.amount for out in spent_outputs], "inputs")
        total_out = sum(out.amount for out in tx.outputs)
        if total_out > total_in:
            raise ValidationError(f"outputs add up to {total_out}, more than the inputs' {total_in}")
        for i, spent in enumerate(spent_outputs):  # last: by far the most expensive check
            self._check_signature(tx, i, spent, in_block)
        return total_in - total_out

    def _spent_output(self, i: int, outpoint: OutPoint, spent_in_block: set | None) -> TxOut:
        if spent_in_block and outpoint in spent_in_block:
            raise ValidationError(f"input {i} spends an output that an earlier "
                                  "transaction in this block already spends")
        spent = self._utxos.get(outpoint)
        if spent is None:
            raise ValidationError(
                f"input {i} spends an output that does not exist or is already spent")
        return spent

    def _check_signature(self, tx: Tx, i: int, spent: TxOut, in_block: bool) -> None:
        txin = tx.inputs[i]
        if pubkey_hash(txin.public_key) != spent.pubkey_hash:
            raise ValidationError(f"input {i}: its public key does not belong to "
                                  f"{spent.address}, the address of the output it spends")
        digest, cache = tx.sighash(i, spent), self.sigcache
        if cache is not None:
            checked = cache.key(digest, txin.public_key, txin.signature)
            if checked in cache:
                if in_block:
                    cache.discard(checked)  # its block is applied: this payment is not checked again
                return
        key = self._public_key(txin.public_key, i)
        if not key.verify(digest, txin.signature):
            raise ValidationError(f"input {i}: the signature does not match "
                                  "(wrong key, or the transaction changed after signing)")
        if cache is not None and not in_block:
            cache.add(checked)

    def _public_key(self, sec: bytes, i: int) -> PublicKey:
        key = self._public_keys.get(sec)
        if key is None:
            try:
                key = PublicKey(sec)
            except ParseError:
                raise ValidationError(f"input {i}: public key is not a valid secp256k1 point") from None
            if len(self._public_keys) >= MAX_CACHED_KEYS:
                self._public_keys.clear()
            self._public_keys[sec] = key
        return key

    def _check_genesis(self, genesis: Block) -> None:
        check_merkle_root(genesis)
        if genesis.header.prev_block_hash != bytes(32):
            raise ValidationError("the genesis block has no parent: its prev_block_hash must be zeros")
        if len(genesis.txs) != 1 or genesis.txs[0].coinbase_height != 0:
            raise ValidationError("the genesis block holds exactly one coinbase, at height 0")
        check_tx_shape(genesis.txs[0])

    def _check_block_shape(self, block: Block) -> None:
        """The rules that need only the block and the tip (Bitcoin Core: CheckBlock)."""
        if block.header.prev_block_hash != self.tip_hash:
            raise ValidationError(
                f"block does not build on the tip: its prev_block_hash is "
                f"{block.header.prev_block_hash[::-1].hex()}, the tip is {self.tip.hash_hex}")
        size = len(block.serialize())
        if size > params.MAX_BLOCK_SIZE:
            raise ValidationError(f"block of {size:,} bytes is larger than the limit of "
                                  f"{params.MAX_BLOCK_SIZE:,}")
        check_header(self.rules, block.header, self.next_bits())
        check_timestamp(block.header, self._recent_timestamps(), self.now())
        check_merkle_root(block)
        if not block.txs[0].is_coinbase:
            raise ValidationError("the first transaction of a block must be a coinbase")
        for k, tx in enumerate(block.txs[1:], start=1):
            if tx.is_coinbase:
                raise ValidationError(f"transaction {k} is a second coinbase; a block has one")
        check_tx_shape(block.txs[0])
        if block.txs[0].coinbase_height != self.height + 1:
            raise ValidationError(f"coinbase must carry the block height {self.height + 1}, "
                                  f"not {block.txs[0].coinbase_height}")

    # --- changing ------------------------------------------------------------

    def apply_block(self, block: Block) -> None:
        """Check ``block`` against the tip and the UTXO set, and apply it; all or nothing."""
        self._check_block_shape(block)
        undo: list[TxUndo] = [[]]
        spent: set[OutPoint] = set()
        fees = 0
        try:
            for k, tx in enumerate(block.txs[1:], start=1):
                try:
                    fees += self._check_tx(tx, spent, in_block=True)
                except ValidationError as error:
                    raise ValidationError(f"transaction {k}: {error}") from None
                spent.update(txin.outpoint for txin in tx.inputs)
                undo.append(self._connect(tx))
            self._check_coinbase_amount(block.txs[0], fees)
            self._add_outputs(block.txs[0])
        except BaseException:
            self._disconnect(block.txs[:len(undo)], undo)
            raise
        self._append(block, undo)

    def _check_coinbase_amount(self, coinbase: Tx, fees: int) -> None:
        paid = sum(out.amount for out in coinbase.outputs)
        if paid > BLOCK_REWARD + fees:
            raise ValidationError(f"coinbase pays {paid}, but the block reward plus fees "
                                  f"is only {BLOCK_REWARD + fees}")

    def undo_block(self) -> Block:
        """Take the tip block off the chain, restoring the outputs it spent; return it."""
        if self.height == 0:
            raise ValidationError("the genesis block cannot be undone")
        block, undo = self._blocks.pop(), self._undo.pop()
        del self._heights[block.hash]
        self._disconnect(block.txs, undo)
        return block

    def _recent_timestamps(self) -> list[int]:
        first = max(0, self.height + 1 - params.MEDIAN_TIME_SPAN)
        return [self.block_at(h).header.timestamp for h in range(first, self.height + 1)]

    def median_time_past(self) -> int:
        """The median timestamp of the last blocks: the next block must be later (GetMedianTimePast)."""
        past = sorted(self._recent_timestamps())
        return past[len(past) // 2]

    def next_bits(self) -> int:
        """The bits the next block's header must carry (toycoin.pow's difficulty rule)."""
        return next_bits(self.rules, self.height + 1, self.header_at)

    def block_template(self, txs: list[Tx], miner_address: str, timestamp: int) -> Block:
        """The next block around ``txs``, its coinbase paying the miner the block reward plus
        the fees, not yet mined (nonce 0) nor applied (Bitcoin Core: CreateNewBlock)."""
        coinbase = make_coinbase(self.height + 1, miner_address, BLOCK_REWARD + self._fees(txs))
        return make_block(self.tip_hash, [coinbase, *txs], timestamp, self.next_bits())

    def seal_block(self, txs: list[Tx], miner_address: str, timestamp: int) -> Block:
        """Build the next block around ``txs``, find its proof of work if the network asks for
        one (however many tries that takes), apply it and return it."""
        block = self.block_template(txs, miner_address, timestamp)
        if self.rules.check:
            header = None
            while header is None:  # a 32-bit nonce may run out: move the timestamp on
                header = mine(block.header, 2**32)
                if header is None:
                    block = Block(replace(block.header, timestamp=block.header.timestamp + 1), block.txs)
            block = Block(header, block.txs)
        self.apply_block(block)
        return block

    def _fees(self, txs: list[Tx]) -> int:
        # Only to size the coinbase: apply_block checks every rule afterwards.
        created: dict[OutPoint, TxOut] = {}
        fees = 0
        for tx in txs:
            spent = [created.get(txin.outpoint) or self._utxos.get(txin.outpoint)
                     for txin in tx.inputs]
            fees += sum(out.amount for out in spent if out) - sum(o.amount for o in tx.outputs)
            created.update((OutPoint(tx.txid, n), out) for n, out in enumerate(tx.outputs))
        return max(fees, 0)

    def _connect(self, tx: Tx) -> TxUndo:
        spent = [(txin.outpoint, self._utxos.pop(txin.outpoint)) for txin in tx.inputs]
        self._add_outputs(tx)
        return spent

    def _add_outputs(self, tx: Tx) -> None:
        for n, out in enumerate(tx.outputs):
            self._utxos.add(OutPoint(tx.txid, n), out)

    def _disconnect(self, txs: tuple[Tx, ...], undo: list[TxUndo]) -> None:
        # Newest first, so an output created and spent inside one block comes
        # back when its spender is undone, then goes when its creator is.
        for tx, spent in reversed(list(zip(txs, undo, strict=True))):
            for n in range(len(tx.outputs)):
                self._utxos.pop(OutPoint(tx.txid, n), None)
            for outpoint, out in spent:
                self._utxos.add(outpoint, out)
