"""A hostile peer on a raw socket: the node disconnects it and keeps serving everyone else.

Each test attacks node A while a well-behaved node B is connected to it. After
the attack, A must still be running, its ledger unchanged, B still answered,
and the attacker's connection closed (or, for a dropped message, still open).
"""

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from toycoin import msg_control, msg_wallet, params, wire
from toycoin.keys import PrivateKey
from toycoin.node import Node
from toycoin.peer import Limits
from toycoin.wallet import Wallet

pytestmark = pytest.mark.timeout(60)

LIMITS = Limits(handshake_timeout=1.0, frame_timeout=0.3)
ALICE = PrivateKey.from_seed("alice")


@pytest.fixture
def victim():
    a, b = Node("A", limits=LIMITS), Node("B", limits=LIMITS)
    a.start()
    b.start()
    bob = PrivateKey.from_seed("bob").address
    a.submit_tx(Wallet(ALICE).make_payment(a.ledger.unspent_for(ALICE.address), bob, 10))
    b.connect(a)
    before = (a.height, a.ledger.tip_hash, a.ledger.utxos)
    yield a
    assert a.is_running
    assert (a.height, a.ledger.tip_hash, a.ledger.utxos) == before, "the attack changed A's ledger"
    assert b.ping("A") > 0, "A stopped answering a well-behaved peer"
    assert a.peers == ("B",)
    a.kill()
    b.kill()


def frame(command: bytes, payload: bytes = b"", magic: bytes = params.NETWORK_MAGIC,
          length: int | None = None, checksum: bytes | None = None) -> bytes:
    length = len(payload) if length is None else length
    checksum = wire.checksum(payload) if checksum is None else checksum
    return magic + command.ljust(12, b"\0") + length.to_bytes(4, "little") + checksum + payload


def attacker(node: Node) -> socket.socket:
    sock = socket.create_connection(node.address, timeout=5)
    sock.settimeout(5)
    return sock


def assert_disconnected(sock: socket.socket, node: Node, reason: str, peer: str | None = None) -> None:
    """The node closes the socket (EOF or reset) and records why."""
    peer = peer or f"127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                break
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    node.wait_until(lambda: any(e.kind == "disconnected" and e.peer == peer and reason in e.detail
                                for e in node.events),
                    what=f"{peer} is disconnected because of {reason!r}")


def handshake(sock: socket.socket) -> None:
    sock.sendall(wire.encode_frame(msg_control.Version("mallory", 42, 1, 0)))
    sock.sendall(wire.encode_frame(msg_control.Verack()))


def test_garbage_bytes(victim):
    sock = attacker(victim)
    sock.sendall(os.urandom(200).replace(b"toyc", b"xxxx"))
    assert_disconnected(sock, victim, "wrong magic")


def test_wrong_magic(victim):
    sock = attacker(victim)
    version = msg_control.Version("mallory", 1, 1, 0).serialize()
    sock.sendall(frame(b"version", version, magic=b"\xf9\xbe\xb4\xd9"))
    assert_disconnected(sock, victim, "wrong magic f9beb4d9")


def test_oversize_length_is_refused_before_the_payload_is_read(victim):
    sock = attacker(victim)
    sock.sendall(frame(b"ping", length=0xFFFF_FFFF))  # 4 GB announced, nothing sent
    assert_disconnected(sock, victim, "exceeds the limit")


def test_bad_checksum_drops_the_message_but_not_the_peer(victim):
    sock = attacker(victim)
    version = msg_control.Version("mallory", 42, 1, 0).serialize()
    sock.sendall(frame(b"version", version, checksum=b"\0\0\0\0"))
    handshake(sock)  # the dropped version did not count: this one does
    victim.wait_until(lambda: any(e.kind == "connected" and e.peer == "mallory" for e in victim.events),
                      what="the handshake after a dropped message")
    assert any("bad checksum" in e.detail for e in victim.events if e.kind == "ignored")
    sock.close()


