"""Address manager: the nodes a node knows of, and the loop that keeps it connected to them.

A node is told some addresses (``node.connect(other)``) and learns others from
its peers' ``addr`` messages. It keeps every one of them, and for each runs a
loop that dials whenever no connection to that address is open, waiting a
little longer after each failure (exponential backoff) and never giving up
while the node runs. So a peer that crashes and comes back is found again
without anyone asking.

    Address, format_address, target_address   (host, port) pairs and their text
    AddrMan         the book: wanted addresses ("asked" or "learned"), their labels,
                    addresses that turned out to be ourselves, dials in progress
    Dialler         what keep_connected needs from a node (toycoin.node.Node)
    keep_connected  dial, serve, back off, dial again, for as long as the address is wanted

Dialling policy: an address the node was asked to connect to is always
dialled; a learned one only if the node discovers (``discover=True``), and
only while fewer than ``max_outbound`` learned connections are open or being
dialled, so a peer's addr message full of dead addresses cannot make the node
dial a thousand of them at once.

Bitcoin Core keeps addresses in ``AddrMan`` (buckets of "new" and "tried"
addresses, defending against a peer that floods it with its own) and dials
from ``CConnman::ThreadOpenConnections``. jamesob/tinychain dropped a peer for
ever after three failures; toycoin, like Bitcoin Core, keeps trying.
Simplifications: no buckets, no banning, IPv4 only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any, Protocol

from toycoin import params
from toycoin.errors import NodeError

Address = tuple[str, int]


def format_address(address: Address) -> str:
    return f"{address[0]}:{address[1]}"


def target_address(target: Any) -> tuple[Address, str]:
    """(address, label) for a Node, a NodeProcess or a (host, port) pair."""
    if isinstance(target, tuple):
        host, port = target
        if not isinstance(host, str) or not isinstance(port, int) or not 0 < port < 65536:
            raise NodeError(f"bad address {target!r}: expected (host, port) with a port in 1..65535")
        return (host, port), format_address((host, port))
    return tuple(target.address), target.name  # type: ignore[return-value]


def is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def dial_error(error: BaseException) -> str:
    """A failed dial in a few words."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    if isinstance(error, socket.gaierror):  # before OSError's strerror: that one says little
        return f"the host name does not resolve ({error.strerror})"
    return getattr(error, "strerror", None) or type(error).__name__


class AddrMan:
    """The addresses one node wants connections to (state inside one node only)."""

    def __init__(self, max_known: int = params.MAX_KNOWN_ADDRESSES) -> None:
        self.max_known = max_known
        self.wanted: dict[Address, str] = {}  # address -> "asked" or "learned"
        self.labels: dict[Address, str] = {}  # names of dialled nodes, for events
        self.myself: set[Address] = set()  # addresses that turned out to be this node
        self.dialling: set[Address] = set()  # learned addresses being dialled right now

    def want(self, address: Address, how: str, label: str | None = None) -> bool:
        """Remember ``address``; True if it is new (and needs a keep_connected loop)."""
        if label:
            self.labels[address] = label
        if address in self.wanted:
            if how == "asked":
                self.wanted[address] = how
            return False
        self.wanted[address] = how
        return True

    def forget(self, address: Address) -> None:
        self.wanted.pop(address, None)

    def mark_myself(self, address: Address) -> None:
        """``address`` is this node: never dial it again."""
        self.myself.add(address)
        self.wanted.pop(address, None)

    def learnable(self, address: Address, own: Address) -> bool:
        """Whether an address from an addr message may join the book."""
        return len(self.wanted) < self.max_known and address != own and address not in self.myself

    def label(self, address: Address) -> str:
        return self.labels.get(address, format_address(address))

    def is_learned(self, address: Address) -> bool:
        return self.wanted.get(address) == "learned"


class Dialler(Protocol):
    """The parts of a node that keep_connected uses."""

    addrman: AddrMan

    @property
    def is_running(self) -> bool: ...

    def _may_dial(self, address: Address) -> bool: ...

    async def _wait_for_change(self) -> None: ...

    async def _open(self, address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     target: Address | None) -> bool: ...

    def _record(self, kind: str, peer: str | None, detail: str) -> None: ...

    def _pulse(self) -> None: ...


async def keep_connected(node: Dialler, address: Address) -> None:
    """Dial ``address`` whenever no connection to it is open, backing off on failure."""
    book = node.addrman
    delay, failing = params.RECONNECT_DELAY_MIN, False
    while address in book.wanted and node.is_running:
        if not node._may_dial(address):
            await node._wait_for_change()
            continue
        learned = book.is_learned(address)
        if learned:
            book.dialling.add(address)  # holds one of the max_outbound slots
        try:
            reader, writer = await node._open(address)
        except (OSError, asyncio.TimeoutError) as error:
            if not failing:
                node._record("connect failed", book.label(address),
                             f"{dial_error(error)}; retrying with backoff")
            failing, ok = True, False
        else:
            book.dialling.discard(address)  # from here on it counts as a live peer
            failing, ok = False, await node._serve(reader, writer, address)
        finally:
            if learned:
                book.dialling.discard(address)
                node._pulse()  # the slot is free for another learned address
        if ok:
            delay = params.RECONNECT_DELAY_MIN
        else:
            await asyncio.sleep(delay)
            delay = min(2 * delay, params.RECONNECT_DELAY_MAX)
