"""SPV: a light wallet that keeps only block headers and checks Merkle proofs itself.

Simplified Payment Verification, section 8 of the Bitcoin paper: a wallet
does not need every block to know that a payment is real. It keeps the chain
of 80-byte headers, asks a full node for a Merkle proof that the payment's
transaction is in a block, and checks that proof against its own header for
that block. A node can refuse to answer, but it cannot forge a proof: a lying
node is caught, disconnected and not asked again.

    check_proof(chain, txid, reply)   ProvenTx, or ValidationError naming the lie
    ProvenTx                          a transaction, the block that holds it, its height
    LightSnapshot                     (toycoin.events) what a light wallet looks like now, for pictures
    LightClient(key, addresses)       the wallet, on the shared runtime (like Node)
      start(), sync_headers(), header_height, chain
      prove(txid_hex), balance(), proven_balance, snapshot()
      and from toycoin.peergroup.PeerGroup: stop(), add_node(target), node, nodes,
      banned, events, subscribe(callback), unsubscribe(callback), wait_until(predicate)

Its connections are a peer group (toycoin.peergroup): several full nodes once
it knows them, one of them the node it asks, and a switch to another when
that one dies. A wallet made with one address and ``discover=False`` is the
story's first light wallet: when its only node is down it can do nothing,
and says so.

The balance is proven: the wallet asks a node which coins its address owns
(getutxos), then counts only the coins whose transaction comes with a valid
proof against a header on its best chain.

Simplifications compared with Bitcoin: the wallet asks for its coins by
address (real SPV wallets use BIP37 Bloom filters or BIP157/158 compact block
filters, so as not to tell the node what they own); a proof shows that a
payment is in a block, not that its output is still unspent, so a lying node
can hide coins, or show coins that were spent since; what it cannot show is a
payment that no block contains; no proof-of-work check on headers yet; a
liar is banned for the rest of the wallet's run (Bitcoin Core bans for 24 hours).

Reference: https://bitcoin.org/bitcoin.pdf (section 8)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from toycoin import params
from toycoin.errors import ValidationError
from toycoin.events import LightSnapshot
from toycoin.headers import HeaderChain
from toycoin.keys import PrivateKey
from toycoin.node import course_genesis
from toycoin.peer import Connection
from toycoin.peergroup import PeerGroup
from toycoin.pow import NO_POW, PowRules
from toycoin.tx import Tx
from toycoin.msg_data import GetHeaders, Headers
from toycoin.msg_wallet import GetProof, GetUtxos, NoProof, Proof, Utxos


@dataclass(frozen=True)
class ProvenTx:
    """A transaction, proven to be in the block ``block_hash`` at ``height`` of the best chain."""

    tx: Tx
    block_hash: bytes
    height: int

    def __repr__(self) -> str:
        return (f"ProvenTx(txid {self.tx.txid_hex[:16]}…, in block {self.block_hash[::-1].hex()[:16]}… "
                f"at height {self.height})")


def check_proof(chain: HeaderChain, txid: bytes, reply: Proof) -> ProvenTx:
    """Check a node's proof that ``txid`` is in a block, against the wallet's own header."""
    if reply.tx.txid != txid:
        raise ValidationError("the proof carries another transaction than the one asked for")
    if len(reply.tx.serialize()) == 64:  # two inner Merkle hashes, joined, can parse as one
        raise ValidationError("the proof's transaction is 64 bytes: it could be two inner hashes of the tree")
    height = chain.height_of(reply.block_hash)
    if height is None:
        raise ValidationError(f"proof against block {reply.block_hash[::-1].hex()[:12]}…, "
                              "which is no header of my best chain")
    if height != reply.height:
        raise ValidationError(f"proof claims height {reply.height}; my header for that block is at {height}")
    reply.proof.verify(txid, chain.header_at(height).merkle_root)
    return ProvenTx(reply.tx, reply.block_hash, height)


class LightClient(PeerGroup):
    """A light wallet for ``key``, starting from the full nodes at ``addresses``."""

    answer_types = (Headers, Proof, NoProof, Utxos)

    def __init__(self, key: PrivateKey, addresses: Iterable[Any], name: str = "wallet",
                 rules: PowRules = NO_POW, **options: Any) -> None:
        super().__init__(name, addresses, **options)
        self.key = key
        self.chain = HeaderChain(course_genesis().header, rules)  # the same rules as its full nodes
        self._proven_balance: int | None = None

    def __repr__(self) -> str:
        snap = self.snapshot()
        return f"LightClient({self.name!r}, asks {snap.node or 'nobody'}, {snap.header_height + 1} headers)"

    @property
    def address(self) -> str:  # type: ignore[override]
        """The wallet's address (a light wallet listens nowhere)."""
        return self.key.address

    def start(self, wait: bool = True) -> None:
        """Dial the given nodes; with ``wait``, return once one answered and headers are synced."""
        self._run(self._start())
        if wait:
            self.sync_headers()

    def sync_headers(self) -> int:
        """Download from the node it asks the headers it lacks; return the header height."""
        return self._run(self.with_node(self._sync_from))

    def prove(self, txid_hex: str) -> ProvenTx | None:
        """The checked proof that a transaction is in a block; None if the node knows no such block."""
        txid = bytes.fromhex(txid_hex)[::-1]
        return self._run(self.with_node(lambda conn: self._prove(conn, txid)))

    def balance(self) -> int:
        """The coins of this wallet whose transactions come with a valid proof."""
        return self._run(self.with_node(self._balance))

    @property
    def header_height(self) -> int:
        return self._read(lambda: self.chain.height)

    @property
    def proven_balance(self) -> int | None:
        """What the last balance() proved (None before the first)."""
        return self._proven_balance

    def snapshot(self) -> LightSnapshot:
        return self._read(self._snapshot)

    def _snapshot(self) -> LightSnapshot:
        banned = tuple(sorted(self.addrman.label(a) for a in self.addrman.banned))
        peers = tuple(sorted({self.peer_name(c) for c in self.live_connections()}))
        return LightSnapshot(self.name, self.last_node, self._current is not None, peers,
                             self.chain.height, self._proven_balance, banned)

    # --- on the network thread -------------------------------------------------------

    def start_height(self) -> int:
        return self.chain.height

    def on_connected(self, conn: Connection) -> None:
        super().on_connected(conn)

        async def sync() -> None:
            try:
                await self._sync_from(conn)
            except ValidationError as error:
                self.ban(conn, str(error))
            except Exception:  # the node went away meanwhile: nothing to do
                pass

        self.spawn(sync())

    async def _sync_from(self, conn: Connection) -> int:
        """Ask ``conn`` for headers until it has no more; ValidationError if one does not link."""
        while True:
            reply = await self.ask(conn, GetHeaders(tuple(self.chain.locator())), (Headers,))
            assert isinstance(reply, Headers)
            new = self.chain.add(reply.headers)
            if new:
                self.record("headers", self.peer_name(conn),
                             f"{new} new, height {self.chain.height}")
            version = self.state(conn).version
            announced = version.height if version else 0
            if self.chain.height > announced + params.MAX_HEADERS_RESULTS:  # it grows, but not by that much
                raise ValidationError(f"sent headers up to height {self.chain.height}, far past the height "
                                      f"{announced} it announced")
            if len(reply.headers) < params.MAX_HEADERS_RESULTS:
                return self.chain.height

    async def _prove(self, conn: Connection, txid: bytes) -> ProvenTx | None:
        reply = await self.ask(conn, GetProof(txid), (Proof, NoProof))
        if isinstance(reply, NoProof):
            return None
        assert isinstance(reply, Proof)
        if self.chain.height_of(reply.block_hash) is None:
            await self._sync_from(conn)  # a block sealed since the last sync is no lie
        proven = check_proof(self.chain, txid, reply)
        self.record("proof checked", self.peer_name(conn),
                     f"{reply.tx.txid_hex[:12]}… is in block {proven.height}")
        return proven

    async def _balance(self, conn: Connection) -> int:
        await self._sync_from(conn)
        reply = await self.ask(conn, GetUtxos(self.address), (Utxos,))
        assert isinstance(reply, Utxos)
        total = 0
        for outpoint, txout in reply.coins:
            proven = await self._prove(conn, outpoint.txid)
            if proven is None:
                raise ValidationError(f"claims a coin of {outpoint.txid[::-1].hex()[:12]}… "
                                      "but has no block holding that transaction")
            outputs = proven.tx.outputs
            if outpoint.index >= len(outputs) or outputs[outpoint.index] != txout:
                raise ValidationError(f"claims a coin that transaction {outpoint.txid[::-1].hex()[:12]}… "
                                      "does not create")
            total += txout.amount
        self._proven_balance = total
        self.record("balance proven", self.peer_name(conn), f"{total} coins in {len(reply.coins)} proven")
        return total
