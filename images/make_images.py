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
import random
from collections.abc import Callable
from pathlib import Path

from toycoin import params
from toycoin.blockdiagrams import chain_diagram, link_diagram
from toycoin.crowd import Crowd
from toycoin.diagrams import network_diagram
from toycoin.flood import FloodNode, flood_search
from toycoin.shapeviews import graph_diagram
from toycoin.picture import Picture
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.network import Network
from toycoin.node import course_genesis
from toycoin.pow import PowRules
from toycoin.pow import COURSE_POW
from toycoin.room import crawl_until, local_room
from toycoin.roomview import draw_room
from toycoin.spv import LightClient
from toycoin.relay import Relay
from toycoin.sync import BlockSync
from toycoin.tamper import TamperingNode, change_amount, recommit
from toycoin.tx import OutPoint
from toycoin.wallet import Wallet

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


def chapter_06_chain() -> Ledger:
    """The chain of chapter 06: Alice pays four friends in block 1, then Bob 1 a block up to 60."""
    alice, miner_address = PrivateKey.from_seed("alice"), PrivateKey.from_seed("miner").address
    bob = PrivateKey.from_seed("bob").address
    miner = Ledger(course_genesis())
    payments, coins = [], miner.unspent_for(alice.address)
    for i, friend in enumerate(["bob", "carol", "dave", "erin"]):
        tx = Wallet(alice).make_payment(coins, PrivateKey.from_seed(friend).address, 1 + i)
        payments.append(tx)
        coins = [(OutPoint(tx.txid, 1), tx.outputs[1])]  # the change, spent by the next payment
    miner.seal_block(payments, miner_address, 1_300_000_000)
    while miner.height < 60:
        tx = Wallet(alice).make_payment(miner.unspent_for(alice.address), bob, 1)
        miner.seal_block([tx], miner_address, 1_300_000_000 + 600 * miner.height)
    return miner


def light_wallet_fails_over() -> Picture:
    """Chapter 06 when A stops the second time: three plain nodes with its chain, two light wallets."""
    alice = PrivateKey.from_seed("alice")
    with Network(["A", "B", "C"], wallet_names=("alice",)) as net:
        net.start_all()
        net.mesh()
        for block in chapter_06_chain().blocks[1:]:  # handed to every node, as in the chapter
            for name in net.names:
                net[name].accept_block(block)
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


def tampered_block_breaks_the_links() -> Picture:
    names = ("alice", "bob", "mallory")
    with Network(["A", "B", "C"], services=[Relay, BlockSync], wallet_names=names) as net:
        net.start_all()
        net.mesh()
        alice, mallory = net.wallet("alice", "A"), net.wallet("mallory", "B")
        bob = PrivateKey.from_seed("bob").address
        for wallet, to, amount in [(alice, mallory.address, 40), (mallory, bob, 30), (alice, bob, 1),
                                   (alice, bob, 2), (alice, bob, 3), (alice, bob, 4)]:
            wallet.pay(to, amount)
            net.runtime.wait_until(lambda: len(net["A"].mempool) == 1, 10, "A has the payment")
            net["A"].seal()
            height = net["A"].height
            net.runtime.wait_until(lambda h=height: all(net[n].height == h for n in net.names), 10, "synced")
        m = net.add(TamperingNode("M", services=[Relay, BlockSync], discover=False, runtime=net.runtime))
        m.start()
        net.connect("M", "A")
        m.wait_until(lambda: m.height == 6, what="M has the chain")
        forged = change_amount(m.chain, 2, 1, 0, 3, key=PrivateKey.from_seed("mallory"))
        m.serve_chain(m.chain.with_block(2, recommit(forged)).blocks)
        chains = {name: net[name].ledger for name in ("A", "B", "C")} | {"M": m.chain}
        return link_diagram(chains, title="08: M edited block 2; the link from block 3 is broken")


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


def split_network_forks() -> Picture:
    with Network(["A", "B", "C", "D"], rules=COURSE_POW, services=[Relay, BlockSync]) as net:
        net.start_all()
        net.mesh()
        net["A"].seal()
        net.runtime.wait_until(lambda: all(net[n].height == 1 for n in net.names), 10, "block 1 everywhere")
        net.partition(["A", "B"], ["C", "D"])
        net.wait_settled()
        net["A"].seal()
        net["C"].seal()
        net["C"].seal()
        net.runtime.wait_until(lambda: net["B"].height == 2 and net["D"].height == 3, 10, "each side synced")
        miners = {PrivateKey.from_seed(f"miner {name}").address: name for name in net.names}
        return chain_diagram({name: net[name].ledger for name in net.names}, depth=3, names=miners,
                             title="10: split in two, each side seals its own branch")


def room_split_on_a_fork() -> Picture:
    """Chapter 12's room: five laptops as node processes, three in this process that cut their
    links to the others and seal a block of their own: two tips, two colours."""
    with local_room(5) as laptops:
        window = [laptops.join(name) for name in ("me", "nina", "omar")]
        laptops.crawl_until(lambda m: len(m.links()) == 28, timeout=30, what="a mesh of eight")
        for node in window:
            for process in laptops.processes.values():
                node.block(process)
        window[0].seal()
        window[0].wait_until(lambda: all(node.height == 1 for node in window), 10, "block 1 on one side")
        split = crawl_until([laptops.teacher.address, window[0].address],
                            lambda m: len(m.tips()) == 2 and len(m.nodes) == 8, timeout=30, what="two tips")
        return draw_room(split, teacher=laptops.teacher_address, title="12: the room split on a fork")


PICTURES: dict[str, Callable[[], Picture]] = {
    "network_03_one_node.png": one_node_down,
    "network_04_two_nodes.png": two_nodes_disagree,
    "network_05_three_nodes.png": three_nodes_one_killed,
    "network_06_spv_light_client.png": light_wallet_fails_over,
    "network_07_ledger_sync.png": new_node_syncing,
    "network_08_the_block_chain.png": tampered_block_breaks_the_links,
    "chain_09_proof_of_work.png": most_work_wins,
    "network_10_forks_and_reorganisation.png": split_network_forks,
    "network_11_network_shapes.png": flood_search_with_ttl_two,
    "room_12_classroom.png": room_split_on_a_fork,
}


def main() -> None:
    PrivateKey.from_seed("alice")  # fail early if toycoin is not importable
    for filename, make in PICTURES.items():
        make().save(str(HERE / filename))
        print("wrote", f"images/{filename}")


if __name__ == "__main__":
    main()
