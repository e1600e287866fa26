"""Reading frames: every whole frame of a read is handled, and one deadline per connection.

A raw socket plays the peer, so the bytes arrive exactly as the test cuts them.
"""

import socket

import pytest

from toycoin import msg_control, wire
from toycoin.node import Node
from toycoin.peer import Limits

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def make_node():
    nodes = []

    def make(limits: Limits) -> Node:
        node = Node("A", limits=limits)
        node.start()
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.kill()


def handshaked(node: Node) -> socket.socket:
    sock = socket.create_connection(node.address, timeout=5)
    sock.sendall(wire.encode_frame(msg_control.Version("mallory", 42, 1, 0)))
    sock.sendall(wire.encode_frame(msg_control.Verack()))
    node.wait_until(lambda: "mallory" in node.peers, what="mallory is A's peer")
    return sock


def pongs(sock: socket.socket, count: int) -> list[int]:
    """Read frames until ``count`` pongs came; their nonces, in order."""
    nonces, data = [], b""
    while len(nonces) < count:
        chunk = sock.recv(65536)
        assert chunk, "A hung up"
        data += chunk
        while len(data) >= wire.HEADER_SIZE:
            header = wire.FrameHeader.parse(data[:wire.HEADER_SIZE])
            end = wire.HEADER_SIZE + header.length
            if len(data) < end:
                break
            message = wire.decode_payload(header.command, data[wire.HEADER_SIZE:end], wire.NODE_MESSAGES)
            if isinstance(message, msg_control.Pong):
                nonces.append(message.nonce)
            data = data[end:]
    return nonces


def disconnected(node: Node, reason: str) -> None:
    node.wait_until(lambda: any(e.kind == "disconnected" and e.peer == "mallory" and reason in e.detail
                                for e in node.events), what=f"mallory is dropped: {reason}")


def test_many_frames_in_one_read_and_one_frame_in_many(make_node):
    node = make_node(Limits())
    sock = handshaked(node)
    sock.sendall(b"".join(wire.encode_frame(msg_control.Ping(n)) for n in range(1, 51)))
    assert pongs(sock, 50) == list(range(1, 51))
    for byte in wire.encode_frame(msg_control.Ping(99)):
        sock.sendall(bytes([byte]))
    assert pongs(sock, 1) == [99]
    received = [e for e in node.events if e.kind == "receive" and e.command == "ping"]
    assert [e.detail for e in received][-2:] == ["ping(nonce=50)", "ping(nonce=99)"]
    sock.close()


def test_a_peer_silent_after_its_handshake_is_dropped_at_the_idle_deadline(make_node):
    node = make_node(Limits(handshake_timeout=5.0, idle_timeout=0.6, ping_interval=0.3))
    sock = handshaked(node)  # and then it never answers a ping
    disconnected(node, "peer went silent: read timed out")
    sock.close()


def test_a_header_split_across_reads_still_waits_only_the_frame_timeout_for_its_payload(make_node):
    node = make_node(Limits(frame_timeout=0.3))  # the idle timeout stays 20 minutes
    sock = handshaked(node)
    frame = wire.encode_frame(msg_control.Ping(7))
    sock.sendall(frame[:10])
    sock.sendall(frame[10:28])  # the header is whole; 4 of the payload's 8 bytes follow it
    disconnected(node, "peer went silent: read timed out")
    sock.close()
