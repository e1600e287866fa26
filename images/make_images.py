"""Draw the README's pictures of the network, from real nodes.

    .venv/bin/python images/make_images.py

Each picture is the network of one chapter at its key moment, drawn by
toycoin.diagrams from a snapshot of live nodes started here on 127.0.0.1,
exactly as the notebooks draw them. Nothing is drawn by hand. The browser
tests make the screenshots of the widget demos (images/demo_*.png) when run
with TOYCOIN_UPDATE_IMAGES=1.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import random

from toycoin.crowd import Crowd
from toycoin.diagrams import network_diagram
from toycoin.flood import FloodNode, flood_search
from toycoin.shapeviews import graph_diagram
from toycoin.picture import Picture
from toycoin.keys import PrivateKey
from toycoin.network import Network
from toycoin.spv import LightClient
from toycoin.relay import Relay
from toycoin.sync import BlockSync

HERE = Path(__file__).resolve().parent


def one_node_down() -> Picture:
    with Network(["server"]) as net:
        net.start_all()
        alice, bob = net.wallet("alice", "server"), net.wallet("bob", "server")
        alice.pay(bob.address, 10)
        net["server"].stop()
        return network_diagram(net.snapshot(), title="03: the only server is down")


def two_nodes_disagree() -> Picture:
    with Network(["A", "B"]) as net:
        net.start_all()
        net.connect("B", "A")
        alice, bob = net.wallet("alice", "A"), net.wallet("bob", "B")
        alice.pay(bob.address, 10)
        return network_diagram(net.snapshot(), title="04: connected, and they disagree")


def three_nodes_one_killed() -> Picture:
    with Network(["A", "B"]) as net:
        net.start_all()
        net.connect("B", "A")
        c = net.add_process("C", host="127.0.0.1", peers=[net["A"].address])
        c.start()
        net.runtime.wait_until(lambda: "C" in net["B"].peers, 20, "the mesh has formed")
        c.kill()
        net.wait_settled()
        return network_diagram(net.snapshot(), title="05: C's process was killed; A and B carry on")


def light_wallet_fails_over() -> Picture:
    with Network(["A", "B", "C"], services=[Relay, BlockSync], wallet_names=("alice",)) as net:
        net.start_all()
        net.mesh()
        net.wallet("alice", "B").pay(PrivateKey.from_seed("bob").address, 10)
        net.runtime.wait_until(lambda: len(net["A"].mempool) == 1, 10, "A has the payment")
        net["A"].seal()
        net.runtime.wait_until(lambda: all(net[n].height == 1 for n in net.names), 10, "synced")
        alice = PrivateKey.from_seed("alice")
        first = net.attach(LightClient(alice, [net["A"].address], name="alice v1", discover=False))
        second = net.attach(LightClient(alice, [net["A"].address], name="alice v2"))
        first.start()
        second.start()
        second.wait_until(lambda: second.nodes == ("A", "B", "C"), what="v2 knows all three")
        first.balance(), second.balance()  # each checks its coins' proofs against its headers
        net["A"].stop()
        second.wait_until(lambda: second.node == "B", what="v2 moved to B")
        first.wait_until(lambda: not first.snapshot().connected, what="v1 noticed")
        net.wait_settled()
        return network_diagram(net.snapshot(), title="06: A is down: v1 is stuck, v2 moved to B")


def new_node_syncing() -> Picture:
    with Network(["A", "B", "C"], services=[Relay, BlockSync]) as net:
        net.start_all()
        net.mesh()
        for _ in range(30):
            net["A"].seal()
        net.runtime.wait_until(lambda: all(net[n].height == 30 for n in net.names), 20, "synced")
        moment: list = []

        def first_block(event: object) -> None:
            if getattr(event, "kind", "") == "block applied" and not moment:
                moment.append(net.snapshot())  # on the network thread: in-process nodes only

        d = net.add_node("D", discover=False)
        d.subscribe(first_block)
        d.start()
        d.connect(net["C"])
        d.wait_until(lambda: d.height == 30, timeout=30, what="D caught up")
        return network_diagram(moment[0], title="07: a new node, one block into its sync")


def flood_search_with_ttl_two() -> Picture:
    crowd = Crowd(lambda name: FloodNode(name, rng=random.Random(name)), prefix="f",
                  rng=random.Random("flood"))
    try:
        crowd.add(20, links_each=2)
        item = bytes(32)
        crowd.peers[17].add_item(item)
        search = flood_search(crowd.peers, crowd.peers[0], item, ttl=2)
        reached = [p.name for p in crowd.peers if p.saw(search.query_id)]
        names = [p.name for p in crowd.peers]
        return graph_diagram(names, [(names[a], names[b]) for a, b in crowd.links], origin="f0",
                             reached=reached, holders=["f17"], title="11: a flood with TTL 2 from f0")
    finally:
        crowd.stop()


PICTURES: dict[str, Callable[[], Picture]] = {
    "network_03_one_node.png": one_node_down,
    "network_04_two_nodes.png": two_nodes_disagree,
    "network_05_three_nodes.png": three_nodes_one_killed,
    "network_06_spv_light_client.png": light_wallet_fails_over,
    "network_07_ledger_sync.png": new_node_syncing,
    "network_11_network_shapes.png": flood_search_with_ttl_two,
}


def main() -> None:
    PrivateKey.from_seed("alice")  # fail early if toycoin is not importable
    for filename, make in PICTURES.items():
        make().save(str(HERE / filename))
        print("wrote", f"images/{filename}")


if __name__ == "__main__":
    main()
