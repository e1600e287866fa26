"""Dialler: which addresses a peer dials, when, and how often.

The dialling half of the connection layer: each toycoin.connman.ConnMan has
one (``peer.dialler``), and toycoin.addrman keeps the book it dials from.

    Dialler(owner)
      want(address, how, label, own)   keep connected: "asked", or "learned" from an addr message
      start()           on the owner's start: a loop per asked address, the dialler if needed
      outbound()        open outbound connections, plus learned dials in progress
      interval          seconds between two dials of learned addresses (DIAL_INTERVAL)
      attempts          learned dials started so far (for measurements)
    DialOwner           what it needs of its owner (a ConnMan)
    checked_address(address, networks, who)   the address to dial, or NodeError naming --network
    resolve(host, port, label)   a host name's IPv4 address, looked up once
    source_address(host, target) a node dials from the address it listens on
    dial_error(e)       a failed dial in a few words
    out_of_files(owner, e)  a dial that found no file descriptor: the runtime's waits fail at once

Two ways to dial, as in Bitcoin Core:

- An address it was asked to connect to (``connect``, ``--peer``: Core's
  -addnode) has a loop of its own that dials whenever no connection to it is
  open, waits a little longer after each failure (exponential backoff) and
  never gives up while the peer runs; ``retry`` cuts a wait short, for an
  owner told that the peer is back.
- Addresses it learned share ONE loop (Core's ThreadOpenConnections): while
  fewer than ``limits.max_outbound`` outbound connections are open or being
  dialled (and ``discover`` is on; False is Core's -connect), it asks the
  book for the next address (tried ones first), dials it as a task of its
  own, and waits ``interval`` before the next dial. An addr message full of
  addresses then costs one task and at most ten dials a second, not a task
  per address; a learned address that fails waits longer each time, and a
  new one that never answered is dropped after a few tries (toycoin.addrman).

Nothing is dialled that ``toycoin.addrman.undialable`` rules out: outside the
owner's ``networks``, 0.0.0.0, multicast, broadcast, link-local, port 0. The
last check is made just before each dial, whatever put the address in the book.

A dial under way when the peer stops is dropped, never served, so a stop
leaves no connection and no task behind. jamesob/tinychain dropped a peer
for ever after three failures; toycoin, like Bitcoin Core, keeps trying the
addresses it was asked for, and those that worked.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
from collections.abc import Coroutine
from typing import Any, Protocol

from toycoin import params
from toycoin.addrman import AddrMan, Address, Networks, format_address, is_ipv4, undialable
from toycoin.errors import NodeError
from toycoin.peer import Connection, Limits, Streams, open_frames
from toycoin.runtime import Runtime, raise_open_file_limit


class DialOwner(Protocol):
    """What a Dialler needs of the peer it dials for (toycoin.connman.ConnMan)."""

    addrman: AddrMan
    runtime: Runtime
    host: str
    networks: Networks
    discover: bool
    limits: Limits
    blocked: set[Address]
    timeout: float

    @property
    def is_running(self) -> bool: ...

    def connections(self) -> list[Connection]: ...

    def listen_address(self, conn: Connection) -> Address | None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task: ...

    def record(self, kind: str, peer: str | None, detail: Any = "", **fields: Any) -> None: ...

    def pulse(self) -> None: ...

    async def changed(self, timeout: float | None = None) -> None: ...

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    target: Address | None) -> bool: ...


def dial_error(error: BaseException) -> str:
    """A failed dial in a few words."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    if isinstance(error, socket.gaierror):  # before OSError's strerror: that one says little
        return f"the host name does not resolve ({error.strerror})"
    if getattr(error, "errno", None) == errno.EMFILE:
        return (f"too many open files (this process may open {raise_open_file_limit()}); "
                "raise the limit with `ulimit -n 65536` before starting")
    code = getattr(error, "errno", None)
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):  # asyncio's strerror only repeats the address
        return (f"{os.strerror(code).lower()}: no machine answers at that address "
                "(is it on this network, and switched on?)")
    if code and str(getattr(error, "strerror", "")).startswith("Connect call failed"):
        return os.strerror(code).lower()
    return getattr(error, "strerror", None) or type(error).__name__


def out_of_files(owner: DialOwner, error: BaseException) -> None:
    """A dial that failed for want of a file descriptor: waits on the runtime fail at once."""
    if getattr(error, "errno", None) in (errno.EMFILE, errno.ENFILE):
        owner.runtime.ran_out_of_files(asyncio.get_running_loop().time())


