"""Flooding search on a random graph of real nodes: the TTL bounds how far a query goes and what it costs."""

import random
import socket
from collections import deque

import pytest

from toycoin import wire
from toycoin.crowd import Crowd
from toycoin.flood import MAX_TTL, FloodNode, flood_search
from toycoin.msg_control import Verack, Version

pytestmark = pytest.mark.timeout(120)

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def crowd():
    crowd = Crowd(lambda name: FloodNode(name, rng=random.Random(name)), prefix="f", rng=random.Random(3))
    crowd.add(40, links_each=2)
    yield crowd
    crowd.stop()


def hops_from(crowd, start: int) -> dict[int, int]:
    """Breadth-first search over the wired links: hops from ``start`` to every node."""
    neighbours = {i: set() for i in range(len(crowd.peers))}
    for a, b in crowd.links:
        neighbours[a].add(b)
        neighbours[b].add(a)
    hops, queue = {start: 0}, deque([start])
    while queue:
        here = queue.popleft()
        for there in neighbours[here] - hops.keys():
            hops[there] = hops[here] + 1
            queue.append(there)
    return hops


def test_a_query_reaches_exactly_the_nodes_within_ttl_hops(crowd):
    hops = hops_from(crowd, 0)
    for ttl in (1, 2, 3, 6):
        search = flood_search(crowd.peers, crowd.peers[0], KEY, ttl)
        assert search.reached == sum(1 for h in hops.values() if h <= ttl), f"ttl {ttl}"


def test_a_search_that_reaches_everyone_costs_about_one_message_per_link_direction(crowd):
    links = len(crowd.links)
    n = len(crowd.peers)
    search = flood_search(crowd.peers, crowd.peers[0], KEY, MAX_TTL)
    assert search.reached == n
    # Each node passes the query to every neighbour but the one it came from (re-sends
    # with more hops left can add a few): at least 2*links - (n - 1), at most n times the degree.
    assert 2 * links - (n - 1) <= search.queries <= 2 * links + n


def test_success_depends_on_the_ttl(crowd):
    hops = hops_from(crowd, 0)
    far = max(hops, key=lambda i: (hops[i], i))
    holder = crowd.peers[far]
    holder.add_item(KEY)
    try:
        short = flood_search(crowd.peers, crowd.peers[0], KEY, hops[far] - 1)
        enough = flood_search(crowd.peers, crowd.peers[0], KEY, hops[far])
    finally:
        holder.runtime.call(holder.items.discard, KEY)
    assert short.holders == () and not short.found
    assert enough.holders == (holder.name,) and enough.hits == hops[far]  # the hit walks back hop by hop


def test_a_query_with_too_large_a_ttl_is_a_clear_disconnect(crowd):
    node = crowd.peers[5]
    with socket.create_connection(node.address, timeout=5) as mallory:
        mallory.sendall(wire.encode_frame(Version("mallory", 1, 0, 0)) + wire.encode_frame(Verack()))
        payload = (1).to_bytes(8, "little") + KEY + bytes([200])
        frame = wire.encode_frame(Version("x", 0, 0, 0))[:4] + b"query".ljust(12, b"\0")
        mallory.sendall(frame + len(payload).to_bytes(4, "little") + wire.checksum(payload) + payload)
        node.wait_until(lambda: any(e.kind == "disconnected" and e.peer == "mallory" for e in node.events),
                        5, "the node dropped mallory")
    reasons = [e.detail for e in node.events if e.kind == "disconnected" and e.peer == "mallory"]
    assert reasons == [f"malformed query message: query with ttl 200 (1 to {MAX_TTL})"]
    assert flood_search(crowd.peers, crowd.peers[0], KEY, MAX_TTL).reached == len(crowd.peers)


def test_killing_a_share_lowers_reach_and_restoring_it_heals(crowd):
    down = crowd.set_down(0.25)
    assert len(down) == 10
    again = crowd.set_down(0.25)  # a state, not a toggle
    assert again == down
    search = flood_search(crowd.peers, crowd.running[0], KEY, MAX_TTL)
    assert search.reached <= 30
    assert crowd.set_down(0) == []
    assert flood_search(crowd.peers, crowd.peers[0], KEY, MAX_TTL).reached == 40


def test_a_repeated_hit_is_ignored_and_not_passed_on():
    """A holder answers a query once: the same hit again is ignored, never kept or passed on."""
    from toycoin.flood import FloodNode, Hit
    from toycoin.runtime import Runtime

    runtime = Runtime("test-flood-repeats")
    origin, middle, liar = (FloodNode(n, runtime=runtime) for n in ("origin", "middle", "liar"))
    try:
        for node in (origin, middle, liar):
            node.start()
        origin.connect(middle)
        middle.connect(liar)
        query_id = origin.search(KEY, ttl=3)
        liar.wait_until(lambda: liar.saw(query_id), timeout=10, what="the query reached the liar")
        runtime.call(lambda: [conn.send(Hit(query_id, KEY, "liar"))
                              for conn in liar.connections() for _ in range(50)])
        origin.wait_until(lambda: origin.hits(query_id) == ("liar",), timeout=10, what="the hit came back")
        middle.wait_until(lambda: middle.hits_received == 50, timeout=10, what="the middle read them all")
        assert middle.hits_sent == 1 and origin.hits_received == 1
    finally:
        for node in (origin, middle, liar):
            node.stop()
        runtime.close()
