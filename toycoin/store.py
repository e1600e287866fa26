"""Store: a node's ledger in a data directory, so it survives a restart or a crash.

A node in memory forgets everything when its process dies. With a data
directory it keeps, in one SQLite file (``ledger.sqlite3``, Python's own
sqlite3 module), what it needs to resume where it stopped:

    blocks   height, hash, the block's bytes, and its undo data (the outputs it spent)
    utxos    the UTXO set after the tip: outpoint -> output
    meta     the format version, the genesis hash, the tip hash and height

Each block is applied in one SQLite transaction: its row, the UTXO changes,
and the new tip all commit together or not at all. A process killed with
SIGKILL at any moment therefore leaves either the store before the block or
the store after it, never half of it (SQLite's write-ahead log, rolled back
or forward when the file is opened again). Opening a store checks that this
holds: SQLite's own integrity check, the genesis block, heights without
gaps, a tip that matches the last block.

    Store.open(data_dir, genesis)   create or open; StoreError if it is damaged or foreign
      .load()                       the Ledger it holds (toycoin.ledger.Ledger.restore)
      .append(block, undo)          apply one block atomically
      .reorganize(fork_height, blocks)   undo the blocks above fork_height and apply others,
                                    all in one transaction: a crash leaves one branch or the other
      .height, .tip_hash, .utxos(), .close()

Bitcoin Core keeps blocks in blk*.dat files, undo data in rev*.dat files and
the UTXO set in a LevelDB database (chainstate/), and flushes them in an
order that makes a crash recoverable; toycoin gets the same guarantee from
one SQLite transaction per block. Simplifications: ``synchronous=NORMAL``
survives a killed process but may lose the last blocks on a power cut (they
are downloaded again); the mempool is not stored (Bitcoin Core writes
mempool.dat at shutdown); nothing is ever pruned.

Reference: https://www.sqlite.org/atomiccommit.html
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from toycoin.block import Block
from toycoin.encoding import ByteReader, compact_size
from toycoin.errors import ParseError, StoreError, ValidationError
from toycoin.ledger import Ledger, TxUndo
from toycoin.pow import NO_POW, PowRules
from toycoin.sigcache import SigCache
from toycoin.tx import OUTPOINT_SIZE, TXOUT_SIZE, OutPoint, TxOut

FILE_NAME = "ledger.sqlite3"
FORMAT = 1  # bumped whenever the tables change

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,
                                   block BLOB NOT NULL, undo BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS utxos (outpoint BLOB PRIMARY KEY, txout BLOB NOT NULL);
"""


def serialize_undo(undo: list[TxUndo]) -> bytes:
    """Per transaction of a block: how many outputs it spent, then each (outpoint, output)."""
    out = [compact_size(len(undo))]
    for spent in undo:
        out.append(compact_size(len(spent)))
        out += [outpoint.serialize() + txout.serialize() for outpoint, txout in spent]
    return b"".join(out)


def parse_undo(data: bytes) -> list[TxUndo]:
    reader = ByteReader(data)
    undo = []
    for _ in range(reader.read_count(1)):
        count = reader.read_count(OUTPOINT_SIZE + TXOUT_SIZE)
        undo.append([(OutPoint.read_from(reader), TxOut.read_from(reader)) for _ in range(count)])
    reader.finish()
    return undo


