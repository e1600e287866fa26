"""Client: a wallet that keeps no ledger and asks a node over TCP.

Alice's wallet knows her key, and nothing else. To learn her balance it asks a
node which coins her address owns; to pay Bob it builds and signs a
transaction from those coins (toycoin.wallet) and sends it to the node, which
validates it and takes it (a node of chapters 03 to 05 seals it into a block at
once; a node with the Relay service puts it in its mempool and passes it on),
or refuses it with a reason.

    WalletClient(key, node_address)
      .balance()                          coins of this wallet, as the node sees them
      .unspent()                          those coins, as (outpoint, output) pairs
      .pay(to_address, amount, fee=0)     txid_hex; ValidationError with the node's reason
      .send_tx(tx)                        send a transaction built offline (toycoin.wallet)
      .probe(addresses)                   height, tip, peers and balances, for snapshots
      .events                             what crossed the wire, for sequence diagrams

Each call is one short session on a fresh TCP connection, on the same
connection layer as a node (toycoin.peerman's ``session``): the same
version/verack handshake, but announcing no services (a light peer that
serves nobody), then the request. Payment uses Bitcoin's ordering
guarantee: a node handles one peer's messages in order, so after ``tx`` the
wallet sends a ``ping``; a ``reject`` before the ``pong`` means refused, a
``pong`` alone means accepted: sealed into a block by a node without sync, only
in the mempool of a node with the Relay service (it is in a block once one is mined).

If the node is down, every call raises NodeError("cannot reach node server:
connection refused — is it running?"; the node is named by its address when the
wallet does not know its name): a wallet that knows one node has a single
point of failure (chapter 03).

Simplifications compared with Bitcoin: a light wallet would check headers and
Merkle proofs (chapter 06) instead of trusting one node's answer; there is no
such "getutxos by address" message in Bitcoin (Electrum-style servers do that).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from toycoin.addrman import Address, format_address
from toycoin.errors import ValidationError
from toycoin.events import Event
from toycoin.keys import PrivateKey, address_to_pubkey_hash
from toycoin.message import Message
from toycoin.msg_control import Addr, GetAddr, Reject
from toycoin.msg_data import TxMessage
from toycoin.msg_wallet import GetUtxos, Utxos
from toycoin.peer import Connection
from toycoin.peerman import PeerMan
from toycoin.runtime import Runtime
from toycoin.tx import OutPoint, Tx, TxOut
from toycoin.wallet import Wallet

T = TypeVar("T")
M = TypeVar("M", bound=Message)


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
        # A peer that does not listen, announces no services and looks for nobody.
        self.peer = PeerMan(name, listen=False, service_flags=0, learn_addresses=False, runtime=runtime,
                            rng=rng)
        self.peer.answers.update({Utxos, Addr, Reject})
        self.peer.timeout = self.timeout = timeout
        self.runtime = self.peer.runtime
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
        return self.peer.events

    def unspent(self) -> list[tuple[OutPoint, TxOut]]:
        return list(self._call(self._ask_utxos).coins)

    def balance(self) -> int:
        return self._call(self._ask_utxos).balance

    def probe(self, addresses: list[str]) -> Probe:
        """Ask the node its height, tip, peers and the balances of ``addresses`` (for pictures)."""

        async def work(conn: Connection) -> Probe:
            balances, height, tip_hex = [], -1, ""
            for address in addresses:
                reply = await self._ask(conn, GetUtxos(address), Utxos)
                balances.append((address, reply.balance))
                height, tip_hex = reply.height, reply.tip_hash[::-1].hex()
            addr = await self._ask(conn, GetAddr(), Addr)
            return Probe(height, tip_hex, tuple(balances), addr.addresses)

        return self._call(work)

    def pay(self, to_address: str, amount: int, fee: int = 0) -> str:
        """Pay through the node; return the txid_hex once the node accepted it (see above).

        ``to_address`` is an address: ParseError at once, before any connection, for a
        name or a typo (``pay("bob", 5)`` says to pass Bob's address).
        """
        address_to_pubkey_hash(to_address)

        async def work(conn: Connection) -> str:
            utxos = await self._ask_utxos(conn)
            tx = self.wallet.make_payment(list(utxos.coins), to_address, amount, fee)
            return await self._send(conn, tx)

        return self._call(work)

    def send_tx(self, tx: Tx) -> str:
        """Send a transaction built elsewhere (Bitcoin: sendrawtransaction); return its txid_hex."""
        return self._call(lambda conn: self._send(conn, tx))

    async def _send(self, conn: Connection, tx: Tx) -> str:
        reply = await self.peer.tell(conn, TxMessage(tx), (Reject,), self._node())
        if isinstance(reply, Reject) and reply.txid == tx.txid:
            raise ValidationError(f"node refused the payment: {reply.reason}")
        return tx.txid_hex

    # --- one session per call ----------------------------------------------------------

    def _call(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        return self.runtime.run(self._session(work), 3 * self.timeout)

    async def _session(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        async with self.peer.session(self.node_address, self._node()) as conn:
            return await work(conn)

    async def _ask(self, conn: Connection, message: Message, kind: type[M]) -> M:
        reply = await self.peer.ask(conn, message, (kind,), self._node())
        assert isinstance(reply, kind)
        return reply

    async def _ask_utxos(self, conn: Connection) -> Utxos:
        while True:
            reply = await self._ask(conn, GetUtxos(self.address), Utxos)
            if reply.address == self.address:
                return reply
