"""Draw the README's pictures of the network, from real nodes.

    .venv/bin/python images/make_images.py

Each picture is the network of one chapter at its key moment, drawn by
toycoin.diagrams from a snapshot of live nodes started here on 127.0.0.1,
exactly as the notebooks draw them (from chapter 09 on, the nodes' chains,
drawn by toycoin.blockdiagrams). Nothing is drawn by hand. The browser
tests make the screenshots of the widget demos (images/demo_*.png) when run
with TOYCOIN_UPDATE_IMAGES=1.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from toycoin import params
from toycoin.blockdiagrams import chain_diagram
from toycoin.diagrams import network_diagram
from toycoin.picture import Picture
from toycoin.keys import PrivateKey
from toycoin.network import Network
from toycoin.pow import PowRules
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


def most_work_wins() -> Picture:
    """Two nodes apart: X seals 8 blocks at the easiest target, Y 6 that the difficulty rule makes harder."""
    steep = PowRules(spacing=600, retarget_interval=2)
    with Network(rules=steep, services=[Relay, BlockSync]) as net:
        seconds = itertools.count(params.GENESIS_TIMESTAMP + 1)  # Y stamps a block every second
        x, y = net.add_node("X"), net.add_node("Y", clock=seconds.__next__)
        net.start_all()
        for _ in range(8):
            x.seal()
        for _ in range(6):
            y.seal()
        work = {n.name: n.service(BlockSync).tree.work for n in (x, y)}
        miners = {n.miner_address: f"{n.name}'s miner" for n in (x, y)}
        return chain_diagram({"X": x.ledger, "Y": y.ledger}, depth=8, names=miners,
                             title=f"09: 8 easy blocks (work {work['X']:,}) lose to 6 harder ones "
                                   f"(work {work['Y']:,})")


PICTURES: dict[str, Callable[[], Picture]] = {
    "network_03_one_node.png": one_node_down,
    "network_04_two_nodes.png": two_nodes_disagree,
    "network_05_three_nodes.png": three_nodes_one_killed,
    "network_06_spv_light_client.png": light_wallet_fails_over,
    "network_07_ledger_sync.png": new_node_syncing,
    "chain_09_proof_of_work.png": most_work_wins,
}


def main() -> None:
    PrivateKey.from_seed("alice")  # fail early if toycoin is not importable
    for filename, make in PICTURES.items():
        make().save(str(HERE / filename))
        print("wrote", f"images/{filename}")


if __name__ == "__main__":
    main()
