"""Peer: one TCP connection to another node, as frames in and frames out.

This is the lower of the two networking layers (Bitcoin Core's test framework
calls it ``P2PConnection``). It turns bytes into messages and messages into
bytes, enforces every limit a hostile peer could abuse, and records what
happened; it knows nothing about what a message means, only which messages
exist (the registry it is given, toycoin.wire.NODE_MESSAGES by default). The
connection layer above it (toycoin.peerman) routes each message to one
``on_<command>`` handler.

    Limits        timeouts and caps, with defaults from toycoin.params
    Connection    reads frames until the peer goes away; send(), close(), abort()
    open_frames, serve_frames    dial and listen: asyncio's streams, whose bytes go
                  straight to the Connection (FrameProtocol)

What the connection refuses, and how:

    wrong magic, garbled command,
    oversize length, malformed payload    disconnect: the stream cannot be trusted
    before the handshake, a length over
    MAX_HANDSHAKE_PAYLOAD                  disconnect, before its payload is waited for
    bad checksum, unknown command,
    a frame its owner will not admit      drop the message, unparsed, and count it
    too many dropped or ignored messages   disconnect
    no header within the idle timeout,
    no payload within the frame timeout,
    no handshake within its deadline       disconnect
    a peer that does not read our sends    disconnect

A connection handles the bytes the socket gives it in the same step of the
event loop (asyncio calls FrameProtocol.data_received; no task is woken per
read), and every whole frame in them at once. A frame's header is checked as soon as its 24
bytes are in, before any wait for its payload: trusting a peer's length would
let it make us hold gigabytes, so an unfinished frame never takes more than
the length limit plus one read; and what arrives is appended in place, so a
frame sent a few bytes at a time costs no more than one sent whole (joining
bytes would copy the unfinished frame again for every read). A silent peer cannot hold a connection (and
its memory) for ever: each connection has one deadline, for the next header
(the idle timeout) or for the payload of a header that came (the frame
timeout). A frame that arrives whole moves the deadline without touching a
timer, so a busy connection costs no timer per message (Bitcoin Core checks
each peer's inactivity the same way, ``InactivityCheck``).

Before parsing a whole frame, the connection asks its owner whether to
(``admit(connection, header, payload)``: None, or why it is dropped), so what
a message means stays above this layer: before the handshake nothing but
version and verack is parsed, and a block nobody asked for is refused from
its first 80 bytes (toycoin.peerman, toycoin.sync). A send after the peer has
vanished (the socket already closing) is dropped here, not handed to asyncio,
which would log "socket.send() raised exception." for each one.

Every message sent or received is recorded as an event that holds the
message itself: its text (``repr``) is made only if someone reads the event.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from toycoin import params
from toycoin.errors import ParseError, ProtocolError
from toycoin.message import Message
from toycoin.wire import (
    HEADER_SIZE, NODE_MESSAGES, FrameHeader, MessageSet, checksum, decode_payload, encode_frame,
)


@dataclass(frozen=True)
class Limits:
    """What a node tolerates from a peer. Tests shorten the timeouts."""

    handshake_timeout: float = params.HANDSHAKE_TIMEOUT
    frame_timeout: float = params.FRAME_TIMEOUT
    idle_timeout: float = params.TIMEOUT_INTERVAL
    ping_interval: float = params.PING_INTERVAL
    max_connections: int = params.MAX_CONNECTIONS  # inbound and outbound together
    max_outbound: int = params.MAX_OUTBOUND_CONNECTIONS  # kept apart from inbound: see max_inbound
    max_ignored: int = params.MAX_IGNORED_MESSAGES
    max_send_buffer: int = params.MAX_SEND_BUFFER
    block_timeout: float = params.BLOCK_DOWNLOAD_TIMEOUT  # to deliver a block asked for
    tx_request_timeout: float = params.TX_REQUEST_TIMEOUT  # before asking another peer for a tx

    def __post_init__(self) -> None:
        if self.ping_interval >= self.idle_timeout:
            raise ValueError("ping_interval must be shorter than idle_timeout, or quiet peers get dropped")

    @property
    def max_inbound(self) -> int:
        """Inbound slots: what the outbound slots leave of max_connections (Bitcoin Core's
        m_max_inbound), so inbound peers can never take the slots a node dials out with."""
        return max(self.max_connections - self.max_outbound, 0)


READ_SIZE = 65536  # bytes asked of the socket at a time: every whole frame in them is handled

# log(kind, peer_label, detail, command=..., direction=...) and dispatch(connection, message),
# given by the owner (toycoin.events.Recorder.record and toycoin.peerman.PeerMan.dispatch);
# detail is text, or a message whose repr becomes the text when the event is read.
# admit(connection, header, payload): None to parse the frame, or why it is dropped unparsed
# (toycoin.peerman.PeerMan.admit).
LogFunction = Callable[..., None]
Dispatch = Callable[["Connection", Message], None]
Admit = Callable[["Connection", FrameHeader, bytes], "str | None"]


def _admit_all(conn: Connection, header: FrameHeader, payload: bytes) -> str | None:
    return None


def _detail(message: Message, payload_size: int) -> Message | str:
    """What an event keeps of a message: itself if small (its text made when read), else its text."""
    return message if payload_size <= params.MAX_LAZY_EVENT_PAYLOAD else repr(message)


class Connection:
    """One peer: frames, limits and events. ``run()`` returns when the connection ends."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        inbound: bool,
        label: str,
        dispatch: Dispatch,
        log: LogFunction,
        limits: Limits = Limits(),
        magic: bytes = params.NETWORK_MAGIC,
        messages: MessageSet = NODE_MESSAGES,
        delay: float = 0.0,
        admit: Admit = _admit_all,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.inbound = inbound
        self.label = label  # how events name the peer: an address until it says its name
        self.limits, self.magic, self.messages = limits, magic, messages
        self.delay = delay  # seconds each frame waits before it is written (a slow link)
        self._dispatch, self._log, self._admit = dispatch, log, admit
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.remote: tuple[str, int] = (peer[0], peer[1])
        self.handshaked = False  # set by the node once version and verack went both ways
        self.ignored = 0  # messages dropped or ignored so far
        self.close_reason: str | None = None
        self._pending = bytearray()  # bytes of frames not yet complete, appended to in place
        self._header: FrameHeader | None = None  # the first of them's header, once whole
        # Loop times: when it opened, and when the last whole frame came (eviction reads them).
        self.opened_at = self.last_received = 0.0

    @property
    def is_open(self) -> bool:
        return self.close_reason is None

    # --- sending ---------------------------------------------------------------------

    @property
    def _writable(self) -> bool:
        # The transport closes as soon as the peer resets, before the read loop hears of it.
        return self.is_open and not self.writer.transport.is_closing()

    def send(self, message: Message) -> None:
        """Queue one message for the peer (no-op once the connection or its socket is closing)."""
        if not self._writable:
            return
        frame = encode_frame(message, self.magic)
        if self.delay:
            asyncio.get_running_loop().call_later(self.delay, self._write_late, frame)
        else:
            self.writer.write(frame)
        self._log("send", self.label, _detail(message, len(frame) - HEADER_SIZE),
                  command=message.command.decode(), direction="out")
        if self.writer.transport.get_write_buffer_size() > self.limits.max_send_buffer:
            self.abort("peer does not read what we send: send buffer full")

    def _write_late(self, frame: bytes) -> None:
        if self._writable:
            self.writer.write(frame)

    # --- receiving -------------------------------------------------------------------

    async def run(self) -> str:
        """Read and dispatch messages until the connection ends; return why it ended."""
        loop = asyncio.get_running_loop()
        protocol = self.writer.transport.get_protocol()
        if not isinstance(protocol, FrameProtocol):
            raise TypeError("a Connection needs streams from open_frames() or serve_frames()")
        self._ended: asyncio.Future[None] = loop.create_future()
        self.opened_at = self.last_received = loop.time()
        handshake = loop.call_later(self.limits.handshake_timeout, self._check_handshake)
        self._deadline = loop.time() + self.limits.idle_timeout
        self._silence = loop.call_at(self._deadline, self._check_silence)
        try:
            protocol.attach(self)  # from here on, bytes arrive in feed() as they come
            await self._ended
        finally:
            handshake.cancel()
            self._silence.cancel()
            if self.close_reason is None:
                self.close("connection ended")
        assert self.close_reason is not None
        return self.close_reason

    def feed(self, data: bytes) -> None:
        """Bytes from the peer, as they arrive: every whole frame in them is handled at once."""
        if not self.is_open:
            return
        try:
            self._read_frames(data)
        except ProtocolError as error:
            self.close(str(error))

    def fed_eof(self, error: Exception | None = None) -> None:
        """The peer closed (``error`` None) or the connection broke."""
        if error is not None:
            self.close(f"connection lost: {getattr(error, 'strerror', None) or type(error).__name__}")
        elif self._pending:
            self.close("truncated frame, then the peer closed")
        else:
            self.close("peer closed")

    def _read_frames(self, data: bytes) -> None:
        """Handle every whole frame in what has arrived; keep the rest for the next bytes."""
        if self._pending:
            self._pending += data  # in place: the unfinished frame is not copied again for each read
            pending: bytes | bytearray = self._pending
        else:
            pending = data
        header = self._header  # the header of the first unfinished frame, once it is whole
        start, whole, had_header = 0, False, header is not None
        try:
            while self.is_open and len(pending) - start >= HEADER_SIZE:
                if header is None:
                    header = FrameHeader.parse(bytes(pending[start:start + HEADER_SIZE]), self.magic)
                    if not self.handshaked and header.length > params.MAX_HANDSHAKE_PAYLOAD:
                        raise ProtocolError(
                            f"a {header.command.decode()} message of {header.length:,} bytes before the "
                            f"handshake (at most {params.MAX_HANDSHAKE_PAYLOAD} until then)")
                end = start + HEADER_SIZE + header.length
                if len(pending) < end:
                    break  # its payload has not all arrived yet
                self._receive(header, bytes(pending[start + HEADER_SIZE:end]))
                start, header, whole = end, None, True
        finally:
            self._header = header
            if pending is self._pending:
                del pending[:start]  # CPython drops a bytearray's head without moving the rest
            else:
                self._pending = bytearray(pending[start:])
        now = asyncio.get_running_loop().time()
        if whole:
            self.last_received = now
        if header is not None and (whole or not had_header):
            self._wait_until(now + self.limits.frame_timeout)  # a new header: its payload must follow
        elif whole:
            self._deadline = now + self.limits.idle_timeout  # the timer catches up when it fires

    def _receive(self, header: FrameHeader, payload: bytes) -> None:
        """One whole frame: admitted, checked, parsed, recorded and dispatched, or dropped and counted."""
        refused = self._admit(self, header, payload)
        if refused is not None:
            self.ignore(refused)
            return
        if checksum(payload) != header.checksum:
            self.ignore(f"bad checksum on a {header.command.decode()} message")
            return
        try:
            message = decode_payload(header.command, payload, self.messages)
        except (ParseError, ValueError) as error:
            raise ProtocolError(f"malformed {header.command.decode()} message: {error}") from None
        if message is None:
            self.ignore(f"unknown command {header.command.decode()!r}")
            return
        self._log("receive", self.label, _detail(message, header.length),
                  command=message.command.decode(), direction="in")
        self._dispatch(self, message)

    def _wait_until(self, deadline: float) -> None:
        """Expect the next frame's bytes by ``deadline`` (one timer per connection, moved only earlier)."""
        self._deadline = deadline
        if self._silence.when() > deadline:
            self._silence.cancel()
            self._silence = asyncio.get_running_loop().call_at(deadline, self._check_silence)

    def _check_silence(self) -> None:
        # Frames move the deadline later without touching the timer; when it fires early, it re-arms.
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._silence = loop.call_at(self._deadline, self._check_silence)
        else:
            self.close("peer went silent: read timed out")

    def ignore(self, why: str) -> None:
        """Count a message that was dropped; too many of them end the connection."""
        self.ignored += 1
        self._log("ignored", self.label, why)
        if self.ignored >= self.limits.max_ignored:
            self.close(f"{self.ignored} messages ignored or dropped: {why}")

    def _check_handshake(self) -> None:
        if not self.handshaked:
            self.close(f"no handshake within {self.limits.handshake_timeout:g}s")

    # --- ending ----------------------------------------------------------------------

    def close(self, reason: str) -> None:
        """End the connection politely: what was queued is still sent, then FIN."""
        if self.close_reason is None:
            self.close_reason = reason
            self._end()
            self.writer.close()
            # A peer that never reads would hold a polite close open: reset it after a while.
            asyncio.get_running_loop().call_later(self.limits.frame_timeout, self._abort_if_stuck)

    def _end(self) -> None:
        ended = getattr(self, "_ended", None)  # run() may not have started
        if ended is not None and not ended.done():
            ended.set_result(None)

    def _abort_if_stuck(self) -> None:
        if self.writer.transport.get_write_buffer_size():
            self.abort(self.close_reason or "closing timed out")

    def abort(self, reason: str) -> None:
        """End the connection at once: the peer sees a reset (RST), like a crashed node."""
        if self.close_reason is None:
            self.close_reason = reason
        self._end()
        sock = self.writer.get_extra_info("socket")
        try:  # linger 0: closing sends RST instead of FIN and drops unsent data
            if sock is not None and sock.fileno() >= 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass  # the peer will see a plain close instead of a reset
        self.writer.transport.abort()

    async def wait_closed(self, timeout: float) -> None:
        """Wait for a polite close to finish, and abort if the peer stalls it."""
        try:
            await asyncio.wait_for(self.writer.wait_closed(), timeout)
        except (asyncio.TimeoutError, OSError):
            self.abort(self.close_reason or "closing timed out")


