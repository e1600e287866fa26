"""Network: named nodes in a mesh or a star, and the snapshots the diagrams draw."""

import pytest

from toycoin import params
from toycoin.errors import NodeError
from toycoin.network import Network, NetworkSnapshot, NodeSnapshot

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def network():
    net = Network(["A", "B", "C"])
    net.start_all()
    yield net
    net.close()


def test_a_mesh_of_n_nodes_has_n_times_n_minus_1_over_2_links(network):
    network.mesh()
    snapshot = network.snapshot()
    assert snapshot.links == (("A", "B"), ("A", "C"), ("B", "C"))
    assert [network[name].connection_count for name in network.names] == [2, 2, 2]


def test_a_star_stays_a_star_and_its_centre_is_a_single_point_of_failure(network):
    network.star("A")
    for name in network.names:
        network[name].sync_with_ping()
    assert network.snapshot().links == (("A", "B"), ("A", "C"))
    network["A"].kill()
    network["B"].wait_until(lambda: network["B"].peers == (), what="B lost its only peer")
    assert network.snapshot().links == ()


def test_kill_one_node_of_a_mesh_and_the_rest_stay_connected(network):
    network.mesh()
    network["B"].kill()
    network["A"].wait_until(lambda: network["A"].peers == ("C",), what="A noticed B is gone")
    snapshot = network.snapshot()
    assert snapshot.links == (("A", "C"),)
    assert not snapshot.node("B").alive
    network["B"].restart()
    network.wait_connected()
    assert network.snapshot().links == (("A", "B"), ("A", "C"), ("B", "C"))


def test_snapshots_show_each_nodes_own_ledger(network):
    network.mesh()
    alice, bob = network.wallet("alice", "A"), network.wallet("bob", "B")
    alice.pay(bob.address, 10)
    snapshot = network.snapshot()
    assert isinstance(snapshot, NetworkSnapshot) and all(isinstance(n, NodeSnapshot) for n in snapshot.nodes)
    assert [n.name for n in snapshot.nodes] == ["A", "B", "C"]
    a, b = snapshot.node("A"), snapshot.node("B")
    assert (a.height, a.balances) == (1, (("alice", 90), ("bob", 10)))
    assert (b.height, b.balances) == (0, (("alice", 100), ("bob", 0)))
    assert a.tip_hex != b.tip_hex and a.peers == ("B", "C") and not a.is_process
    assert snapshot.wallets == (("alice", "A"), ("bob", "B"))
    assert network.snapshot() == snapshot  # nothing changed: equal snapshots


def test_a_single_node_can_draw_itself(network):
    names = {network.wallet("alice", "A").address: "alice"}
    assert network["A"].snapshot(names).balances == (("alice", 100),)


def test_events_of_all_nodes_merge_in_order(network):
    network.connect("B", "A")
    events = network.events()
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    first_version = next(e for e in events if "version" in e.detail)
    assert (first_version.node, first_version.kind) == ("B", "send")


def test_names_are_unique_and_unknown_names_are_clear_errors(network):
    with pytest.raises(NodeError, match="already has a node named 'A'"):
        network.add_node("A")
    with pytest.raises(NodeError, match="no node named 'Z'"):
        network["Z"]


def test_subscribers_hear_every_node_including_nodes_added_later(network):
    kinds = []
    network.subscribe(lambda event: kinds.append((event.node, event.kind)))
    d = network.add_node("D")
    d.start()
    network.connect("D", "A")
    d.wait_until(lambda: ("A", "connected") in kinds, what="A reported the connection")
    assert ("D", "started") in kinds
    network.unsubscribe(kinds.append)  # unknown callbacks are no error
    assert network.node("D") is d


def test_a_node_started_by_the_network_gets_all_its_peers_back_at_once(monkeypatch):
    # Backoff of a minute: a peer that waits for it would not be back within this test.
    monkeypatch.setattr(params, "RECONNECT_DELAY_MIN", 60.0)
    monkeypatch.setattr(params, "RECONNECT_DELAY_MAX", 60.0)
    with Network(["A", "B", "C"]) as net:
        net.start_all()
        net.mesh()  # A dials B and C, B dials C: C dials nobody
        net["C"].stop()
        for name in ("A", "B"):  # each has dialled C again, been refused, and now waits a minute
            net[name].wait_until(lambda n=name: any(e.kind == "connect failed" and e.peer == "C"
                                                    for e in net[n].events), what=f"{name} was refused")
        net.start("C")
        net.wait_until(lambda: set(net["C"].peers) == {"A", "B"}, timeout=10, what="C has both peers back")


def test_retry_cuts_only_a_backoff_short(monkeypatch):
    monkeypatch.setattr(params, "RECONNECT_DELAY_MIN", 60.0)
    monkeypatch.setattr(params, "RECONNECT_DELAY_MAX", 60.0)
    with Network(["A", "B", "C"]) as net:
        net.start_all()
        net.connect("A", "B")
        net["A"].retry(net["C"])  # never asked for: nothing to cut short, nothing dialled
        net["A"].retry(net["B"])  # connected: nothing to do
        net["A"].sync_with_ping()
        assert net["A"].peers == ("B",) and net["C"].peers == ()
        assert not any(e.kind == "connect failed" for e in net["A"].events)
        net["B"].stop()
        net["A"].wait_until(lambda: any(e.kind == "connect failed" for e in net["A"].events), what="refused")
        net["B"].start()  # started by hand: A is not told, and waits out its backoff
        net["A"].sync_with_ping()
        assert net["A"].peers == ()
        net["A"].retry(net["B"])
        net["A"].wait_until(lambda: net["A"].peers == ("B",), timeout=10, what="A dialled B at once")


def test_a_process_given_a_member_as_peer_is_a_link_the_network_waits_for():
    with Network(["A"]) as net:
        net.start_all()
        process = net.add_process("P", peers=[net["A"].address])
        process.start()
        net.wait_settled()
        assert net["A"].peers == ("P",)
        net["A"].stop()
        net.start("A")  # the process is not told: it redials A when its backoff says
        net.wait_settled()  # so this waits for it
        assert net["A"].peers == ("P",)