def test_truncated_frame_then_hang_up(victim):
    sock = attacker(victim)
    sock.sendall(frame(b"version", msg_control.Version("mallory", 1, 1, 0).serialize())[:30])
    sock.shutdown(socket.SHUT_WR)
    assert_disconnected(sock, victim, "truncated frame")


def test_truncated_frame_then_silence(victim):
    sock = attacker(victim)
    handshake(sock)
    sock.sendall(frame(b"ping", bytes(8))[:28])  # header promises 8 bytes, 4 arrive
    assert_disconnected(sock, victim, "read timed out", peer="mallory")


def test_thousands_of_junk_messages(victim):
    sock = attacker(victim)
    handshake(sock)
    junk = frame(b"junk", os.urandom(50)) * 5000
    try:
        sock.sendall(junk)
    except (BrokenPipeError, ConnectionResetError):
        pass  # disconnected while still sending: fine
    assert_disconnected(sock, victim, "messages ignored or dropped", peer="mallory")
    ignored = [e for e in victim.events if e.kind == "ignored"]
    assert len(ignored) == params.MAX_IGNORED_MESSAGES


def test_messages_before_the_handshake_are_ignored(victim):
    sock = attacker(victim)
    sock.sendall(wire.encode_frame(msg_wallet.GetUtxos(ALICE.address)) * 3)
    sock.sendall(wire.encode_frame(msg_control.Ping(1)))
    handshake(sock)
    sock.sendall(wire.encode_frame(msg_control.Ping(2)))
    # The only answers: version, verack and pong(2); no utxos, no pong(1).
    victim.wait_until(lambda: any(e.detail == "pong(nonce=2)" for e in victim.events), what="pong 2")
    sent = [e.detail for e in victim.events if e.kind == "send" and e.peer == "mallory"]
    assert not any(d.startswith("utxos") or d == "pong(nonce=1)" for d in sent)
    assert sum(e.detail.endswith("before the handshake") for e in victim.events) == 4
    sock.close()


def test_a_malformed_payload_of_a_known_command(victim):
    sock = attacker(victim)
    sock.sendall(frame(b"version", b"\x01\x02\x03"))
    assert_disconnected(sock, victim, "malformed version")


def test_a_silent_connection_misses_the_handshake_deadline(victim):
    sock = attacker(victim)
    assert_disconnected(sock, victim, "no handshake within 1s")


def test_a_second_version_is_a_protocol_error(victim):
    sock = attacker(victim)
    handshake(sock)
    sock.sendall(wire.encode_frame(msg_control.Version("mallory", 43, 1, 0)))
    assert_disconnected(sock, victim, "a second version message", peer="mallory")


def test_many_attackers_at_once(victim):
    socks = [attacker(victim) for _ in range(20)]
    for i, sock in enumerate(socks):
        sock.sendall(os.urandom(30) if i % 2 else frame(b"ping", length=10**9))
    for sock in socks:
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        sock.close()
    victim.wait_until(lambda: sum(e.kind == "disconnected" for e in victim.events) >= 20,
                      what="all 20 attackers disconnected")


def test_a_verack_before_version_acknowledges_nothing(victim):
    sock = attacker(victim)
    sock.sendall(wire.encode_frame(msg_control.Verack()))
    sock.sendall(wire.encode_frame(msg_control.Version("mallory", 42, 1, 0)))
    victim.wait_until(lambda: any(e.kind == "send" and e.command == "verack" and e.peer == "mallory"
                                  for e in victim.events), what="A answered the version")
    assert any(e.detail == "verack before version" for e in victim.events if e.kind == "ignored")
    assert not any(e.kind == "connected" and e.peer == "mallory" for e in victim.events)
    sock.sendall(wire.encode_frame(msg_control.Verack()))  # the verack that counts
    victim.wait_until(lambda: any(e.kind == "connected" and e.peer == "mallory" for e in victim.events),
                      what="the handshake, once the verack follows the version")
    sock.close()


