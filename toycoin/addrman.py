"""Address manager: the book of nodes a peer knows of, and what it knows of each.

A node is told some addresses (``node.connect(other)``) and learns others from
its peers' ``addr`` messages. The book keeps them apart, bounded, and says
which to dial next; the dialling itself, with backoff, belongs to the
connections (toycoin.dialler, used by toycoin.connman).

    Address, format_address, target_address, is_ipv4   (host, port) pairs and their text
    Networks, local_networks(host), parse_networks(networks, host)
                    where a peer may dial: loopback for a loopback host, the /24 around
                    a LAN host, or the networks it was given (``networks=``, ``--network``)
    undialable(address, networks), in_networks(address, networks)
                    why an address must never be dialled (0.0.0.0, multicast, broadcast,
                    link-local, outside the networks), or None
    Target          what a connect() accepts: a node, a node process or a (host, port)
    AddrBudget      how many more addresses one peer may make us process (a token bucket)
    AddrMan         the book: asked, tried and new addresses, their labels, addresses
                    that turned out to be ourselves, dials in progress, why the last
                    dial of each failed, and nodes banned for lying

Bitcoin Core keeps addresses in ``AddrMan`` (buckets of "new" and "tried"
addresses, defending against a peer that floods it with its own) and bans
misbehaving peers in ``BanMan``. Simplifications: no buckets (a full new
table replaces a random entry; Core replaces within the bucket the source
hashes to, so one peer fills few buckets), IPv4 only, and a ban lasts as
long as the run (Bitcoin Core: 24 hours, -bantime).
"""

from __future__ import annotations

import ipaddress
import itertools
import random
import time
from collections.abc import Callable, Iterable
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
    elif not isinstance(networks, Iterable):
        networks = [networks]  # refused below, by name
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


