"""Client: a wallet that keeps no ledger and asks a node over TCP.

Alice's wallet knows her key, and nothing else. To learn her balance it asks a
node which coins her address owns; to pay Bob it builds and signs a
transaction from those coins (toycoin.wallet) and sends it to the node, which
validates it and takes it (a node of chapters 03 to 05 seals it into a block at
once; a node made with ``sync=True`` puts it in its mempool and passes it on),
or refuses it with a reason.

    WalletClient(key, node_address)
      .balance()                          coins of this wallet, as the node sees them
      .unspent()                          those coins, as (outpoint, output) pairs
      .pay(to_address, amount, fee=0)     txid_hex; ValidationError with the node's reason
      .send_tx(tx)                        send a transaction built offline (toycoin.wallet)
      .probe(addresses)                   height, tip, peers and balances, for snapshots
      .events                             what crossed the wire, for sequence diagrams

Each call is one short session on a fresh TCP connection: the same
version/verack handshake as a node, but announcing no services (a light peer
that serves nobody), then the request. Payment uses Bitcoin's ordering
guarantee: a node handles one peer's messages in order, so after ``tx`` the
wallet sends a ``ping``; a ``reject`` before the ``pong`` means refused, a
``pong`` alone means accepted: sealed into a block by a node without sync, only
in the mempool of a node with ``sync=True`` (it is in a block once one is mined).

If the node is down, every call raises NodeError("cannot reach node server:
connection refused — is it running?"; the node is named by its address when the
wallet does not know its name): a wallet that knows one node has a single
point of failure (chapter 03).

Simplifications compared with Bitcoin: a light wallet would check headers and
Merkle proofs (chapter 06) instead of trusting one node's answer; there is no
such "getutxos by address" message in Bitcoin (Electrum-style servers do that).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from toycoin import params
from toycoin.addrman import Address, format_address
from toycoin.errors import NodeError, ValidationError
from toycoin.events import Event
from toycoin.keys import PrivateKey
from toycoin.peer import Connection, Limits
from toycoin.runtime import Runtime, get_runtime
from toycoin.tx import OutPoint, Tx, TxOut
from toycoin.wallet import Wallet
from toycoin.wire import (
    Addr, GetAddr, GetUtxos, Message, Ping, Pong, Reject, TxMessage, Utxos, Verack, Version,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Probe:
    """What a node told a wallet about itself; height is -1 if no address was asked."""

    height: int
    tip_hex: str
    balances: tuple[tuple[str, int], ...]  # (address, coins)
    peers: tuple[tuple[str, int], ...]  # where its full-node peers listen


class WalletClient:
    """A wallet that talks to one node at ``node_address`` (which may be changed)."""

    def __init__(self, key: PrivateKey, node_address: Address, runtime: Runtime | None = None,
                 name: str = "wallet", timeout: float = 5.0, rng: random.Random | None = None) -> None:
        self.wallet = Wallet(key)
        self.node_address = node_address
        self.name = name
        self.runtime = get_runtime(runtime)
        self.timeout = timeout
        self._rng = rng or random.Random()  # version nonces
        self._ping_nonces = itertools.count(1)  # counted, so printed events are reproducible
        self._events: deque[Event] = deque(maxlen=params.MAX_EVENTS)
        # Names nodes by their address in messages ("node server" rather than a port
        # number); a Network sets it for the wallets it makes.
        self.node_names: Callable[[Address], str | None] = lambda address: None

    def __repr__(self) -> str:
        return f"WalletClient({self.name!r}, {self.address})"

    def _node(self) -> str:
        """How messages name the node: by its name when known, else by its address."""
        name = self.node_names(self.node_address)
        return f"node {name}" if name else f"node at {format_address(self.node_address)}"

    @property
    def address(self) -> str:
        return self.wallet.address

    @property
    def events(self) -> list[Event]:
        return self.runtime.call(lambda: list(self._events))

    def unspent(self) -> list[tuple[OutPoint, TxOut]]:
        return list(self._call(self._ask_utxos).coins)

    def balance(self) -> int:
        return self._call(self._ask_utxos).balance

    def probe(self, addresses: list[str]) -> Probe:
        """Ask the node its height, tip, peers and the balances of ``addresses`` (for pictures)."""

        async def work(conn: Connection, inbox: asyncio.Queue) -> Probe:
            balances, height, tip_hex = [], -1, ""
            for address in addresses:
                conn.send(GetUtxos(address))
                reply = await self._expect(inbox, (Utxos,))
                assert isinstance(reply, Utxos)
                balances.append((address, reply.balance))
                height, tip_hex = reply.height, reply.tip_hash[::-1].hex()
            conn.send(GetAddr())
            addr = await self._expect(inbox, (Addr,))
            assert isinstance(addr, Addr)
            return Probe(height, tip_hex, tuple(balances), addr.addresses)

        return self._call(work)

    def pay(self, to_address: str, amount: int, fee: int = 0) -> str:
        """Pay through the node; return the txid_hex once the node accepted it (see above)."""

        async def work(conn: Connection, inbox: asyncio.Queue) -> str:
            utxos = await self._ask_utxos(conn, inbox)
            tx = self.wallet.make_payment(list(utxos.coins), to_address, amount, fee)
            return await self._send(conn, inbox, tx)

        return self._call(work)

    def send_tx(self, tx: Tx) -> str:
        """Send a transaction built elsewhere (Bitcoin: sendrawtransaction); return its txid_hex."""
        return self._call(lambda conn, inbox: self._send(conn, inbox, tx))

    async def _send(self, conn: Connection, inbox: asyncio.Queue, tx: Tx) -> str:
        nonce = next(self._ping_nonces)
        conn.send(TxMessage(tx))
        conn.send(Ping(nonce))  # answered only after the tx was handled
        while True:
            reply = await self._expect(inbox, (Reject, Pong))
            if isinstance(reply, Reject) and reply.txid == tx.txid:
                raise ValidationError(f"node refused the payment: {reply.reason}")
            if isinstance(reply, Pong) and reply.nonce == nonce:
                return tx.txid_hex

    # --- one session per call ----------------------------------------------------------

    def _call(self, work: Callable[[Connection, asyncio.Queue], Awaitable[T]]) -> T:
        return self.runtime.run(self._session(work), 3 * self.timeout)

    async def _session(self, work: Callable[[Connection, asyncio.Queue], Awaitable[T]]) -> T:
        where = format_address(self.node_address)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*self.node_address), self.timeout)
        except ConnectionRefusedError:
            raise NodeError(f"cannot reach {self._node()}: connection refused — is it running?") from None
        except (OSError, asyncio.TimeoutError) as error:
            raise NodeError(f"cannot reach {self._node()}: {error or 'timed out'}") from None
        inbox: asyncio.Queue = asyncio.Queue()  # messages, then why the connection ended
        conn = Connection(reader, writer, inbound=False, label=where, limits=Limits(),
                          dispatch=lambda _, message: inbox.put_nowait(message), log=self._record)
        reading = asyncio.get_running_loop().create_task(self._read(conn, inbox))
        try:
            conn.send(Version(self.name, self._rng.getrandbits(64), 0, 0, services=0))
            conn.label = (await self._expect(inbox, (Version,))).name  # type: ignore[attr-defined]
            await self._expect(inbox, (Verack,))
            conn.send(Verack())
            conn.handshaked = True
            return await work(conn, inbox)
        finally:
            conn.close("wallet done")
            await reading

    async def _read(self, conn: Connection, inbox: asyncio.Queue) -> None:
        inbox.put_nowait(await conn.run())  # the reason it ended, as a string

    async def _expect(self, inbox: asyncio.Queue, kinds: tuple[type[Message], ...]) -> Message:
        """The next message of one of ``kinds``; NodeError if the node hangs up or is silent."""
        while True:
            try:
                item = await asyncio.wait_for(inbox.get(), self.timeout)
            except asyncio.TimeoutError:
                raise NodeError(f"{self._node()} did not answer "
                                f"within {self.timeout:g}s") from None
            if isinstance(item, str):
                raise NodeError(f"{self._node()} hung up: {item}")
            if isinstance(item, kinds):
                return item

    async def _ask_utxos(self, conn: Connection, inbox: asyncio.Queue) -> Utxos:
        conn.send(GetUtxos(self.address))
        while True:
            reply = await self._expect(inbox, (Utxos,))
            assert isinstance(reply, Utxos)
            if reply.address == self.address:
                return reply

    def _record(self, kind: str, peer: str, detail: str) -> None:
        self._events.append(Event(self.runtime.next_seq(), kind, self.name, peer, detail))
