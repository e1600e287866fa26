"""A Kademlia DHT of real nodes on loopback: lookups find the closest nodes, k replicas survive deaths."""

import math
import random
import socket

import pytest

from toycoin import wire
from toycoin.crowd import Crowd
from toycoin.dht import DhtNode
from toycoin.kbucket import Contact, distance, key_id
from toycoin.msg_control import Verack, Version
from toycoin.msg_dht import FindNode, Nodes

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def dht():
    crowd = Crowd(lambda name: DhtNode(name, rng=random.Random(name)), prefix="d", rng=random.Random(4))
    for node in crowd.add(48):
        if node is not crowd.peers[0]:
            node.join(crowd.peers[0])
    yield crowd
    crowd.stop()


def true_closest(crowd, target, k):
    alive = [p for p in crowd.peers if p.is_running]
    return sorted((p.node_id for p in alive), key=lambda i: distance(i, target))[:k]


def test_a_lookup_finds_the_k_closest_nodes_in_about_log2_n_rounds(dht):
    rng = random.Random(1)
    rounds = []
    for i in range(10):
        target = key_id(f"target {i}".encode())
        found = rng.choice(dht.peers).lookup(target)
        wanted = true_closest(dht, target, 9)
        got = [c.node_id for c in found.closest]
        assert got == [x for x in wanted if x in got][:len(got)], "closest first"
        assert len(set(got) & set(wanted)) >= 7, f"lookup {i} missed most of the closest nodes"
        rounds.append(found.hops)
    assert max(rounds) <= 1.5 * math.log2(len(dht.peers))


def test_store_on_k_replicas_and_find_from_anywhere(dht):
    rng = random.Random(2)
    for i in range(8):
        key = key_id(f"item {i}".encode())
        assert rng.choice(dht.peers).store(key, f"value {i}".encode()) == 8
        holders = {p.node_id for p in dht.peers if key in p.values}
        assert holders == set(true_closest(dht, key, 8))
        found = rng.choice(dht.peers).find(key)
        assert found.value == f"value {i}".encode() and found.hops <= math.log2(len(dht.peers))


def test_lookups_survive_a_fifth_of_the_nodes_killed(dht):
    keys = [key_id(f"survivor {i}".encode()) for i in range(10)]
    for key in keys:
        dht.peers[1].store(key, b"kept")
    down = dht.set_down(0.2)
    try:
        assert len(down) == 10
        askers = [p for p in dht.peers if p.is_running]
        results = [askers[i % len(askers)].find(key) for i, key in enumerate(keys)]
        assert all(r.value == b"kept" for r in results)
        assert sum(r.failed for r in results) > 0, "some questions went to dead nodes and were routed around"
    finally:
        dht.set_down(0)


def test_hostile_answers_are_refused_or_filtered(dht):
    node = dht.peers[3]
    with socket.create_connection(node.address, timeout=5) as mallory:
        mallory.sendall(wire.encode_frame(Version("mallory", 1, 0, 0)) + wire.encode_frame(Verack()))
        payload = bytes(20) + b"\xfd" + (500).to_bytes(2, "little") + bytes(26 * 500)
        frame = wire.encode_frame(Version("x", 0, 0, 0))[:4] + b"nodes".ljust(12, b"\0")
        mallory.sendall(frame + len(payload).to_bytes(4, "little") + wire.checksum(payload) + payload)
        node.wait_until(lambda: any(e.kind == "disconnected" and e.peer == "mallory" for e in node.events),
                        5, "the node dropped mallory")
    reasons = [e.detail for e in node.events if e.kind == "disconnected" and e.peer == "mallory"]
    assert reasons == ["malformed nodes message: nodes with 500 contacts (at most 20)"]
    # Contacts outside the node's own networks are never kept, so never dialled.
    outside = Contact(key_id(b"evil"), "8.8.8.8", 53)
    inside = Contact(key_id(b"fine"), "127.0.0.9", 4000)
    assert node.runtime.call(node.dialable, (outside, inside)) == [inside]
    assert Nodes.parse(Nodes(bytes(20), (outside,)).serialize()).contacts == (outside,)
    assert FindNode.parse(FindNode(bytes(20), bytes(20)).serialize()) == FindNode(bytes(20), bytes(20))
