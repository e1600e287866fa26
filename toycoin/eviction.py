"""Eviction: which inbound peer gives up its slot when a new one arrives and every slot is taken.

A node keeps at most ``limits.max_inbound`` handshaked inbound connections
(toycoin.connman asks this module when one more finishes its handshake). Were the
newcomer simply refused, whoever opened that many sockets first and then sat
idle (it costs nothing) would keep every honest wallet and node out for as
long as the idle timeout allows, twenty minutes. So the node makes room, as
Bitcoin Core does (``AttemptToEvictConnection``): it protects the peers that
have shown something an attacker cannot fake cheaply, and closes one of the
rest.

    Candidate         what is known of one inbound connection
    select(candidates) the key of the one to close, or None if every one is protected
    netgroup(host)    the group a peer's address belongs to (an IPv4 /16)

Protected, in this order, each step taking peers out of the running:

    EVICTION_PROTECT_BLOCKS   those that most recently sent a new block (it had to be valid)
    EVICTION_PROTECT_TXS      those that most recently sent a new transaction (valid, and new)
    EVICTION_PROTECT_PINGS    the fastest round trips (distance cannot be faked)
    half of the rest          those connected longest (an attacker must have come early)

Outbound connections are never candidates: the node chose those peers itself.
Of the rest, a peer that has misbehaved (sent a message the node had to drop
or ignore: junk, a block nobody asked for, a request before its handshake)
goes first, as Bitcoin Core prefers to evict discouraged peers
(``m_prefer_evict``). Otherwise the largest group of addresses loses one peer,
so one attacker with many sockets from one network loses slots before anyone
else does.

One departure from Bitcoin Core: Core closes the youngest peer of that group.
On one machine (the course runs every node on 127.0.0.1) every peer is in the
same group, and the youngest is the wallet that has just arrived for one
question: an attacker reopening its sockets would close every wallet before
it is answered. toycoin closes the peer of that group that has been silent
longest (ties: the youngest), so a peer that is doing something keeps its
slot, and a squatter that wants to keep its sockets must keep them all busy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from toycoin import params


@dataclass(frozen=True)
class Candidate:
    """One inbound connection, as eviction sees it (times are the event loop's clock)."""

    key: Hashable  # what select() returns: the connection itself
    opened: float
    last_received: float  # when its last whole message came (opened, if none yet)
    last_block: float = 0.0  # when it last sent a block that joined our chain (0: never)
    last_tx: float = 0.0  # when it last sent a transaction that entered our mempool (0: never)
    min_ping: float = math.inf  # its fastest ping round trip, in seconds (inf: none measured)
    group: str = ""  # netgroup(host)
    misbehaved: bool = False  # it sent something the node dropped or ignored


def netgroup(host: str) -> str:
    """The group an address belongs to: an IPv4 /16, as Bitcoin Core groups IPv4 peers."""
    parts = host.split(".")
    return ".".join(parts[:2]) if len(parts) == 4 else host


def _protect(rest: list[Candidate], key: Callable[[Candidate], float], count: int) -> list[Candidate]:
    """Take out the ``count`` candidates with the highest ``key`` (ties: the longest connected)."""
    ranked = sorted(rest, key=lambda c: (key(c), -c.opened))
    return ranked[:max(len(ranked) - count, 0)]


def select(candidates: list[Candidate]) -> Hashable | None:
    """The key of the inbound connection to close to make room, or None if all are protected."""
    rest = _protect(candidates, lambda c: c.last_block, params.EVICTION_PROTECT_BLOCKS)
    rest = _protect(rest, lambda c: c.last_tx, params.EVICTION_PROTECT_TXS)
    rest = _protect(rest, lambda c: -c.min_ping, params.EVICTION_PROTECT_PINGS)
    rest = _protect(rest, lambda c: -c.opened, len(rest) // 2)  # the longest connected half
    if not rest:
        return None
    if any(c.misbehaved for c in rest):
        rest = [c for c in rest if c.misbehaved]
    groups: dict[str, list[Candidate]] = {}
    for candidate in rest:
        groups.setdefault(candidate.group, []).append(candidate)
    # The largest group; of equal ones, the one whose newest member is youngest (Core's tie-break).
    largest = max(groups.values(), key=lambda g: (len(g), max(c.opened for c in g)))
    return min(largest, key=lambda c: (c.last_received, -c.opened)).key