def test_frames_split_byte_by_byte_are_read_whole(victim):
    sock = attacker(victim)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream = b"".join(wire.encode_frame(m) for m in (msg_control.Version("mallory", 42, 1, 0),
                                                      msg_control.Verack(), msg_control.Ping(3)))
    for i in range(len(stream)):
        sock.send(stream[i:i + 1])
        time.sleep(0.002)  # one segment each, most read one at a time
    victim.wait_until(lambda: any(e.detail == "pong(nonce=3)" for e in victim.events), what="pong 3")
    assert not any(e.kind == "ignored" for e in victim.events)
    sock.close()


def test_a_frame_that_trickles_in_costs_about_what_it_costs_whole():
    """The unfinished frame is appended to in place: joining bytes copied it again for every read,
    so a 1 MB frame in 10-byte reads cost 100,000 copies of up to 1 MB (2 s of CPU)."""
    import asyncio

    from toycoin.peer import Connection, FrameProtocol

    async def feed(piece: int) -> float:
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        reader = asyncio.StreamReader()
        protocol = FrameProtocol(reader)
        transport, _ = await loop.create_connection(lambda: protocol, *server.sockets[0].getsockname())
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        received = []
        conn = Connection(reader, writer, inbound=True, label="mallory", log=lambda *a, **k: None,
                          dispatch=lambda c, m: received.append(m))
        conn.handshaked = True
        running = asyncio.ensure_future(conn.run())
        await asyncio.sleep(0)
        payload = os.urandom(params.MAX_PROTOCOL_MESSAGE_LENGTH - 10_000)
        data = wire.encode_frame(msg_control.Ping(1)) + frame(b"junk", payload) + wire.encode_frame(
            msg_control.Ping(2))
        started = time.process_time()
        for at in range(0, len(data), piece):
            conn.feed(data[at:at + piece])
        spent = time.process_time() - started
        assert [m.nonce for m in received] == [1, 2] and conn.ignored == 1 and conn.is_open
        conn.close("done")
        await running
        server.close()
        return spent

    # A thread of its own: this one may hold a running loop already (the browser tests' driver).
    with ThreadPoolExecutor(1) as thread:
        assert thread.submit(asyncio.run, feed(10)).result() < 1.0  # about 0.1 s; joining bytes took 2 s


def test_answers_nobody_asked_for_are_not_kept():
    """A light wallet keeps a peer's answers only while it has a question open: a peer that
    sends headers without being asked is ignored (and dropped after MAX_IGNORED_MESSAGES),
    and the wallet's queue of answers stays empty."""
    from toycoin.msg_data import Headers
    from toycoin.node import course_genesis
    from toycoin.peerman import PeerMan
    from toycoin.runtime import Runtime

    runtime = Runtime("test-unasked")
    asker = PeerMan("asker", runtime=runtime)
    asker.answers.add(Headers)
    pusher = Node("pusher", runtime=runtime, limits=Limits(max_send_buffer=2**30))
    try:
        for peer in (asker, pusher):
            peer.start()
        asker.connect(pusher)
        header = course_genesis().header

        def push(count: int) -> None:
            runtime.call(lambda: [conn.send(Headers((header,) * 2000))
                                  for conn in pusher.connections() for _ in range(count)])

        def ignored() -> int:  # read on the network thread (wait_until's predicates run there)
            return sum(c.ignored for c in asker.connections() if c.is_open)

        push(50)  # fewer than it takes to be dropped: read, ignored, none kept
        asker.wait_until(lambda: ignored() == 50, timeout=10, what="the asker read the 50")
        assert runtime.call(lambda: [asker.state(c).replies.qsize() for c in asker.connections()]) == [0]
        push(100)
        asker.wait_until(lambda: asker.peers == (), timeout=10, what="the pusher is dropped")
        dropped = [e.detail for e in asker.events if e.kind == "disconnected"]
        assert any("answers no question" in d for d in dropped), dropped
    finally:
        for peer in (asker, pusher):
            peer.stop()
        runtime.close()
