"""Room map: every node of a classroom network, drawn from what each node says of itself.

Nobody sees the whole network from one node, so the teacher asks: each node
answers ``getstatus`` (toycoin.msg_room) with its name, height, tip, peers and
whether it mines, and a crawl follows the peers each one names, breadth first.

    NodeStatus                       one node's answer, as text (addresses "host:port")
    RoomMap                          the crawl: nodes, unreachable, skipped; links(), names(),
                                     tips(), converged, lines()
    parse_address(text)              "host:port" or (host, port) -> (host, port), with clear errors
    room_networks(networks, hosts)   the networks a crawl or a student's node stays inside
    ask_status(address)              one node's status, over one short connection
    crawl(start, networks=...)       every node reachable from ``start`` inside ``networks``
    crawl_until(start, predicate)    crawl again and again until the map shows what is awaited

A crawl asks each node over its own short connection (toycoin.peerman's
``session``, announcing no services, so it is nobody's peer), a few at once,
never more than ``max_nodes``. It dials only inside ``networks`` (the /24 of
each start address unless told; 127.0.0.0/8 for loopback), whatever addresses
a node names, so a hostile node cannot send the teacher's crawl out of the
room; a status naming more peers than a node may have is refused as it is read.
toycoin.room joins a room and builds one on this machine.

Simplifications compared with Bitcoin: real crawlers (Bitnodes, DNS seeders)
learn the network from ``version`` and ``addr`` alone and cannot know who is
connected to whom; a classroom's nodes simply say.
"""

from __future__ import annotations

import asyncio
import time
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from toycoin.addrman import (
    Address, Networks, format_address, is_ipv4, local_networks, parse_networks, undialable,
)
from toycoin.errors import NodeError
from toycoin.msg_room import GetStatus, Status
from toycoin.peerman import PeerMan
from toycoin.runtime import Runtime

ROOM_PORT = 8333  # the port every laptop of a room listens on (Bitcoin's own), to open in firewalls
AddressLike = str | Address


@dataclass(frozen=True)
class NodeStatus:
    """What one node said about itself; ``address`` is where it was asked."""

    address: str
    name: str
    listen: str  # where it says it listens
    height: int
    tip_hex: str
    peers: tuple[tuple[str, str], ...]  # ("host:port", name), sorted
    mining: bool
    hashrate: float | None  # its miner's cap in hashes per second; None: no cap, or not mining
    blocks_found: int

    @classmethod
    def from_message(cls, address: Address, message: Status) -> NodeStatus:
        peers = tuple(sorted((format_address(a), name) for a, name in message.peers))
        return cls(format_address(address), message.name, format_address(message.address), message.height,
                   message.tip_hash[::-1].hex(), peers, message.mining, float(message.hashrate) or None,
                   message.blocks_found)

    @property
    def peer_addresses(self) -> tuple[str, ...]:
        return tuple(address for address, _ in self.peers)

    def address_of(self, name: str) -> str | None:
        """Where this node, or one of its peers, is named ``name`` ("host:port"), or None."""
        if name == self.name:
            return self.address
        return next((address for address, peer_name in self.peers if peer_name == name), None)

    def named_elsewhere(self, name: str, host: str) -> str | None:
        """``address_of(name)`` if that is on another laptop than ``host``, else None. The name
        at ``host`` itself is that laptop's node from before (restarted, or not yet dropped by
        its peers), unless ``host`` is 127.0.0.1, which every node of one machine shares."""
        where = self.address_of(name)
        if where is None or (host != "127.0.0.1" and where.rpartition(":")[0] == host):
            return None
        return where

    def line(self) -> str:
        """One line: name, address, height, tip prefix, peers, mining."""
        peers = ", ".join(sorted(name for _, name in self.peers)) or "none"
        mining = "mining" + (f" (cap {self.hashrate:g} hashes/s)" if self.hashrate else "") if self.mining \
            else "not mining"
        return (f"{self.name}  {self.address}  height {self.height}  tip {self.tip_hex[:12]}  "
                f"{len(self.peers)} peers ({peers})  {mining}")