def source_address(host: str, target: Address) -> tuple[str, int] | None:
    """Where a node bound to ``host`` dials ``target`` from: its own host, so the peer sees (and
    passes on in addr messages) the address this node listens on. Without it a node on
    127.0.0.3 dials from 127.0.0.1, the system's choice, and a room of loopback addresses
    learns addresses where nobody listens. None (the system's choice) for 0.0.0.0, 127.0.0.1,
    a host name, or a target on the other side of loopback (a loopback host cannot reach a LAN)."""
    try:
        own, there = ipaddress.IPv4Address(host), ipaddress.IPv4Address(target[0])
    except ValueError:
        return None
    if own.is_unspecified or own.is_loopback != there.is_loopback or host == "127.0.0.1":
        return None  # 127.0.0.1: what the system chooses for a loopback target anyway
    return (host, 0)


def resolve(host: str, port: int, label: str) -> str:
    """``host`` if it is an IPv4 address, else the IPv4 address the name stands for (looked up
    once, here); NodeError if there is none."""
    if is_ipv4(host):
        return host
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        why = getattr(error, "strerror", None) or str(error)
        raise NodeError(f"cannot dial {label}: {host!r} is not an IPv4 address and does not resolve "
                        f"to one ({why}); give an IPv4 address, e.g. 127.0.0.1:{port}") from None
    return str(infos[0][4][0])


def checked_address(address: Address, networks: Networks, who: str, label: str | None = None) -> Address:
    """The address ``who`` may dial for ``address`` (a host name looked up once: addr messages
    and the book hold IPv4 addresses only); NodeError naming the fix if it may not be dialled."""
    label = label or format_address(address)
    host, port = resolve(address[0], address[1], label), address[1]
    why = undialable((host, port), networks)
    if why is None:
        return host, port
    anywhere = (ipaddress.IPv4Network("0.0.0.0/0"),)
    if undialable((host, port), anywhere) is None:  # an ordinary address, outside the networks
        wider = [*map(str, networks), str(ipaddress.IPv4Network(f"{host}/24", strict=False))]
        flags = " ".join(f"--network {n}" for n in wider)
        why += f"; to dial it, start {who} with networks={wider} (on the command line: {flags})"
    raise NodeError(f"{who} will not dial {label}: {why}")


