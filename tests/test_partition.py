"""A partition switch: two halves that really cannot reach each other, then heal and agree.

The switch is a firewall between nodes (ConnMan.block): connections between
the groups close, dials are not made, and a connection that arrives anyway is
closed once its version names a blocked node. Healing lets the dial loops
reconnect, and on the proof-of-work network the branch with more work wins.
"""


import pytest

from toycoin.errors import NodeError
from toycoin.network import Network
from toycoin.peer import Limits
from toycoin.pow import COURSE_POW
from toycoin.relay import Relay
from toycoin.sync import BlockSync

FAST = Limits(handshake_timeout=2.0, frame_timeout=2.0, block_timeout=1.0)


@pytest.fixture
def net():
    network = Network(["A", "B", "C", "D"], wallet_names=(), rules=COURSE_POW, services=[Relay, BlockSync],
                      limits=FAST)
    network.start_all()
    network.mesh()
    yield network
    network.close()


def test_a_partition_cuts_the_connections_between_groups_and_keeps_them_cut(net):
    net.partition(["A", "B"], ["C", "D"])
    net.partition(["A", "B"], ["C", "D"])  # a state: twice is once
    net.wait_settled()
    assert net.groups == (("A", "B"), ("C", "D"))
    assert net["A"].peers == ("B",) and net["C"].peers == ("D",)
    assert ("A", "C") not in net.snapshot().links
    # A's side of the firewall holds on its own: C stops blocking and dials A (its dial loop still
    # wants A), and A turns the connection away as soon as C's version says who is calling.
    net["C"].unblock(net["A"])

    def turned_away():
        return any(e.kind == "disconnected" and "partitioned from C" in e.detail for e in net["A"].events)

    net.wait_until(turned_away, timeout=10, what="A turned C away")
    assert net["A"].peers == ("B",)


def test_both_halves_mine_and_healing_lets_the_most_work_win(net):
    net.partition(["A", "B"], ["C", "D"])
    net.wait_settled()
    net["A"].seal()
    for _ in range(3):
        net["C"].seal()
    net.wait_until(lambda: net["B"].height == 1 and net["D"].height == 3, timeout=10, what="each half synced")
    assert net["A"].ledger.tip_hash != net["C"].ledger.tip_hash
    net.heal()
    net.wait_settled()
    net.wait_until(lambda: len({net[n].ledger.tip_hash for n in net.names}) == 1, timeout=20,
                   what="every node on one chain")
    assert all(net[n].height == 3 for n in net.names)
    assert any(e.kind == "reorganized" for e in net["A"].events)


def test_a_partition_names_every_node_once(net):
    with pytest.raises(NodeError, match="partition\\(\\) takes every node once"):
        net.partition(["A", "B"], ["C"])


def test_a_slow_link_delays_every_frame():
    with Network(["A", "B"], wallet_names=()) as net:
        net.start_all()
        net.connect("A", "B")
        net["A"].link_delay = net["B"].link_delay = 0.2  # both directions
        assert net["A"].ping("B") >= 0.4  # a round trip crosses the link twice
        net["A"].link_delay = net["B"].link_delay = 0.0
        net["A"].ping("B")  # still connected