@dataclass(frozen=True)
class RoomMap:
    """Every node a crawl reached, keyed by "host:port"; those it could not reach, and why; and
    addresses that nodes named but the crawl did not ask (outside the networks, over max_nodes)."""

    nodes: dict[str, NodeStatus]
    unreachable: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def links(self) -> set[frozenset[str]]:
        """Pairs of "host:port" that both ends report as connected."""
        return {frozenset((a, b)) for a, status in self.nodes.items() for b in status.peer_addresses
                if b != a and b in self.nodes and a in self.nodes[b].peer_addresses}

    def names(self) -> dict[str, str]:
        """"host:port" -> name, for every node reached."""
        return {address: status.name for address, status in sorted(self.nodes.items())}

    def tips(self) -> dict[str, tuple[str, ...]]:
        """Tip hash (hex) -> names of the nodes on it, sorted: one entry once the room agrees."""
        tips: dict[str, list[str]] = {}
        for status in self.nodes.values():
            tips.setdefault(status.tip_hex, []).append(status.name)
        return {tip: tuple(sorted(names)) for tip, names in sorted(tips.items())}

    @property
    def converged(self) -> bool:
        """Every node reached is on the same tip."""
        return len(self.tips()) == 1

    def lines(self) -> list[str]:
        """One line per node, by name, then one per address it could not reach."""
        lines = [s.line() for s in sorted(self.nodes.values(), key=lambda s: (s.name, s.address))]
        return lines + [f"unreachable  {a}  {why}" for a, why in sorted(self.unreachable.items())]

    def __str__(self) -> str:
        return "\n".join(self.lines())


# --- addresses ---------------------------------------------------------------------------


def parse_address(text: AddressLike, what: str = "address") -> Address:
    """'192.168.1.10:8333' or ('192.168.1.10', 8333) -> (host, port); ValueError naming the fix."""
    if isinstance(text, tuple) and len(text) == 2:
        host, port = text
        text = f"{host}:{port}"
    if not isinstance(text, str):
        raise ValueError(f"bad {what} {text!r}: expected host:port, e.g. 192.168.1.10:{ROOM_PORT}")
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        if is_ipv4(text.strip()):
            raise ValueError(f"bad {what} {text!r}: the port is missing, e.g. {text.strip()}:{ROOM_PORT}")
        raise ValueError(f"{text!r} is a name, not an address: give the {what} as host:port, "
                         f"e.g. 192.168.1.10:{ROOM_PORT} (the four numbers of its LAN address, and its port)")
    if not is_ipv4(host):
        raise ValueError(f"bad {what} {text!r}: {host!r} is not an IPv4 address (names are not looked "
                         f"up, as an addr message carries numbers only), e.g. 192.168.1.10:{ROOM_PORT}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad {what} {text!r}: the port is a number from 1 to 65535, "
                         f"e.g. {host}:{ROOM_PORT}")
    return host, int(port)


def room_networks(networks: Iterable[str | ipaddress.IPv4Network] | str | None,
                  hosts: Iterable[str]) -> Networks:
    """The networks given (CIDR text such as "192.168.1.0/24"), or those of ``hosts`` (the /24
    around a LAN address, 127.0.0.0/8 for loopback): toycoin.addrman's rules, as a node's."""
    if networks is None:
        return tuple(dict.fromkeys(n for host in hosts for n in local_networks(host)))
    return parse_networks(networks, "127.0.0.1")


def inside(address: Address, networks: Networks) -> bool:
    """Whether a node with these networks would dial ``address`` (toycoin.addrman.undialable)."""
    return undialable(address, networks) is None


def unreachable_hint(address: Address) -> str:
    """What to check when ``address`` cannot be reached: the node, then the firewall's port."""
    hint = f"if a node runs there, its firewall may block TCP port {address[1]}: open that port"
    if address[1] != ROOM_PORT:  # a typo in the port looks the same as a node that is not running
        hint += f" (or check the port: a room's nodes listen on {ROOM_PORT})"
    return hint


# --- asking and crawling -------------------------------------------------------------------


class _Asker:
    """One peer that asks nodes for their status, each over a short connection of its own."""

    def __init__(self, timeout: float, runtime: Runtime | None) -> None:
        # Announces no services: a node counts it as a wallet, not as a peer of the room.
        self.peer = PeerMan("room", listen=False, service_flags=0, learn_addresses=False, runtime=runtime)
        self.peer.answers.add(Status)
        self.peer.timeout = timeout

    async def ask(self, address: Address) -> Status:
        who = f"the node at {format_address(address)}"
        async with self.peer.session(address, who) as conn:
            reply = await self.peer.ask(conn, GetStatus(), (Status,), who)
        assert isinstance(reply, Status)
        return reply


def ask_status(address: AddressLike, *, timeout: float = 3.0, runtime: Runtime | None = None) -> NodeStatus:
    """The status of the node at ``address``; NodeError saying why it could not be asked."""
    where = parse_address(address)
    asker = _Asker(timeout, runtime)
    try:
        return NodeStatus.from_message(where, asker.peer.runtime.run(asker.ask(where), 4 * timeout))
    except NodeError as error:
        raise NodeError(f"{error}; {unreachable_hint(where)}") from None


