"""Network: a set of named nodes on one machine, and pictures of them.

Notebooks and tests rarely want one node: they want "A, B and C, in a mesh",
then to kill B and look. A Network holds named members, each an in-process
Node or a NodeProcess (a real OS process), connects them in common shapes,
and takes snapshots that the views (toycoin.diagrams, toycoin.widgets) draw.

    Network(names, wallet_names=("alice", "bob"))
      add_node(name), add(node), add_process(name), node(name) or [name], names, members
      start_all(), stop_all(), close()          close() also kills processes
      start(name)                               and its peers here dial it at once
      connect(a, b), mesh(), star(center), wait_connected(), wait_settled()
      seal_together(*names)                     several sealers at once (nodes with a Relay)
      wait_until(predicate, timeout, what)      the one way to wait for the network
      partition(*groups), heal(), groups        a switch that splits the network, and mends it
      wallet(name, node)                        a WalletClient for PrivateKey.from_seed(name)
      attach(light_client)                      show a light wallet (toycoin.spv) and follow its events
      snapshot() -> NetworkSnapshot              frozen, for diagrams and widgets
      events(), subscribe(callback), unsubscribe(callback)   every node's events

    NetworkSnapshot(nodes, links, wallets, light_wallets, groups)
    NodeSnapshot (from toycoin.events): name, alive, height, tip_hex, balances, peers, is_process

A mesh of n nodes has n(n-1)/2 connections; a star has n-1, and its centre is
a single point of failure. Links in a snapshot are live, handshaked
connections, each pair sorted and the list sorted, so two snapshots of the
same network compare equal.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from toycoin.addrman import Address
from toycoin.block import Block
from toycoin.client import WalletClient
from toycoin.errors import NodeError
from toycoin.events import Event, LightSnapshot, NodeSnapshot
from toycoin.keys import PrivateKey
from toycoin.node import Node
from toycoin.process import NodeProcess
from toycoin.runtime import Runtime, get_runtime

Member = Node | NodeProcess
M = TypeVar("M", Node, NodeProcess)


class LightWallet(Protocol):
    """What a network needs of a light wallet it shows (toycoin.spv.LightClient is one)."""

    name: str

    def snapshot(self) -> LightSnapshot: ...

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]: ...

    def unsubscribe(self, callback: Callable[[Event], None]) -> None: ...

    @property
    def events(self) -> list[Event]: ...

    def stop(self) -> None: ...


__all__ = ["Network", "NetworkSnapshot", "NodeSnapshot"]


@dataclass(frozen=True)
class NetworkSnapshot:
    """The whole network at one moment; every collection is sorted."""

    nodes: tuple[NodeSnapshot, ...]
    links: tuple[tuple[str, str], ...]  # live handshaked connections, (a, b) with a < b
    wallets: tuple[tuple[str, str], ...]  # (wallet name, name of the node it talks to)
    light_wallets: tuple[LightSnapshot, ...] = ()  # each attached light wallet
    groups: tuple[tuple[str, ...], ...] = ()  # the partition's groups, or () when the network is whole

    def node(self, name: str) -> NodeSnapshot:
        return next(n for n in self.nodes if n.name == name)


class Network:
    """Named nodes sharing one runtime; the names label them in every picture."""

    def __init__(self, names: Iterable[str] = (), wallet_names: Iterable[str] = ("alice", "bob"),
                 runtime: Runtime | None = None, **node_options: Any) -> None:
        self.runtime = get_runtime(runtime)
        self.node_options = node_options  # passed to every Node: genesis, clock, limits...
        self._members: dict[str, Member] = {}
        self._labels = {PrivateKey.from_seed(name).address: name for name in wallet_names}
        self._wallets: dict[str, WalletClient] = {}
        self._wallet_nodes: dict[str, str] = {}
        self._requested: set[tuple[str, str]] = set()
        self._subscribers: list[Callable[[Event], None]] = []
        self._light: dict[str, LightWallet] = {}  # attached light wallets, by name
        self._partition: tuple[tuple[str, ...], ...] = ()  # groups that cannot reach each other
        for name in names:
            self.add_node(name)

    def __repr__(self) -> str:
        return f"Network({', '.join(self._members)})"

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- members ---------------------------------------------------------------------

    def add_node(self, name: str, **options: Any) -> Node:
        """A new in-process node (not started)."""
        node = self._add(name, Node(name, runtime=self.runtime, **{**self.node_options, **options}))
        for callback in self._subscribers:
            node.subscribe(callback)
        return node

    def add(self, node: Node) -> Node:
        """A node built elsewhere (a subclass, such as toycoin.liar.LyingNode), under its own name."""
        self._add(node.name, node)
        for callback in self._subscribers:
            node.subscribe(callback)
        return node

    def add_process(self, name: str, **options: Any) -> NodeProcess:
        """A new node that will run as its own OS process (not started). Its ``peers`` that are
        members are links the network expects up, as ``connect`` makes them (``wait_settled``)."""
        process = self._add(name, NodeProcess(name, runtime=self.runtime, **options))
        for address in process.peers_to_dial:
            peer = self.name_at(address)
            if peer is not None and peer != name:
                self._requested.add((min(name, peer), max(name, peer)))
        return process

    def _add(self, name: str, member: M) -> M:
        if name in self._members:
            raise NodeError(f"the network already has a node named {name!r}")
        self._members[name] = member
        return member

    def node(self, name: str) -> Member:
        """The member called ``name`` (a Node or a NodeProcess); also ``network[name]``."""
        return self[name]

    def __getitem__(self, name: str) -> Member:
        try:
            return self._members[name]
        except KeyError:
            raise NodeError(f"no node named {name!r}; the network has {self.names}") from None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._members)

    @property
    def members(self) -> dict[str, Member]:
        return dict(self._members)

    def start_all(self) -> None:
        for member in self._members.values():
            if not member.is_running:
                member.start()

    def start(self, name: str) -> None:
        """Start member ``name``; the in-process members that keep a link to it dial it at once,
        as if told it is back, instead of when their backoff says, and in the same step of the
        network thread: so it gets its peers back together, as it had them when it stopped."""
        member = self[name]
        member.start()
        linked = {b if a == name else a for a, b in self._requested if name in (a, b)}
        peers = [p for p in map(self._members.get, linked) if isinstance(p, Node) and p.is_running]
        here, address = [peer for peer in peers if peer.runtime is self.runtime], member.address
        self.runtime.call(lambda: [peer.dialler.retry(address) for peer in here])
        for peer in peers:
            if peer not in here:  # a node added with a runtime of its own
                peer.retry(member)

    def stop_all(self) -> None:
        for member in self._members.values():
            member.stop()

    def close(self) -> None:
        """Stop every light wallet and in-process node, kill every process: nothing is left behind.

        The in-process nodes stop together, in one step of the network thread:
        stopped one by one, each would see its peers go and redial them, or
        dial the addresses it learned to replace them, only to be stopped next.
        """
        for light_client in self._light.values():
            light_client.stop()
        nodes = [member for member in self._members.values() if isinstance(member, Node)]
        together = [node for node in nodes if node.runtime is self.runtime]

        async def stop_together() -> None:
            await asyncio.gather(*(node.shutdown() for node in together))

        self.runtime.run(stop_together())
        stopped = set(together)
        for member in self._members.values():
            if isinstance(member, NodeProcess):
                member.kill()
            elif member not in stopped:  # a node added with a runtime of its own
                member.stop()

    # --- shapes ----------------------------------------------------------------------

    def connect(self, a: str, b: str, wait: bool = True, timeout: float = 10.0) -> None:
        """Make ``a`` dial ``b`` and keep that connection (``b`` dials if ``a`` is a process)."""
        dialler, listener = self[a], self[b]
        if isinstance(dialler, NodeProcess):
            dialler, listener = listener, dialler
        if isinstance(dialler, NodeProcess):
            raise NodeError(f"{a} and {b} are both processes: give one the other with --peer")
        self._requested.add((min(a, b), max(a, b)))  # expected up, unless a partition cuts it
        dialler.connect(listener, wait=wait, timeout=timeout)

    def mesh(self, wait: bool = True, timeout: float = 20.0) -> None:
        """Connect every pair: n(n-1)/2 connections."""
        for a, b in itertools.combinations(self.names, 2):
            self.connect(a, b, wait=False)
        if wait:
            self.wait_connected(timeout)

    def star(self, center: str, wait: bool = True, timeout: float = 20.0) -> None:
        """Connect every other node to ``center`` only: n-1 connections.

        A star stays a star: the in-process members stop dialling addresses
        they learn (``node.discover = False``, like Bitcoin Core's -connect).
        """
        for member in self._members.values():
            if isinstance(member, Node):
                member.discover = False
        for name in self.names:
            if name != center:
                self.connect(name, center, wait=False)
        if wait:
            self.wait_connected(timeout)

    def partition(self, *groups: Iterable[str]) -> None:
        """Split the network: nodes of different groups block each other (their connections drop
        and stay refused) until ``heal()``. A state: the same call twice is one partition; a new
        call replaces the old one. Every node must be in a group, and run in this process."""
        named = [tuple(group) for group in groups]
        members = sorted(name for group in named for name in group)
        if members != sorted(self.names):
            raise NodeError(f"partition() takes every node once, in groups: got {members}, the network "
                            f"has {sorted(self.names)}")
        side = {name: i for i, group in enumerate(named) for name in group}
        nodes = {name: self._in_process(name, "partition") for name in self.names}
        for a, b in itertools.permutations(self.names, 2):
            (nodes[a].block if side[a] != side[b] else nodes[a].unblock)(nodes[b])
        self._partition = tuple(tuple(sorted(group)) for group in named)

    def heal(self) -> None:
        """End the partition: every node unblocks every other, and the dial loops reconnect."""
        for a, b in itertools.permutations(self.names, 2):
            self._in_process(a, "heal").unblock(self._members[b])
        self._partition = ()

    @property
    def groups(self) -> tuple[tuple[str, ...], ...]:
        """The groups of the current partition, or () when the network is whole."""
        return self._partition

    def _cut(self, a: str, b: str) -> bool:
        """Whether the partition keeps ``a`` and ``b`` apart."""
        return any((a in group) != (b in group) for group in self._partition)

    def _in_process(self, name: str, what: str) -> Node:
        member = self[name]
        if not isinstance(member, Node):
            raise NodeError(f"{what}() needs nodes in this process; {name} is an OS process")
        return member

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        """Wait until ``predicate()`` holds, checked on the network thread after every change;
        NodeError("timed out after ...s waiting until <what>") if it does not within ``timeout``."""
        self.runtime.wait_until(predicate, timeout, what or "a condition holds on the network")

    def wait_connected(self, timeout: float = 20.0) -> None:
        """Wait until every connection asked for, between running members, is handshaked."""
        def done() -> bool:
            return all(self._sees(a, b) and self._sees(b, a) for a, b in self._requested
                       if self[a].is_running and self[b].is_running and not self._cut(a, b))

        self.wait_until(done, timeout, "every requested connection is up at both ends")

    def wait_settled(self, timeout: float = 20.0) -> None:
        """Wait until the nodes agree on who is connected to whom.

        Every requested connection between running members is up at both
        ends, every link a node counts is counted by the other end too, and
        no running node still counts a stopped member as its peer
        (a peer notices a clean stop at once, a crash only when its socket
        says so). Views call this after stopping or starting a node, so that
        what they draw next is the state the network settles in, not a race.
        """
        def done() -> bool:
            running = {name for name, m in self._members.items() if m.is_running}
            in_process = [m for m in self._members.values() if isinstance(m, Node) and m.is_running]
            stale = any(set(node.peers) - running or any(self._cut(node.name, p) for p in node.peers)
                        for node in in_process)
            connected = all(self._sees(a, b) and self._sees(b, a) for a, b in self._requested
                            if a in running and b in running and not self._cut(a, b))
            # Links found by discovery too: a handshake half done is not yet agreed on.
            mutual = all(self._sees(peer, node.name) for node in in_process for peer in node.peers
                         if peer in running)
            return connected and mutual and not stale

        self.wait_until(done, timeout, "the nodes agree on who is connected")

    def _sees(self, name: str, peer: str) -> bool:
        """Whether ``name`` counts ``peer`` among its peers (a process is not asked)."""
        member = self._members[name]
        return isinstance(member, NodeProcess) or peer in member.peers

    def seal_together(self, *names: str) -> list[Block]:
        """Make each named node seal a block in the same instant (chapter 07's cliffhanger).

        All seal in one step of the network thread, so none has heard of the
        others' blocks yet: two sealers at once, and two ledgers that disagree.
        """
        nodes = [self[name] for name in names]
        return self.runtime.call(lambda: [node.seal() for node in nodes])

    # --- wallets and pictures --------------------------------------------------------

    def wallet(self, name: str, node: str) -> WalletClient:
        """The wallet of ``PrivateKey.from_seed(name)``, talking to ``node`` (rebinds if asked again)."""
        address = self[node].address
        client = self._wallets.get(name)
        if client is None:
            client = WalletClient(PrivateKey.from_seed(name), address, self.runtime, name=name)
            client.node_names = self.name_at
            self._wallets[name] = client
        client.node_address = address
        self._wallet_nodes[name] = node
        self._labels[client.address] = name
        return client

    def name_at(self, address: Address) -> str | None:
        """The name of the member listening (or last listening) at ``address``, if any."""
        for name, member in list(self._members.items()):
            try:
                if member.address == address:
                    return name
            except NodeError:  # never started: no address yet
                continue
        return None

    def attach(self, light_client: LightWallet) -> LightWallet:
        """Show a light wallet (a toycoin.spv.LightClient) in snapshots, attached to the node it
        asks, and pass its events to subscribers, so a panel redraws when it moves; returns it.

        Duck-typed (``name``, ``snapshot()``, ``subscribe``, ``stop()``): the network layer
        sits below toycoin.spv and does not import it. close() stops it.
        """
        self._light[light_client.name] = light_client
        for callback in self._subscribers:
            light_client.subscribe(callback)
        return light_client

    def snapshot(self) -> NetworkSnapshot:
        """Every member now: processes are asked over TCP, so call this outside callbacks."""
        members = list(self._members.items())  # a view's thread may draw while a cell adds a node
        addresses: dict[Address, str] = {}
        for name, member in members:
            if member.is_running:
                addresses[member.address] = name
        nodes = []
        for _, member in members:
            if isinstance(member, NodeProcess):
                nodes.append(member.snapshot(self._labels, addresses))
            else:
                nodes.append(member.snapshot(self._labels))
        alive = {n.name for n in nodes if n.alive}
        links = {(min(n.name, p), max(n.name, p)) for n in nodes if n.alive for p in n.peers if p in alive}
        wallets = tuple(sorted(self._wallet_nodes.items()))
        light = tuple(self._light[name].snapshot() for name in sorted(self._light))
        return NetworkSnapshot(tuple(sorted(nodes, key=lambda n: n.name)), tuple(sorted(links)),
                               wallets, light, self._partition)

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` for every event of every in-process node, now and added later.

        Called on the network thread: a view should only note that it must redraw.
        """
        self._subscribers.append(callback)
        for member in self._members.values():
            if isinstance(member, Node):
                member.subscribe(callback)
        for light_client in self._light.values():
            light_client.subscribe(callback)

    def unsubscribe(self, callback: Callable[[Event], None]) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)
        for member in self._members.values():
            if isinstance(member, Node):
                member.unsubscribe(callback)
        for light_client in self._light.values():
            light_client.unsubscribe(callback)

    def events(self) -> list[Event]:
        """Events of every in-process node and attached light wallet, in the order they happened."""
        merged = [e for m in self._members.values() if isinstance(m, Node) for e in m.events]
        merged += [e for light_client in self._light.values() for e in light_client.events]
        return sorted(merged, key=lambda e: e.seq)
