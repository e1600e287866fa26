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

from toycoin.diagrams import Picture, network_diagram
from toycoin.keys import PrivateKey
from toycoin.network import Network

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


PICTURES: dict[str, Callable[[], Picture]] = {
    "network_03_one_node.png": one_node_down,
    "network_04_two_nodes.png": two_nodes_disagree,
    "network_05_three_nodes.png": three_nodes_one_killed,
}


def main() -> None:
    PrivateKey.from_seed("alice")  # fail early if toycoin is not importable
    for filename, make in PICTURES.items():
        make().save(str(HERE / filename))
        print("wrote", f"images/{filename}")


if __name__ == "__main__":
    main()
