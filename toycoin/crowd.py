"""Crowd: hundreds of peers of one kind in one process, wired at random, a share of them down.

Chapter 11 measures network shapes from 10 to 1,000 nodes. Each node is a
real peer (a flood node, a DHT node, a swarm peer) listening on its own port
of 127.0.0.1; a crowd starts them, wires them into a random graph, and sets a
share of them down, all from one thread, waiting on conditions.

    open_files_needed(n, links)  files a crowd of n nodes with that many links will hold
    Crowd(make, prefix, rng)     the peers, made by ``make(name)``
      add(count, links_each)     start ``count`` more; each dials ``links_each`` random earlier ones
      set_down(share)            the first share of a fixed random order is down, the rest up
    start_again(peer)            start a stopped peer on its old port, once nothing else holds it
      peers, running, links, names, stop()

Each node holds one file for its listening socket and one per connection
(two per link, one at each end, in the same process). At the common soft
limit of 1,024 open files, about 120 nodes of a mesh fail with "Too many open
files"; the hard limit is usually far higher, and a process may raise its
own soft limit up to it: the runtime does that when it starts
(toycoin.runtime.raise_open_file_limit, Unix only).

The random graph: node i dials ``links_each`` nodes drawn from the nodes
before it, so the graph is connected and its average degree is about twice
``links_each``; the draw comes from the crowd's seeded generator, so a run
repeats.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from toycoin.errors import NodeError
from toycoin.peerman import PeerMan

P = TypeVar("P", bound=PeerMan)


def start_again(peer: PeerMan, timeout: float = 10.0) -> None:
    """Start a stopped peer on its old port, waiting while something else holds that port.

    Every peer listens on a port the system picked from the same range it
    picks the local ports of outbound connections from: while a peer is down,
    another peer's dial may borrow its port for a moment. The port is free
    again when that connection closes, so the start is retried until then.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            peer.start()
            return
        except NodeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # a condition outside the network thread's view: poll it


def open_files_needed(nodes: int, links: int, spare: int = 64) -> int:
    """A listening socket per node, a socket at each end of each link, and some spare."""
    return nodes + 2 * links + spare


class Crowd(Generic[P]):
    """Many peers of one kind, named ``prefix`` + number, started and wired from one thread."""

    def __init__(self, make: Callable[[str], P], prefix: str = "n", rng: random.Random | None = None) -> None:
        self.make, self.prefix = make, prefix
        self.rng = rng or random.Random(0)
        self.peers: list[P] = []
        self.links: list[tuple[int, int]] = []  # (dialler, dialled) by index
        self._down_order: list[int] = []  # set_down takes its share from the front

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.peers]

    @property
    def running(self) -> list[P]:
        return [p for p in self.peers if p.is_running]

    def add(self, count: int, links_each: int = 0, timeout: float = 60.0) -> list[P]:
        """Start ``count`` more peers; each dials ``links_each`` earlier ones, drawn at random.

        Returns the new peers once every new link is up at both ends.
        """
        new = []
        for _ in range(count):
            index = len(self.peers)
            peer = self.make(f"{self.prefix}{index}")
            peer.start()
            self.peers.append(peer)
            self._down_order.insert(self.rng.randrange(len(self._down_order) + 1), index)
            for other in self.rng.sample(range(index), min(index, links_each)):
                peer.connect(self.peers[other], wait=False)
                self.links.append((index, other))
            new.append(peer)
        self.wait_linked(timeout)
        return new

    def wait_linked(self, timeout: float = 60.0) -> None:
        """Wait until every link between two running peers is up, and no link to a stopped one is."""
        if not self.peers:
            return
        up = {p.name for p in self.peers if p.is_running}
        wanted = {(self.peers[a].name, self.peers[b].name) for a, b in self.links
                  if self.peers[a].name in up and self.peers[b].name in up}

        def settled() -> bool:
            seen = {p.name: set(p.peers) for p in self.peers if p.name in up}
            if any(set(peers) - up for peers in seen.values()):
                return False  # someone still counts a connection to a stopped peer
            return all(b in seen[a] and a in seen[b] for a, b in wanted)

        last = len(self.peers) - 1
        self.peers[0].wait_until(settled, timeout, f"the links of {self.prefix}0..{self.prefix}{last} settle")

    def set_down(self, share: float, timeout: float = 60.0) -> list[str]:
        """Kill the first ``share`` of a fixed random order of the peers and restart the others.

        A state, not a toggle: the same share twice gives the same crowd.
        Returns the names of the peers that are down, sorted.
        """
        if not 0 <= share <= 1:
            raise ValueError("the share of nodes down is between 0 and 1")
        count = round(share * len(self.peers))
        down = set(self._down_order[:count])
        for index, peer in enumerate(self.peers):
            if index in down and peer.is_running:
                peer.kill()
            elif index not in down and not peer.is_running:
                start_again(peer, timeout)
        for a, b in self.links:
            if a not in down and b not in down:
                # Dialling a dead port of the ephemeral range can, rarely, connect a socket to itself
                # (TCP's simultaneous open); the dialler then takes that address for its own and
                # stops dialling it. Asking again is harmless when the link is fine.
                self.peers[a].connect(self.peers[b], wait=False)
        self.wait_linked(timeout)
        return sorted(self.peers[i].name for i in down)

    def stop(self) -> None:
        for peer in self.peers:
            peer.stop()