class AddrBudget:
    """How many more addresses from one peer may be processed (Bitcoin Core's addr token bucket;
    state of one connection): one to start with, ``MAX_ADDR_TO_SEND`` more for each getaddr we
    send (``asked``), ``ADDR_TOKENS_PER_SECOND`` over time up to ``MAX_ADDR_TOKENS``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.tokens = 1.0
        self.ignored = 0  # addresses over the budget, never looked at
        self._at = clock()

    def asked(self) -> None:
        """We sent getaddr: a full answer may come."""
        self.tokens += params.MAX_ADDR_TO_SEND

    def take(self, count: int) -> int:
        """How many of ``count`` addresses may be processed now (the rest are ignored)."""
        now = self.clock()
        if self.tokens < params.MAX_ADDR_TOKENS:
            self.tokens = min(self.tokens + (now - self._at) * params.ADDR_TOKENS_PER_SECOND,
                              float(params.MAX_ADDR_TOKENS))
        self._at = now
        allowed = min(count, int(self.tokens))
        self.tokens -= allowed
        self.ignored += count - allowed
        return allowed


class AddrMan:
    """The addresses one node wants connections to (state inside one node only).

    Three kinds, kept apart so that a flood of one cannot push out another:

        asked   told to connect to (``connect``): each has a dial loop of its own, for ever
        tried   learned, and a handshake with it completed at least once: kept, redialled
        new     learned from an addr message and never reached: at most ``max_new``; one
                more replaces a random new one; dropped after ``MAX_ADDRESS_FAILURES`` failed
                dials in a row

    Learned addresses (tried and new) are dialled by one dialler per node
    (toycoin.dialler) that asks ``select`` for the next one; ``failures`` and
    ``retry_at`` are its backoff.
    """

    def __init__(self, max_new: int = params.MAX_NEW_ADDRESSES, max_tried: int = params.MAX_TRIED_ADDRESSES,
                 rng: random.Random | None = None) -> None:
        self.max_new, self.max_tried = max_new, max_tried
        self.rng = rng or random.Random()
        self.asked: dict[Address, None] = {}  # in the order asked
        self.tried: dict[Address, None] = {}  # learned and reached, oldest first
        self.new: dict[Address, int] = {}  # learned, never reached -> its place in _new_order
        self._new_order: list[Address] = []  # the new addresses, so that one is drawn at random in O(1)
        self.labels: dict[Address, str] = {}  # names of dialled nodes, for events
        self.myself: set[Address] = set()  # addresses that turned out to be this node
        self.dialling: set[Address] = set()  # learned addresses being dialled right now
        self.down: dict[Address, str] = {}  # addresses whose last dial failed, and why
        self.failures: dict[Address, int] = {}  # learned: failed dials in a row
        self.retry_at: dict[Address, float] = {}  # learned: not dialled again before this loop time
        self.banned: dict[Address, str] = {}  # caught lying: address -> what it did
        self.replaced = 0  # new addresses pushed out by newer ones (a flood shows here)

    # --- what it holds -----------------------------------------------------------------

    @property
    def wanted(self) -> dict[Address, str]:
        """Every address it keeps connecting to: address -> "asked" or "learned"."""
        book = dict.fromkeys(self.new, "learned")
        book.update(dict.fromkeys(self.tried, "learned"))
        book.update(dict.fromkeys(self.asked, "asked"))
        return book

    def __len__(self) -> int:
        return len(self.asked) + len(self.tried) + len(self.new)

    def __contains__(self, address: object) -> bool:
        return address in self.asked or address in self.tried or address in self.new

    def is_learned(self, address: Address) -> bool:
        return address in self.tried or address in self.new

    def label(self, address: Address) -> str:
        return self.labels.get(address, format_address(address))

    # --- adding and removing -----------------------------------------------------------

    def ask(self, address: Address, label: str | None = None) -> bool:
        """Keep connected to ``address`` for ever; True if it was not asked for before (it needs
        a dial loop, toycoin.dialler). Nothing happens for a banned address."""
        if label:
            self.labels[address] = label
        if address in self.banned or address in self.asked:
            return False
        self._remove(address, keep_label=True)
        self.asked[address] = None
        return True

    def learn(self, address: Address, networks: Networks, own: Address | None = None) -> bool:
        """An address from an addr message: kept as new if it may be dialled and is not known;
        True if it was added. A full book replaces a random new address, never a tried one."""
        if (address in self or address == own or address in self.myself or address in self.banned
                or undialable(address, networks) is not None):
            return False
        if len(self.new) >= self.max_new:
            candidates = [a for a in (self.rng.choice(self._new_order) for _ in range(4))
                          if a not in self.dialling]
            if not candidates:
                return False  # every draw is being dialled right now: drop the newcomer instead
            self._remove(candidates[0])
            self.replaced += 1
        self.new[address] = len(self._new_order)
        self._new_order.append(address)
        return True

    def forget(self, address: Address) -> None:
        """Stop connecting to ``address`` (it may be learned again later)."""
        self._remove(address)

    def ban(self, address: Address, reason: str) -> None:
        """Never dial ``address`` again in this run."""
        self.banned.setdefault(address, reason)
        self._remove(address, keep_label=True)

    def mark_myself(self, address: Address) -> None:
        """``address`` is this node: never dial it again."""
        self.myself.add(address)
        self._remove(address)

    def _remove(self, address: Address, keep_label: bool = False) -> None:
        self.asked.pop(address, None)
        self.tried.pop(address, None)
        place = self.new.pop(address, None)
        if place is not None:  # swap the last one into its place
            last = self._new_order.pop()
            if last != address:
                self._new_order[place] = last
                self.new[last] = place
        for memory in (self.down, self.failures, self.retry_at):
            memory.pop(address, None)
        if not keep_label:
            self.labels.pop(address, None)

    # --- what dials tell it --------------------------------------------------------------

    def failed(self, address: Address, why: str, now: float | None = None) -> None:
        """The last dial of ``address`` failed (or its connection ended before a handshake).
        A learned address waits longer each time; a new one is dropped after a few failures."""
        if address not in self:
            return  # forgotten, banned or ourselves meanwhile
        self.down[address] = why
        if now is None or not self.is_learned(address):
            return
        failures = self.failures[address] = self.failures.get(address, 0) + 1
        if address in self.new and failures >= params.MAX_ADDRESS_FAILURES:
            self._remove(address)
            return
        delay = min(params.RECONNECT_DELAY_MIN * 2 ** (failures - 1), params.RECONNECT_DELAY_MAX)
        self.retry_at[address] = now + delay

    def reached(self, address: Address) -> None:
        """A handshake with ``address`` completed: a new address becomes tried."""
        self.down.pop(address, None)
        self.failures.pop(address, None)
        if address in self.new:
            label = self.labels.get(address)
            self._remove(address)
            if len(self.tried) >= self.max_tried:  # the oldest tried one goes
                self._remove(next(iter(self.tried)))
            self.tried[address] = None
            if label:
                self.labels[address] = label

    def closed(self, address: Address, now: float) -> None:
        """A connection to a learned address that completed its handshake has ended:
        redial it soon, as an asked one would be."""
        if self.is_learned(address):
            self.retry_at[address] = now + params.RECONNECT_DELAY_MIN

    def select(self, now: float, skip: Callable[[Address], bool]) -> tuple[Address | None, float | None]:
        """The learned address to dial next: tried ones first (they worked), then new ones in
        the order kept; none that ``skip`` rules out or that waits for its retry time.
        Returns (address, None), or (None, the earliest retry time, if any)."""
        earliest: float | None = None
        for address in itertools.chain(self.tried, self._new_order):
            if address in self.dialling or skip(address):
                continue
            at = self.retry_at.get(address, 0.0)
            if at <= now:
                return address, None
            earliest = at if earliest is None else min(earliest, at)
        return None, earliest
