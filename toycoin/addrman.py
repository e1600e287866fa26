"""Address manager: the book of nodes a peer knows of, and what it knows of each.

A node is told some addresses (``node.connect(other)``) and learns others from
its peers' ``addr`` messages. The book keeps every one of them; the dialling
itself, with backoff, belongs to the connections (toycoin.connman).

    Address, format_address, target_address, is_ipv4   (host, port) pairs and their text
    local_networks(host), in_networks(address, nets)   where a peer that learns addresses from
                    strangers (a DHT node, a tracker's client) may dial: its own network only
    Target          what a connect() accepts: a node, a node process or a (host, port)
    AddrMan         the book: wanted addresses ("asked" or "learned"), their labels,
                    addresses that turned out to be ourselves, dials in progress,
                    why the last dial of each failed, and nodes banned for lying

Bitcoin Core keeps addresses in ``AddrMan`` (buckets of "new" and "tried"
addresses, defending against a peer that floods it with its own) and bans
misbehaving peers in ``BanMan``. Simplifications: no buckets, IPv4 only, and
a ban lasts as long as the run (Bitcoin Core: 24 hours, -bantime).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Protocol

from toycoin import params
from toycoin.errors import NodeError

Address = tuple[str, int]


def format_address(address: Address) -> str:
    return f"{address[0]}:{address[1]}"


class HasAddress(Protocol):
    """A node or a node process: something with a name that listens at an address."""

    name: str

    @property
    def address(self) -> Address: ...


Target = HasAddress | Address


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


def local_networks(host: str) -> tuple[ipaddress.IPv4Network, ...]:
    """The networks a peer bound to ``host`` may dial: all of 127.0.0.0/8 for a loopback
    host, else the /24 around it (a classroom LAN)."""
    if ipaddress.IPv4Address(host).is_loopback:
        return (ipaddress.IPv4Network("127.0.0.0/8"),)
    return (ipaddress.IPv4Network(f"{host}/24", strict=False),)


def in_networks(address: Address, networks: tuple[ipaddress.IPv4Network, ...]) -> bool:
    """Whether ``address`` is an IPv4 (host, port) inside one of ``networks``, with a real port."""
    host, port = address
    return is_ipv4(host) and 0 < port < 65536 and any(ipaddress.IPv4Address(host) in n for n in networks)


class AddrMan:
    """The addresses one node wants connections to (state inside one node only)."""

    def __init__(self, max_known: int = params.MAX_KNOWN_ADDRESSES) -> None:
        self.max_known = max_known
        self.wanted: dict[Address, str] = {}  # address -> "asked" or "learned"
        self.labels: dict[Address, str] = {}  # names of dialled nodes, for events
        self.myself: set[Address] = set()  # addresses that turned out to be this node
        self.dialling: set[Address] = set()  # learned addresses being dialled right now
        self.down: dict[Address, str] = {}  # addresses whose last dial failed, and why
        self.banned: dict[Address, str] = {}  # caught lying: address -> what it did

    def want(self, address: Address, how: str, label: str | None = None) -> bool:
        """Remember ``address``; True if it is new (and needs a dial loop, toycoin.connman)."""
        if label:
            self.labels[address] = label
        if address in self.banned:
            return False
        if address in self.wanted:
            if how == "asked":
                self.wanted[address] = how
            return False
        self.wanted[address] = how
        return True

    def forget(self, address: Address) -> None:
        self.wanted.pop(address, None)

    def failed(self, address: Address, why: str) -> None:
        """The last dial of ``address`` failed."""
        self.down[address] = why

    def reached(self, address: Address) -> None:
        """A handshake with ``address`` completed."""
        self.down.pop(address, None)

    def ban(self, address: Address, reason: str) -> None:
        """Never dial ``address`` again in this run."""
        self.banned.setdefault(address, reason)
        self.wanted.pop(address, None)

    def mark_myself(self, address: Address) -> None:
        """``address`` is this node: never dial it again."""
        self.myself.add(address)
        self.wanted.pop(address, None)

    def learnable(self, address: Address, own: Address) -> bool:
        """Whether an address from an addr message may join the book."""
        return (len(self.wanted) < self.max_known and address != own and address not in self.myself
                and address not in self.banned)

    def label(self, address: Address) -> str:
        return self.labels.get(address, format_address(address))

    def is_learned(self, address: Address) -> bool:
        return self.wanted.get(address) == "learned"
