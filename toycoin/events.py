"""Events and snapshots: what a node reports about itself, for logs and pictures.

A node never prints. It records events, small frozen records of what
happened, numbered in one order across every node of a runtime, and it hands
out snapshots, frozen pictures of its state at one moment. Diagrams, widgets,
tests and notebooks read these; none of them reaches into a running node.

    Event           one thing that happened: started, connected, message in/out, block sealed...
    NodeSnapshot    a node right now: alive, height, tip, balances, peers, mempool, syncs

Bitcoin Core has the same two ideas: a debug log of categorised lines
(``-debug=net``) and RPC snapshots such as ``getpeerinfo`` and
``getblockchaininfo``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """Something a node saw happen. ``seq`` orders events across all nodes of a runtime."""

    seq: int
    kind: str  # started, stopped, killed, opened, connected, disconnected, send, receive, ...
    node: str
    peer: str | None
    detail: str

    def __str__(self) -> str:
        peer = f" {self.peer}" if self.peer else ""
        return f"{self.node} {self.kind}{peer}: {self.detail}"


@dataclass(frozen=True)
class NodeSnapshot:
    """What a node looks like right now; diagrams and widgets draw from this."""

    name: str
    alive: bool
    height: int  # -1 when unknown (a process that is down)
    tip_hex: str
    balances: tuple[tuple[str, int], ...]  # (label, coins), sorted by label
    peers: tuple[str, ...]  # names of live handshaked full-node peers, sorted
    is_process: bool = False
    mempool_size: int = 0  # payments accepted and not yet in a block
    syncing_from: tuple[str, ...] = ()  # peers it is downloading blocks from right now, sorted
    best_height: int = -1  # the highest height it knows of (its own, or a peer's while it syncs)