# --- opening connections -----------------------------------------------------------------

class FrameProtocol(asyncio.StreamReaderProtocol):
    """asyncio's stream protocol, with the bytes of a running Connection handed to it directly.

    A Connection reads whatever arrives in the same step of the loop: no task to wake per
    read. Bytes, an end of stream or an error that come before the Connection runs are kept
    (up to one message and one read) and handed over when it attaches.
    """

    def __init__(self, reader: asyncio.StreamReader,
                 client_connected: Callable[..., Any] | None = None) -> None:
        super().__init__(reader, client_connected)
        self.reader = reader
        self.transport: asyncio.BaseTransport | None = None
        self._conn: Connection | None = None
        self._early: list[bytes] = []
        self._early_size = 0
        self._early_end: tuple[Exception | None] | None = None

    def attach(self, conn: Connection) -> None:
        self._conn = conn
        early, self._early = self._early, []
        for data in early:
            conn.feed(data)
        if self._early_end is not None:
            conn.fed_eof(self._early_end[0])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._conn is not None:
            self._conn.feed(data)
            return
        self._early.append(data)
        self._early_size += len(data)
        if self._early_size > params.MAX_PROTOCOL_MESSAGE_LENGTH + HEADER_SIZE + READ_SIZE:
            self._early_end = (ProtocolError("peer sent too much before the connection was ready"),)
            if self.transport is not None:
                self.transport.abort()

    def eof_received(self) -> bool:
        self._ended_with(None)
        return bool(super().eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended_with(exc)
        super().connection_lost(exc)

    def _ended_with(self, error: Exception | None) -> None:
        if self._conn is not None:
            self._conn.fed_eof(error)
        elif self._early_end is None:
            self._early_end = (error,)


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_frames(host: str, port: int, *, local_addr: tuple[str, int] | None = None) -> Streams:
    """Dial (host, port): what asyncio.open_connection does, with a FrameProtocol.

    ``local_addr`` binds the socket's own end first (a node on 127.0.0.3 dials from there).
    The socket may reuse the address, as a listening node's does: a port the system lends
    to this dial is then no obstacle to a node that restarts on it while the dial lasts.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_SIZE)
    protocol = FrameProtocol(reader)
    if local_addr is None:
        transport, _ = await loop.create_connection(lambda: protocol, host, port)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(local_addr)
            sock.setblocking(False)
            await loop.sock_connect(sock, (host, port))
            transport, _ = await loop.create_connection(lambda: protocol, sock=sock)
        except BaseException:
            sock.close()
            raise
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def serve_frames(on_connection: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any],
                       host: str, port: int) -> asyncio.Server:
    """Listen on (host, port): what asyncio.start_server does, with a FrameProtocol."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: FrameProtocol(asyncio.StreamReader(limit=READ_SIZE), on_connection), host, port)
    if not server.sockets:  # asyncio skips an address whose socket() fails, as if of a wrong family
        server.close()
        socket.socket().close()  # raises the real reason (too many open files), if it still holds
        raise OSError(f"no socket could be made to listen on {host}:{port}")
    return server
