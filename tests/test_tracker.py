"""The tracker: a central index on the one connection layer, and what it does with hostile input."""

import random
import socket

import pytest

from toycoin import wire
from toycoin.errors import ParseError
from toycoin.msg_control import Verack, Version
from toycoin.tracker import MAX_TRACKER_PEERS, Announce, GetPeers, Peers, Tracker

pytestmark = pytest.mark.timeout(30)
ROOT = bytes(range(32))


@pytest.fixture
def tracker():
    tracker = Tracker("T", rng=random.Random(0))
    tracker.start()
    yield tracker
    tracker.kill()


def talk(tracker, port, *messages):
    sock = socket.create_connection(tracker.address, timeout=5)
    sock.sendall(wire.encode_frame(Version(f"peer{port}", 1, port, 0)) + wire.encode_frame(Verack()))
    for message in messages:
        sock.sendall(wire.encode_frame(message))
    return sock


def test_announcers_are_answered_newest_first_without_the_asker(tracker):
    for port in (5001, 5002, 5003):
        with talk(tracker, port, Announce(ROOT)):
            tracker.wait_until(lambda p=port: ("127.0.0.1", p) in tracker.swarms.get(ROOT, {}), 5)
    assert tracker.peer_count(ROOT) == 3
    with talk(tracker, 5002, GetPeers(ROOT)) as sock:
        reader = sock.makefile("rb")
        while True:
            header = wire.FrameHeader.parse(reader.read(24))
            payload = reader.read(header.length)
            if header.command == b"peers":
                break
    assert Peers.parse(payload).addresses == (("127.0.0.1", 5003), ("127.0.0.1", 5001))


def test_a_malformed_question_is_a_clear_disconnect(tracker):
    with talk(tracker, 5004) as sock:
        short = wire.encode_frame(Announce(ROOT))
        header = short[:16] + (5).to_bytes(4, "little") + wire.checksum(ROOT[:5])
        sock.sendall(header + ROOT[:5])
        tracker.wait_until(lambda: reasons(tracker), 5, "the tracker dropped the peer")
    assert len(reasons(tracker)) == 1 and reasons(tracker)[0].startswith("malformed announce message")


def reasons(tracker):
    return [e.detail for e in tracker.events if e.kind == "disconnected" and e.peer == "peer5004"]


def test_an_answer_with_too_many_peers_does_not_parse():
    many = tuple(("127.0.0.1", 1000 + i) for i in range(MAX_TRACKER_PEERS + 1))
    with pytest.raises(ParseError, match=f"peers with 51 addresses \\(at most {MAX_TRACKER_PEERS}\\)"):
        Peers.parse(Peers(ROOT, many).serialize())