class Dialler:
    """The dialling of one peer (state inside that peer only; runs on its network thread)."""

    def __init__(self, owner: DialOwner) -> None:
        self.owner = owner
        self.interval = params.DIAL_INTERVAL
        self.attempts = 0  # learned dials started
        self._task: asyncio.Task | None = None  # the one loop that dials learned addresses
        self._now: dict[Address, asyncio.Event] = {}  # set: dial that asked address without waiting

    @property
    def book(self) -> AddrMan:
        return self.owner.addrman

    def want(self, address: Address, how: str, label: str | None = None, own: Address | None = None) -> None:
        """Keep connected to ``address``: "asked" (checked by the caller, toycoin.connman.ConnMan.
        dial_address), or "learned" (kept only if it may be dialled, and is not ``own``)."""
        owner = self.owner
        if how == "asked":
            if self.book.ask(address, label):
                if owner.is_running:
                    owner.spawn(self._keep_connected(address))
            elif owner.is_running:
                owner.pulse()  # its loop waits for a change, and being asked again is one
        elif self.book.learn(address, owner.networks, own):
            self._wake()

    def start(self) -> None:
        """The owner has just started: dial what the book holds."""
        for address in self.book.asked:
            self.owner.spawn(self._keep_connected(address))
        self._wake()

    def retry(self, address: Address) -> None:
        """Dial an asked address at once, instead of at the end of its backoff (its owner was told
        the peer is back); nothing if it is not asked for or is connected."""
        if address in self._now:
            self._now[address].set()

    def outbound(self) -> int:
        """Open outbound connections, plus dials of learned addresses in progress (so a burst of
        addresses cannot overshoot ``max_outbound``)."""
        open_outbound = sum(1 for c in self.owner.connections() if not c.inbound and c.is_open)
        return open_outbound + len(self.book.dialling)

    def _linked(self) -> set[Address | None]:
        """Where the nodes it has an open connection to listen, handshaked or not."""
        return {self.owner.listen_address(c) for c in self.owner.connections() if c.is_open}

    async def _open(self, address: Address) -> Streams:
        """Dial ``address`` from the address this node listens on; OSError or TimeoutError if it
        cannot (and the runtime told if that was for want of a file descriptor)."""
        owner = self.owner
        try:
            return await asyncio.wait_for(
                open_frames(*address, local_addr=source_address(owner.host, address)), owner.timeout)
        except (OSError, asyncio.TimeoutError) as error:
            out_of_files(owner, error)
            raise

    def _refuse(self, address: Address, why: str) -> None:
        """The last check before a dial failed: drop the address, say so once."""
        self.owner.record("not dialled", self.book.label(address), why)
        self.book.forget(address)

    # --- addresses it was asked for: a loop each ------------------------------------------

    def _may_dial_asked(self, address: Address) -> bool:
        owner = self.owner
        return (address not in owner.blocked and address not in self._linked()
                and self.outbound() < owner.limits.max_connections)  # inbound peers never hold a dial back

    async def _keep_connected(self, address: Address) -> None:
        """Dial ``address`` whenever no connection to it is open, backing off on failure."""
        now = self._now[address] = asyncio.Event()  # ``retry`` cuts a wait short
        try:
            await self._dial_asked(address, now)
        finally:
            if self._now.get(address) is now:
                del self._now[address]

    async def _dial_asked(self, address: Address, now: asyncio.Event) -> None:
        """The loop itself: dial, serve the connection while it lasts, back off while it fails."""
        owner, book = self.owner, self.book
        delay, failing = params.RECONNECT_DELAY_MIN, False
        while address in book.asked and owner.is_running:
            if not self._may_dial_asked(address):
                await owner.changed()
                continue
            why = undialable(address, owner.networks)
            if why is not None:
                self._refuse(address, why)
                return
            try:
                reader, writer = await self._open(address)
            except (OSError, asyncio.TimeoutError) as error:
                if not failing:
                    owner.record("connect failed", book.label(address),
                                 f"{dial_error(error)}; retrying with backoff")
                book.failed(address, dial_error(error))
                failing, ok = True, False
            else:
                if not (owner.is_running and address in book.asked):
                    # Stopped (or forgotten) while dialling. stop() cancels this task, but on
                    # Python 3.11 and older wait_for loses a cancel that arrives as the dial
                    # completes and returns the connection (fixed in 3.12): serving it would
                    # leave a connection that stop() never closes, and stop() waiting for it.
                    writer.transport.abort()
                    return
                failing, ok = False, await owner.serve(reader, writer, address)
            finally:
                owner.pulse()  # a slot may be free for another address
            if ok:
                delay = params.RECONNECT_DELAY_MIN
                now.clear()
            elif owner.is_running:
                try:  # the backoff, unless ``retry`` says the peer is back
                    await asyncio.wait_for(now.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                now.clear()
                delay = min(2 * delay, params.RECONNECT_DELAY_MAX)

    # --- learned addresses: one dialler -----------------------------------------------------

    def _wake(self) -> None:
        """Start the dialler if there is something to dial and it is not running; else nudge it."""
        owner = self.owner
        if not owner.is_running:
            return
        if self._task is None:
            if self.book.tried or self.book.new:
                self._task = owner.spawn(self._dial_learned())
        else:
            owner.pulse()

    def _may_dial_learned(self) -> bool:
        owner = self.owner
        return owner.discover and self.outbound() < owner.limits.max_outbound  # inbound ones never count

    async def _dial_learned(self) -> None:
        """While a slot is free, dial the next learned address; one dial per ``interval``."""
        owner, book = self.owner, self.book
        loop = asyncio.get_running_loop()
        try:
            while owner.is_running and (book.tried or book.new):
                if not self._may_dial_learned():
                    await owner.changed(1.0)  # also notices ``discover`` turned back on
                    continue
                skip = self._linked() | owner.blocked
                address, retry_at = book.select(loop.time(), skip.__contains__)
                if address is None:
                    await owner.changed(None if retry_at is None else max(retry_at - loop.time(), 0.0))
                    continue
                why = undialable(address, owner.networks)
                if why is not None:
                    self._refuse(address, why)
                    continue
                book.dialling.add(address)  # holds one of the max_outbound slots
                self.attempts += 1
                owner.spawn(self._try(address))
                await asyncio.sleep(self.interval)
        finally:
            self._task = None

    async def _try(self, address: Address) -> None:
        """One dial of a learned address; serve the connection until it ends."""
        owner, book = self.owner, self.book
        loop = asyncio.get_running_loop()
        try:
            try:
                reader, writer = await self._open(address)
            except (OSError, asyncio.TimeoutError) as error:
                if address not in book.down:  # once, until it has worked again
                    owner.record("connect failed", book.label(address),
                                 f"{dial_error(error)}; retrying with backoff")
                book.failed(address, dial_error(error), loop.time())
                return
            book.dialling.discard(address)  # from here on it counts as an open connection
            if not (owner.is_running and book.is_learned(address)):
                writer.transport.abort()  # stopped, asked for or forgotten meanwhile (see above)
                return
            if await owner.serve(reader, writer, address):
                book.closed(address, loop.time())
            else:
                book.failed(address, "closed before the handshake", loop.time())
        finally:
            book.dialling.discard(address)
            owner.pulse()  # a slot is free for the next address