def crawl(start: AddressLike | Sequence[AddressLike], *,
          networks: Iterable[str | ipaddress.IPv4Network] | str | None = None, max_nodes: int = 200,
          timeout: float = 3.0, runtime: Runtime | None = None, concurrency: int = 16) -> RoomMap:
    """Every node reachable from ``start`` (one address or several), breadth first, asked in
    parallel, only inside ``networks``, at most ``max_nodes`` asked.

    NodeError if no start address answers (naming the port to open); ValueError for a name or
    anything else that is not "host:port" where an address belongs.
    """
    if max_nodes < 1:
        raise ValueError(f"max_nodes is how many nodes a crawl may ask: at least 1, not {max_nodes}")
    if not timeout > 0:
        raise ValueError(f"timeout is the seconds a node may take to answer: above 0, not {timeout:g}")
    starts = [parse_address(start)] if isinstance(start, str) or _is_address(start) else \
        [parse_address(s) for s in start]  # type: ignore[union-attr]
    if not starts:
        raise ValueError("crawl needs a start address, e.g. 192.168.1.10:8333")
    nets = room_networks(networks, [host for host, _ in starts])
    asker = _Asker(timeout, runtime)
    room = asker.peer.runtime.run(_crawl(asker, list(dict.fromkeys(starts)), nets, max_nodes, concurrency),
                                  (max_nodes // max(concurrency, 1) + 2) * 4 * timeout + 10)
    if not room.nodes:
        first = starts[0]
        raise NodeError(f"{room.unreachable[format_address(first)]}; {unreachable_hint(first)}")
    return room


def _is_address(value: object) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int)


async def _crawl(asker: _Asker, starts: list[Address], networks: Networks, max_nodes: int,
                 concurrency: int) -> RoomMap:
    nodes: dict[str, NodeStatus] = {}
    unreachable: dict[str, str] = {}
    skipped: dict[str, str] = {}
    queue: asyncio.Queue[Address] = asyncio.Queue()
    seen: set[Address] = set()

    def consider(address: Address, asked: bool = False) -> None:
        key = format_address(address)
        if address in seen or key in skipped:
            return
        why = None if asked else undialable(address, networks)
        if why is not None:
            skipped[key] = why
        elif len(seen) >= max_nodes:
            skipped[key] = f"more than max_nodes={max_nodes} addresses"
        else:
            seen.add(address)
            queue.put_nowait(address)

    async def worker() -> None:
        while True:
            address = await queue.get()
            key = format_address(address)
            try:
                status = await asyncio.wait_for(asker.ask(address), 4 * asker.peer.timeout)
            except asyncio.TimeoutError:
                unreachable[key] = f"the node at {key} did not answer in time"
            except Exception as error:  # noqa: BLE001 - whatever a node does, the crawl goes on
                unreachable[key] = str(error) or type(error).__name__
            else:
                nodes[key] = NodeStatus.from_message(address, status)
                for peer_address, _ in status.peers:
                    consider(peer_address)
            finally:
                queue.task_done()

    for address in starts:
        consider(address, asked=True)
    workers = [asyncio.get_running_loop().create_task(worker()) for _ in range(max(concurrency, 1))]
    try:
        await queue.join()
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return RoomMap(dict(sorted(nodes.items())), dict(sorted(unreachable.items())),
                   dict(sorted(skipped.items())))


def crawl_until(start: AddressLike | Sequence[AddressLike], predicate: Callable[[RoomMap], bool], *,
                timeout: float = 30.0, what: str = "the room is as expected", interval: float = 0.25,
                node_timeout: float = 3.0, **options: Any) -> RoomMap:
    """Crawl until ``predicate(map)`` holds, and return that map: how a teacher (or a test) waits
    on the room. NodeError after ``timeout`` seconds, naming ``what`` and showing the last map. A
    crawl that finds no node counts as a map that does not hold (the room may be starting).
    ``node_timeout`` is each crawl's ``timeout``; ``options`` are the rest of crawl's."""
    deadline = time.monotonic() + timeout
    last: RoomMap | str = "no crawl finished"
    while True:
        try:
            last = crawl(start, timeout=node_timeout, **options)
            if predicate(last):
                return last
        except NodeError as error:
            last = str(error)
        if time.monotonic() >= deadline:
            raise NodeError(f"timed out after {timeout:g}s waiting until {what}; the room:\n{last}")
        time.sleep(interval)  # a crawl takes a moment of every node's time: not in a tight loop
