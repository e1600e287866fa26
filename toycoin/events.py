"""Events and snapshots: what a node reports about itself, for logs and pictures.

A node never prints. It records events, small frozen records of what
happened, numbered in one order across every node of a runtime, and it hands
out snapshots, frozen pictures of its state at one moment. Diagrams, widgets,
tests and notebooks read these; none of them reaches into a running node.

    Event           one thing that happened: started, connected, message in/out, block sealed...
    NodeSnapshot    a node right now: alive, height, tip, balances, peers, mempool, syncs
    LightSnapshot   a light wallet right now: the node it asks, its headers, its proven balance
    Recorder        base of whatever records events on a runtime (every peer of
                    toycoin.connman): events, subscribe, unsubscribe, wait_until, record

Events carry structured fields (kind, node, peer, command, direction), so a
notebook filters on fields (``e.kind == "send" and e.command == "inv"``),
never on the text of ``detail``, which is for people.

Recording must cost little: a node records every message it sends or
receives. So an event of a small message keeps the message, and its text is
made only if someone reads ``detail`` (toycoin.peer). And a log must not
grow without bound: a recorder keeps the newest events, at most
params.MAX_EVENTS and about params.MAX_EVENT_BYTES of them (each event counts
its ``footprint``), so a thousand nodes in one process keep a thousand small
logs, not a thousand logs of megabytes.

Bitcoin Core has the same two ideas: a debug log of categorised lines
(``-debug=net``) and RPC snapshots such as ``getpeerinfo`` and
``getblockchaininfo``.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass
from typing import TypeVar

from toycoin import params
from toycoin.runtime import Runtime

T = TypeVar("T")

# Measured on CPython 3.11 (tracemalloc): an event with its seq and its place in the log,
# and a small message (ping: 125 bytes, inv of one tx: 290, version: 224).
EVENT_BYTES = 128
MESSAGE_BYTES = 256


class Event:
    """Something a node saw happen. ``seq`` orders events across all nodes of a runtime.

    Frozen, and compared, hashed and shown by its fields, as a dataclass would
    be. ``detail`` may be given as a message rather than text: the text, its
    ``repr``, is made the first time someone reads it (most events never are).
    ``footprint`` is about how many bytes it keeps alive.
    """

    __slots__ = ("seq", "kind", "node", "peer", "_detail", "command", "direction", "_lazy")

    seq: int
    kind: str  # started, stopped, killed, opened, connected, disconnected, send, receive, ...
    node: str
    peer: str | None
    command: str | None  # for send and receive: the message's command ("inv", "tx"...)
    direction: str | None  # "in" or "out": received or sent; accepted or dialled

    def __init__(self, seq: int, kind: str, node: str, peer: str | None, detail: object,
                 command: str | None = None, direction: str | None = None) -> None:
        set_field = object.__setattr__  # frozen: fields are set once, here
        set_field(self, "seq", seq)
        set_field(self, "kind", kind)
        set_field(self, "node", node)
        set_field(self, "peer", peer)
        set_field(self, "_detail", detail)
        set_field(self, "command", command)
        set_field(self, "direction", direction)
        set_field(self, "_lazy", type(detail) is not str)

    @property
    def footprint(self) -> int:
        """About how many bytes this event keeps alive: itself, and its text or its message."""
        if self._lazy:  # even once its text is made: the recorder counts each event once, alike
            return EVENT_BYTES + MESSAGE_BYTES
        return EVENT_BYTES + sys.getsizeof(self._detail)

    @property
    def detail(self) -> str:
        """What happened, for people: text, made from the message on first reading."""
        detail = self._detail
        if type(detail) is not str:
            detail = repr(detail)
            object.__setattr__(self, "_detail", detail)
        return detail

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not Event:
            return NotImplemented
        return _fields(self) == _fields(other)

    def __hash__(self) -> int:
        return hash(_fields(self))

    def __repr__(self) -> str:
        return (f"Event(seq={self.seq!r}, kind={self.kind!r}, node={self.node!r}, peer={self.peer!r}, "
                f"detail={self.detail!r}, command={self.command!r}, direction={self.direction!r})")

    def __str__(self) -> str:
        peer = f" {self.peer}" if self.peer else ""
        return f"{self.node} {self.kind}{peer}: {self.detail}"


def _fields(event: Event) -> tuple:
    """An event's fields in order, as a dataclass compares and hashes them."""
    return (event.seq, event.kind, event.node, event.peer, event.detail, event.command, event.direction)


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


@dataclass(frozen=True)
class LightSnapshot:
    """A light wallet now: the node it asks (or last asked), its headers, its proven balance."""

    name: str
    node: str | None  # the node it asks, or the last one it asked
    connected: bool  # False: that node does not answer, and no other does
    nodes: tuple[str, ...]  # every full node it has a live connection to, sorted
    header_height: int
    proven_balance: int | None  # None until balance() was asked
    banned: tuple[str, ...]  # nodes caught lying, sorted


class Recorder:
    """Keeps the latest events of one node or client, and calls subscribers with each new one."""

    def __init__(self, name: str, runtime: Runtime) -> None:
        self.name, self.runtime = name, runtime
        self._events: deque[Event] = deque()
        self._bytes = 0  # the footprints of the events kept
        self._subscribers: list[Callable[[Event], None]] = []

    def _read(self, fn: Callable[[], T]) -> T:
        """Read state on the loop thread; directly when already there (subscriber callbacks)."""
        return fn() if self.runtime.in_loop_thread() else self.runtime.call(fn)

    @property
    def events(self) -> list[Event]:
        """The most recent events, oldest first: at most params.MAX_EVENTS, taking about at
        most params.MAX_EVENT_BYTES (Event.footprint)."""
        return self._read(lambda: list(self._events))

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on the network thread for every new event.

        The callback must be quick and may only read state (or set widget
        values). Returns a function that unsubscribes.
        """
        self._subscribers.append(callback)
        return lambda: self.unsubscribe(callback)

    def unsubscribe(self, callback: Callable[[Event], None]) -> None:
        """Stop calling ``callback`` (no error if it was not subscribed)."""
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        """Wait until ``predicate()`` holds (checked on the network thread); NodeError naming ``what``."""
        self.runtime.wait_until(predicate, timeout, what or f"a condition holds on {self.name}")

    def record(self, kind: str, peer: str | None, detail: object, *, command: str | None = None,
               direction: str | None = None) -> None:
        """Keep one event and hand it to every subscriber (network thread).

        ``detail`` is text, or a message whose ``repr`` becomes the text when read.
        """
        event = Event(self.runtime.next_seq(), kind, self.name, peer, detail, command, direction)
        self._keep(event)
        for callback in list(self._subscribers) if self._subscribers else ():
            try:
                callback(event)
            except Exception as error:  # a broken view must not break the node
                self._keep(Event(self.runtime.next_seq(), "subscriber error", self.name,
                                 None, f"{type(error).__name__}: {error}"))
        self.runtime.notify()

    def _keep(self, event: Event) -> None:
        """Add ``event`` to the log, forgetting the oldest ones beyond the log's bounds."""
        events = self._events
        events.append(event)
        self._bytes += event.footprint
        while len(events) > params.MAX_EVENTS or self._bytes > params.MAX_EVENT_BYTES:
            self._bytes -= events.popleft().footprint
