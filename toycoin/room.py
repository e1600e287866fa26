"""Room: one network across a classroom, each student's laptop a node, the teacher's one of them.

Every laptop runs a node bound to its own LAN address (given explicitly:
nothing listens on all interfaces) and joins through the teacher's node;
after that the teacher's node is one peer among many, and the room carries on
without it. The teacher sees the room by crawling it (toycoin.roommap). With
no LAN at hand, a room of real node processes on this machine's loopback
addresses plays the same part, one process per laptop.

    join(teacher, host=, name=)      a student's node in this process, joined to the teacher
    check_host(host, towards)        may a node listen on ``host``? (an address of this machine;
    address_towards(address)         the address this machine reaches ``address`` from; both from
                                     toycoin.cli, whose ``node`` command checks --host the same way)
    local_room(n)                    LocalRoom: n node processes on 127.0.0.2, 127.0.0.3, ...;
                                     its join(name) adds a node of this process as one more laptop
    loopback_hosts(n, base)          those addresses, or None where only 127.0.0.1 binds
    crawl, crawl_until, ask_status, RoomMap, NodeStatus, parse_address   from toycoin.roommap
    ROOM_COMMAND                     ``python -m toycoin room HOST:PORT``: the crawl, printed

Simplifications compared with Bitcoin: a Bitcoin node finds its first peers
through DNS seeds and a list of fixed addresses built into it; a classroom
has one well-known address, the teacher's.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
import weakref
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from toycoin.addrman import Address, format_address
from toycoin.cli import PROG, Command, address_towards, check_host
from toycoin.errors import NodeError
from toycoin.connman import check_name
from toycoin.mining import Miner, check_hashrate
from toycoin.node import Node
from toycoin.pow import COURSE_POW
from toycoin.process import NodeProcess
from toycoin.relay import Relay
from toycoin.roommap import (
    ROOM_PORT, AddressLike, NodeStatus, RoomMap, ask_status, crawl, crawl_until, inside, parse_address,
    room_networks, unreachable_hint,
)
from toycoin.runtime import Runtime, get_runtime
from toycoin.sync import BlockSync

__all__ = ["ROOM_PORT", "LocalRoom", "NodeStatus", "RoomMap", "address_towards", "ask_status", "check_host",
           "crawl", "crawl_until", "join", "local_room", "loopback_hosts", "parse_address"]

# --- joining a room from a notebook --------------------------------------------------------

# The nodes this process joined a room with, by name: a cell run twice joins once.
_joined: weakref.WeakValueDictionary[str, Node] = weakref.WeakValueDictionary()


def join(teacher: AddressLike, *, host: str, name: str, port: int = ROOM_PORT,
         networks: Iterable[str | ipaddress.IPv4Network] | str | None = None, mine: bool = False,
         hashrate: float | None = None, data_dir: str | Path | None = None,
         runtime: Runtime | None = None, timeout: float = 10.0) -> Node:
    """A student's node in this process: bound to ``host`` (this laptop's LAN address, always
    given), on the course's proof of work, with Relay, BlockSync and a Miner (mining at once if
    ``mine``, capped at ``hashrate``), connected to the teacher's node.

    ValueError for a wrong argument (a name where an address belongs, 0.0.0.0, an address of
    another machine, a name the teacher's node or one of its peers has already), NodeError for a
    teacher that cannot be reached (naming the port to open). Joining again under the name of a
    node this process joined with, which the room still has, returns that node (a cell run twice
    joins once), with the ``hashrate`` given now, mining if ``mine``.
    """
    check_name(name)
    check_hashrate(hashrate)
    teacher_address = parse_address(teacher, "teacher's address")
    check_host(host, teacher_address)
    nets = room_networks(networks, [host])
    if not inside(teacher_address, nets):
        lan = ipaddress.IPv4Network(f"{teacher_address[0]}/24", strict=False)
        raise ValueError(f"the teacher's node at {format_address(teacher_address)} is outside the networks "
                         f"this node dials ({', '.join(map(str, nets))}): check both addresses, or pass "
                         f"networks=['{lan}'] if the room spans both")
    try:
        teacher_status = ask_status(teacher_address, timeout=min(timeout, 5.0), runtime=runtime)
    except NodeError as error:
        raise NodeError(f"cannot join the room: {error}") from None
    ours = _joined.get(name)  # a cell run twice: the room still has the node it joined with
    if ours is not None and ours.is_running and \
            teacher_status.address_of(name) == format_address(ours.address):
        miner = ours.service(Miner)
        if hashrate is not None:
            miner.hashrate = hashrate
        if mine:
            miner.start()
        return ours
    where = teacher_status.named_elsewhere(name, host)
    if where is not None:  # two "ada"s on the map, and in every log, could not be told apart
        raise ValueError(f"the room already has a node named {name!r} (at {where}): "
                         f"choose a name nobody else has")
    node = Node(name, rules=COURSE_POW, host=host, port=port, data_dir=data_dir, runtime=get_runtime(runtime),
                services=[Relay, BlockSync, lambda: Miner(hashrate)], networks=nets)
    try:
        node.start()
    except NodeError as error:  # the port is taken, most likely by a node this laptop runs already
        raise NodeError(f"cannot join the room: {error}; stop the other node, or pass another port "
                        f"(port=0: any free one)") from None
    try:
        node.connect(teacher_address, timeout=timeout)
    except NodeError as error:
        node.stop()
        raise NodeError(f"cannot join the room: {error}; {unreachable_hint(teacher_address)}") from None
    if mine:
        node.service(Miner).start()
    _joined[name] = node
    return node


# --- the room from a terminal: python -m toycoin room HOST:PORT ------------------------------


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("start", nargs="+", type=_address_argument, metavar="HOST:PORT",
                        help="a node of the room to start from, e.g. the teacher's 192.168.1.10:8333")
    parser.add_argument("--network", action="append", default=None, metavar="CIDR",
                        help="a network the crawl may dial, e.g. 192.168.1.0/24 (repeatable; default: "
                             "the /24 around each start address, 127.0.0.0/8 for loopback)")
    parser.add_argument("--max-nodes", type=_above_zero(int), default=200, metavar="N",
                        help="ask at most N nodes")
    parser.add_argument("--timeout", type=_above_zero(float), default=3.0, metavar="SECONDS",
                        help="seconds each node may take to answer (default: 3)")


def _above_zero(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0")
        return value
    return parse


def _address_argument(text: str) -> Address:
    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _run(args: argparse.Namespace) -> int:
    """Print the crawl: one line per node, then the links, the tips and who could not be reached."""
    try:
        found = crawl(args.start, networks=args.network, max_nodes=args.max_nodes, timeout=args.timeout)
    except (NodeError, ValueError) as error:
        print(f"{PROG} room: error: {error}", file=sys.stderr)
        return 1
    print(found)
    tips = found.tips()
    which = "" if len(tips) < 2 else ": " + "; ".join(f"{t[:12]} {', '.join(n)}" for t, n in tips.items())
    print(f"{len(found.nodes)} nodes, {len(found.links())} links, {len(tips)} tip"
          f"{'' if len(tips) == 1 else 's'}{which}")
    for address, why in found.skipped.items():
        print(f"not asked  {address}  {why}")
    return 0


ROOM_COMMAND = Command("room", "print every node of a room reachable from HOST:PORT: name, address, "
                       "height, tip, peers, mining", _configure, _run)


# --- a room on this machine ------------------------------------------------------------------


def loopback_hosts(n: int, base: int = 2) -> list[str] | None:
    """127.0.0.{base}, ... n of them, if this system lets a program listen on each (Linux does;
    macOS configures only 127.0.0.1 unless told otherwise); None if one of them does not bind."""
    if not (1 <= base and base + n - 1 <= 254):
        raise ValueError(f"127.0.0.{base} to 127.0.0.{base + n - 1}: the last number must stay within "
                         "1..254")
    hosts = [f"127.0.0.{base + i}" for i in range(n)]
    for host in hosts:
        with socket.socket() as probe:
            try:
                probe.bind((host, 0))
            except OSError:
                return None
    return hosts


class LocalRoom:
    """Node processes on this machine, each playing one laptop; the first is the teacher's.

    ``distinct_addresses`` is False where the system offers only 127.0.0.1: then the laptops
    differ by port, and ``note`` says so (a line a chapter can print).
    """

    def __init__(self, processes: Sequence[NodeProcess], note: str | None, runtime: Runtime,
                 next_host: int = 0) -> None:
        self.processes = {p.name: p for p in processes}
        self.teacher = processes[0]
        self.note = note
        self.distinct_addresses = note is None
        self.runtime = runtime
        self.joined: list[Node] = []  # nodes of this process that joined the room (``join``)
        self._next_host = next_host  # the last number of the next loopback address to hand out

    def join(self, name: str, **options: Any) -> Node:
        """A node in this process that joins the room as one more laptop, as a student's notebook
        does (toycoin.room.join: ``mine``, ``hashrate``, ...), on the next loopback address (or
        on 127.0.0.1 with a port of its own); stopped with the room."""
        host = "127.0.0.1"
        if self.distinct_addresses:
            while self._next_host <= 254 and loopback_hosts(1, self._next_host) is None:
                self._next_host += 1
            if self._next_host <= 254:
                host, self._next_host = f"127.0.0.{self._next_host}", self._next_host + 1
        options.setdefault("runtime", self.runtime)
        node = join(self.teacher.address, host=host, name=name, port=0, **options)
        self.joined.append(node)
        return node

    def __repr__(self) -> str:
        running = sum(p.is_running for p in self.processes.values())
        return f"LocalRoom({len(self.processes)} laptops, {running} running)"

    def __getitem__(self, name: str) -> NodeProcess:
        return self.processes[name]

    @property
    def teacher_address(self) -> str:
        return format_address(self.teacher.address)

    @property
    def addresses(self) -> dict[str, str]:
        """Name -> "host:port" of every laptop (running or not)."""
        return {name: format_address(p.address) for name, p in self.processes.items()}

    def crawl(self, **options: Any) -> RoomMap:
        """The room as the teacher sees it (toycoin.roommap.crawl), from every laptop still running."""
        starts = [p.address for p in self.processes.values() if p.is_running]
        if not starts:
            raise NodeError("no laptop of the room is running")
        return crawl(starts, runtime=options.pop("runtime", self.runtime), **options)

    def crawl_until(self, predicate: Callable[[RoomMap], bool], **options: Any) -> RoomMap:
        """Crawl until ``predicate(map)`` holds (toycoin.roommap.crawl_until), from every laptop
        running now; NodeError after ``timeout`` naming ``what``."""
        starts = [p.address for p in self.processes.values() if p.is_running]
        return crawl_until(starts, predicate, runtime=options.pop("runtime", self.runtime), **options)

    def start(self) -> None:
        """Start the teacher's process, then every other, each told to join through the teacher
        (a state: laptops already running are left as they are). On failure, all stop again."""
        try:
            self.teacher.start()
            for process in self.processes.values():
                if process is not self.teacher:
                    process.peers_to_dial = [self.teacher.address]
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda p: p.start(), list(self.processes.values())[1:]))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process (a clean stop), all at once, and every node that joined."""
        for node in self.joined:
            node.stop()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda p: p.stop(), self.processes.values()))

    close = stop

    def __enter__(self) -> LocalRoom:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def local_room(n: int, *, base: int = 2, names: Sequence[str] | None = None, port: int = 0,
               mine: bool = False, hashrate: float | None = None, runtime: Runtime | None = None,
               start: bool = True) -> LocalRoom:
    """``n`` node processes on 127.0.0.{base}, 127.0.0.{base+1}, ... (the first is the teacher's,
    the others join through it), on the course's proof of work; mining if ``mine``, each capped
    at ``hashrate``. Where only 127.0.0.1 binds, all listen there on ports of their own, and the
    room's ``note`` says so. Started unless ``start`` is False (then call its ``start()``)."""
    if n < 1:
        raise ValueError("a room has at least one laptop (the teacher's)")
    names = list(names) if names is not None else ["teacher", *(f"laptop{i}" for i in range(1, n))]
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"give {n} different names, one per laptop")
    hosts, note = loopback_hosts(n, base), None
    if hosts is None:
        hosts, port = ["127.0.0.1"] * n, 0
        note = (f"only 127.0.0.1 can be bound on this machine (macOS configures no other loopback "
                f"address by default), so the {n} laptops share 127.0.0.1 and differ by port; to give "
                f"each its own address: sudo ifconfig lo0 alias 127.0.0.{base} up (and so on)")
    runtime = get_runtime(runtime)
    processes = [NodeProcess(name, host=host, port=port, pow=True, mine=mine, hashrate=hashrate,
                             runtime=runtime) for name, host in zip(names, hosts, strict=True)]
    room = LocalRoom(processes, note, runtime, next_host=base + n)
    if start:
        room.start()
    return room
