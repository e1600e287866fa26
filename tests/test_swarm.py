"""A swarm on loopback: chunks from many peers, a seeder killed, a corrupt peer, a tracker killed.

Every peer is a real TCP server on 127.0.0.1; every wait is on a condition.
"""

import random
import socket

import pytest

from toycoin import wire
from toycoin.chunks import ChunkedObject
from toycoin.errors import NodeError
from toycoin.msg_control import Verack, Version
from toycoin.msg_swarm import GetChunk
from toycoin.swarm import CorruptPeer, SwarmPeer
from toycoin.tracker import Tracker

pytestmark = pytest.mark.timeout(60)

OBJECT = ChunkedObject(random.Random(7).randbytes(16 * 1024), 1024)
SLOW = 20 * 1024  # bytes per second: a chunk every 50 ms


@pytest.fixture
def peers():
    made = []

    def make(name, cls=SwarmPeer, seeded=False, **options):
        peer = cls(name, OBJECT.manifest, rng=random.Random(name), **options)
        peer.start()
        if seeded:
            peer.seed(OBJECT)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.kill()


def test_a_leecher_fetches_every_chunk_from_several_seeders_and_checks_each(peers):
    seeders = [peers(f"S{i}", seeded=True, upload_rate=SLOW) for i in range(4)]
    leecher = peers("L")
    for seeder in seeders:
        leecher.connect(seeder, wait=False)
    leecher.wait_until(lambda: leecher.is_complete, 20, "L has the whole object")
    assert ChunkedObject.from_chunks(leecher.chunks, OBJECT.manifest).data == OBJECT.data
    senders = {a.peer for a in leecher.arrivals}
    assert senders == {"S0", "S1", "S2", "S3"}, "the download is split between the seeders"
    assert sorted(a.index for a in leecher.arrivals) == list(range(16))


def test_a_seeder_killed_mid_download_and_the_download_still_completes(peers):
    doomed, steady = peers("S1", seeded=True, upload_rate=SLOW), peers("S2", seeded=True, upload_rate=SLOW)
    leecher = peers("L")
    leecher.connect(doomed, wait=False)
    leecher.connect(steady, wait=False)
    leecher.wait_until(lambda: len(leecher.chunks) >= 4, 20, "L has 4 chunks")
    doomed.kill()
    leecher.wait_until(lambda: leecher.is_complete, 20, "L completes from S2 alone")
    assert ChunkedObject.from_chunks(leecher.chunks, OBJECT.manifest).data == OBJECT.data


def test_a_leecher_serves_chunks_before_it_has_finished(peers):
    seeder = peers("S", seeded=True, upload_rate=SLOW)
    a, b = peers("A"), peers("B")
    for leecher in (a, b):
        leecher.connect(seeder, wait=False)
    b.connect(a, wait=False)
    a.wait_until(lambda: a.is_complete and b.is_complete, 20, "A and B are complete")
    from_a_early = [x for x in b.arrivals if x.peer == "A" and not x.peer_complete]
    from_b_early = [x for x in a.arrivals if x.peer == "B" and not x.peer_complete]
    assert from_a_early or from_b_early, "no chunk came from a leecher that was still downloading"


def test_a_corrupt_chunk_is_caught_and_fetched_elsewhere(peers):
    liar = peers("C", cls=CorruptPeer, seeded=True)  # fast, so it is asked first
    honest = peers("S", seeded=True, upload_rate=SLOW)
    leecher = peers("L")
    leecher.connect(liar, wait=False)
    leecher.wait_until(lambda: leecher.bad_chunks, 10, "L caught a bad chunk")
    leecher.connect(honest, wait=False)
    leecher.wait_until(lambda: leecher.is_complete, 20, "L completes from S")
    peer, why = leecher.bad_chunks[0]
    assert peer == "C" and "does not match the object's Merkle root" in why
    assert {a.peer for a in leecher.arrivals} == {"S"}
    closed = [e for e in leecher.events if e.kind == "disconnected" and e.peer == "C"]
    assert closed and closed[0].detail.startswith("sent a bad chunk: chunk")
    assert liar.address in leecher.addrman.banned  # never dialled again
    assert ChunkedObject.from_chunks(leecher.chunks, OBJECT.manifest).data == OBJECT.data


def test_the_tracker_killed_newcomers_find_nobody_running_transfers_carry_on(peers):
    tracker = Tracker("T", rng=random.Random(1))
    tracker.start()
    try:
        seeder = peers("S", seeded=True, upload_rate=SLOW)
        seeder.find_peers(tracker.address)  # announces itself; nobody else yet
        early = peers("E")
        assert early.find_peers(tracker.address) == (f"127.0.0.1:{seeder.address[1]}",)
        early.wait_until(lambda: len(early.chunks) >= 2, 20, "E is downloading")
        assert tracker.peer_count(OBJECT.manifest.root) == 2
        tracker.kill()
        late = peers("N")
        with pytest.raises(NodeError, match="cannot reach the tracker: connection refused"):
            late.find_peers(tracker.address)
        early.wait_until(lambda: early.is_complete, 20, "E completes without the tracker")
        assert late.peers == () and late.chunks == {}
    finally:
        tracker.kill()


def test_addresses_a_tracker_gives_outside_our_networks_are_never_dialled(peers):
    peer = peers("L")
    given = [("8.8.8.8", 6881), ("127.0.0.7", 4000), peer.address, ("10.0.0.1", 80)]
    assert peer.dialable(given) == [("127.0.0.7", 4000)]


def dropped(peer):
    return [e.detail for e in peer.events if e.kind == "disconnected" and e.peer == "mallory"]


def test_a_hostile_chunk_request_costs_only_its_own_connection(peers):
    seeder = peers("S", seeded=True)
    with socket.create_connection(seeder.address, timeout=5) as mallory:
        mallory.sendall(wire.encode_frame(Version("mallory", 1, 0, 0)) + wire.encode_frame(Verack()))
        bad_index = OBJECT.manifest.root + (70_000).to_bytes(4, "little")
        header = wire.encode_frame(GetChunk(OBJECT.manifest.root, 0))[:4] + b"getchunk".ljust(12, b"\0")
        mallory.sendall(header + len(bad_index).to_bytes(4, "little") + wire.checksum(bad_index) + bad_index)
        seeder.wait_until(lambda: dropped(seeder), 5, "S dropped mallory")
    assert dropped(seeder) == [
        "malformed getchunk message: chunk index 70000 is beyond the largest object (4096 chunks)"]
    leecher = peers("L")
    leecher.connect(seeder, wait=False)
    leecher.wait_until(lambda: leecher.is_complete, 20, "S still serves everyone else")
