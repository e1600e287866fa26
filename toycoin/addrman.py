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
from collections.abc import Iterable
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


Networks = tuple[ipaddress.IPv4Network, ...]
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def local_networks(host: str) -> Networks:
    """The networks a peer bound to ``host`` dials unless told otherwise: all of 127.0.0.0/8
    for a loopback host (or a host name, or 0.0.0.0: loopback is the only safe guess), else
    the /24 around it (a classroom LAN)."""
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        return (LOOPBACK,)
    if ip.is_loopback or ip.is_unspecified:
        return (LOOPBACK,)
    return (ipaddress.IPv4Network(f"{host}/24", strict=False),)


def parse_networks(networks: Iterable[str | ipaddress.IPv4Network] | str | None, host: str) -> Networks:
    """The networks a peer may dial: ``networks`` as given (CIDR text such as "192.168.1.0/24",
    or IPv4Network objects), or ``local_networks(host)`` when None. ValueError naming the fix."""
    if networks is None:
        return local_networks(host)
    if isinstance(networks, (str, ipaddress.IPv4Network)):
        networks = [networks]
    parsed: list[ipaddress.IPv4Network] = []
    for item in networks:
        if isinstance(item, ipaddress.IPv4Network):
            parsed.append(item)
            continue
        try:
            if not isinstance(item, str) or "/" not in item:
                raise ValueError
            parsed.append(ipaddress.IPv4Network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"bad network {item!r}: expected an IPv4 network in CIDR notation, "
                             "e.g. 192.168.1.0/24 (a classroom LAN) or 127.0.0.0/8 (this machine)") from None
    if not parsed:
        raise ValueError("no networks given: a node dials only inside its networks, so give at least one, "
                         "e.g. 127.0.0.0/8")
    return tuple(dict.fromkeys(parsed))


def undialable(address: Address, networks: Networks) -> str | None:
    """Why ``address`` must never be dialled, in a few words; None if it may be.

    Whatever the networks say, never: a port outside 1..65535, a host that is
    not an IPv4 address, 0.0.0.0 (it means "any address"), multicast,
    link-local (169.254.0.0/16, where cloud machines keep their secrets),
    reserved (240.0.0.0/4), broadcast (255.255.255.255, a network's last
    address, and x.x.x.255 off loopback, a /24 LAN's broadcast). Then only
    inside ``networks``.
    """
    host, port = address
    if not isinstance(port, int) or not 0 < port < 65536:
        return f"port {port} is not a port a node listens on"
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        return f"{host!r} is not an IPv4 address"
    inside = [n for n in networks if ip in n]
    if ip.is_unspecified:
        return f"{ip} means any address, not a node's"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_link_local:
        return f"{ip} is link-local (169.254.0.0/16)"
    if (ip == ipaddress.IPv4Address("255.255.255.255") or (ip.packed[-1] == 255 and not ip.is_loopback)
            or any(n.prefixlen < 31 and ip == n.broadcast_address for n in inside)):
        return f"{ip} is a broadcast address"
    if ip.is_reserved:
        return f"{ip} is reserved (240.0.0.0/4)"
    if not inside:
        return f"{ip} is outside the networks it dials ({', '.join(map(str, networks))})"
    return None


def in_networks(address: Address, networks: Networks) -> bool:
    """Whether ``address`` may be dialled by a peer with these networks (see ``undialable``)."""
    return undialable(address, networks) is None


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