class Store:
    """One node's ledger on disk. Use it from one thread at a time (the node's network thread)."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self._db = db

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, height {self.height})"

    @classmethod
    def open(cls, data_dir: str | Path, genesis: Block) -> Store:
        """Open the store in ``data_dir`` (created with the genesis block if new) and check it."""
        path = Path(data_dir)
        try:
            path.mkdir(parents=True, exist_ok=True)
            # The node uses the store from its network thread, which is not the opening thread.
            db = sqlite3.connect(path / FILE_NAME, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"cannot open the data directory {path}: {error}") from None
        store = cls(path, db)
        try:
            if store._meta("format") is None:
                store._create(genesis)
            store._check(genesis)
        except BaseException:
            db.close()
            raise
        return store

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: COMMIT at the end, ROLLBACK if anything fails on the way."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _meta(self, key: str) -> bytes | int | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _create(self, genesis: Block) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO meta VALUES ('format', ?), ('genesis', ?)", (FORMAT, genesis.hash))
            self._write_block(db, 0, genesis, [[]])

    def _write_block(self, db: sqlite3.Connection, height: int, block: Block, undo: list[TxUndo]) -> None:
        db.execute("INSERT INTO blocks VALUES (?, ?, ?, ?)",
                   (height, block.hash, block.serialize(), serialize_undo(undo)))
        for tx in block.txs:  # in order, so an output created and spent in the block comes and goes
            if not tx.is_coinbase:
                db.executemany("DELETE FROM utxos WHERE outpoint = ?",
                               [(txin.outpoint.serialize(),) for txin in tx.inputs])
            db.executemany("INSERT INTO utxos VALUES (?, ?)",
                           [(OutPoint(tx.txid, n).serialize(), out.serialize())
                            for n, out in enumerate(tx.outputs)])
        db.execute("INSERT OR REPLACE INTO meta VALUES ('tip', ?), ('height', ?)", (block.hash, height))

    def _check(self, genesis: Block) -> None:
        """StoreError unless the file is sound and holds one unbroken chain from ``genesis``."""
        where = f"the store in {self.path}"
        if self._db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise StoreError(f"{where} is damaged: SQLite's integrity check failed")
        if self._meta("format") != FORMAT:
            raise StoreError(f"{where} has format {self._meta('format')!r}; this toycoin reads {FORMAT}")
        if self._meta("genesis") != genesis.hash:
            raise StoreError(f"{where} belongs to another chain: its genesis block is not this node's")
        count, top = self._db.execute("SELECT COUNT(*), MAX(height) FROM blocks").fetchone()
        last = self._db.execute("SELECT hash FROM blocks WHERE height = ?", (top,)).fetchone()
        if count != top + 1 or self._meta("height") != top or not last or self._meta("tip") != last[0]:
            raise StoreError(f"{where} does not add up: its tip is not its last block, or heights have gaps")

    @property
    def height(self) -> int:
        value = self._meta("height")
        assert isinstance(value, int)
        return value

    @property
    def tip_hash(self) -> bytes:
        value = self._meta("tip")
        assert isinstance(value, bytes)
        return value

    def utxos(self) -> dict[OutPoint, TxOut]:
        rows = self._db.execute("SELECT outpoint, txout FROM utxos")
        return {OutPoint.parse(op): TxOut.parse(out) for op, out in rows}

    def load(self, rules: PowRules = NO_POW, sigcache: SigCache | None = None) -> Ledger:
        """The ledger this store holds, on a network of ``rules`` (with ``sigcache``, see
        toycoin.ledger); StoreError if its blocks do not parse or link."""
        rows = self._db.execute("SELECT block, undo FROM blocks ORDER BY height").fetchall()
        try:
            blocks = [Block.parse(block) for block, _ in rows]
            undo = [parse_undo(data) for _, data in rows]
            return Ledger.restore(blocks, undo, self.utxos(), rules, sigcache=sigcache)
        except (ParseError, ValidationError) as error:
            raise StoreError(f"the store in {self.path} holds a broken chain: {error}") from None

    def append(self, block: Block, undo: list[TxUndo]) -> None:
        """Apply one block (already validated by the ledger) on top of the stored tip, atomically."""
        if block.header.prev_block_hash != self.tip_hash:
            raise StoreError(f"block {block.hash_hex[:12]}… does not build on the stored tip")
        with self._transaction() as db:
            self._write_block(db, self.height + 1, block, undo)

    def reorganize(self, fork_height: int, blocks: list[tuple[Block, list[TxUndo]]]) -> None:
        """Undo every stored block above ``fork_height`` and apply ``blocks`` (validated by the ledger)
        in their place, in one SQLite transaction."""
        with self._transaction() as db:
            rows = db.execute("SELECT height, block, undo FROM blocks WHERE height > ? ORDER BY height DESC",
                              (fork_height,)).fetchall()
            for height, data, undo in rows:
                self._unwrite_block(db, height, Block.parse(data), parse_undo(undo))
            for offset, (block, undo) in enumerate(blocks, start=1):
                self._write_block(db, fork_height + offset, block, undo)

    def _unwrite_block(self, db: sqlite3.Connection, height: int, block: Block, undo: list[TxUndo]) -> None:
        for tx, spent in reversed(list(zip(block.txs, undo, strict=True))):  # newest first
            db.executemany("DELETE FROM utxos WHERE outpoint = ?",
                           [(OutPoint(tx.txid, n).serialize(),) for n in range(len(tx.outputs))])
            db.executemany("INSERT INTO utxos VALUES (?, ?)",
                           [(outpoint.serialize(), out.serialize()) for outpoint, out in spent])
        db.execute("DELETE FROM blocks WHERE height = ?", (height,))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('tip', ?), ('height', ?)",
                   (block.header.prev_block_hash, height - 1))
