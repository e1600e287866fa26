"""Views of syncing nodes: the diagram's sync arrows and mempools, the panel's progress bar."""

import pytest

from toycoin.diagrams import network_diagram
from toycoin.events import NodeSnapshot
from toycoin.network import NetworkSnapshot
from toycoin.widgets import status_text
from toycoin.relay import Relay
from toycoin.sync import BlockSync

pytestmark = pytest.mark.timeout(60)


def snapshot():
    a = NodeSnapshot("A", True, 40, "aa", (("alice", 90),), ("B", "C"), mempool_size=2, best_height=40)
    b = NodeSnapshot("B", True, 40, "aa", (), ("A", "C"), best_height=40)
    c = NodeSnapshot("C", True, 12, "cc", (), ("A", "B"), syncing_from=("A",), best_height=40)
    return NetworkSnapshot((a, b, c), (("A", "B"), ("A", "C"), ("B", "C")), ())


def test_the_diagram_draws_who_syncs_from_whom_with_heights_and_mempools():
    picture = network_diagram(snapshot())
    assert "link A -- C: C syncs from A" in picture.description
    assert "link B -- C" in picture.description.splitlines()
    assert "node A: up, height 40, mempool 2, alice 90" in picture.description
    assert "node C: up, height 12, syncing to 40" in picture.description
    source = picture.graph.source
    assert '"node-A" -- "node-C"' in source and "dir=forward" in source


def test_status_lines_name_the_mempool_and_the_sync_peers():
    lines = status_text(snapshot()).splitlines()
    assert lines[0] == "A: up, height 40, alice 90, 2 peers, mempool 2"
    assert lines[2] == "C: up, height 12, 2 peers, syncing from A"


def test_the_panel_shows_a_progress_bar_on_a_long_sync():
    from chains import MINER, grow

    from toycoin.network import Network
    from toycoin.widgets import NetworkPanel

    with Network(["A", "B"], wallet_names=(), services=[Relay, BlockSync],
                 miner_address=MINER.address) as net:
        net.start_all()
        net.mesh()
        panel = NetworkPanel(net)
        assert panel.progress.layout.visibility == "hidden"
        panel.buttons["B"].click()
        grow(net["A"], 60)
        panel.buttons["B"].click()
        net["B"].wait_until(lambda: net["B"].height == 60, what="B caught up")
        net["B"].sync_with_ping()
        assert panel.progress.layout.visibility == "visible"
        assert (panel.progress.value, panel.progress.max) == (60, 60)
        assert panel.progress.description == "B sync"
        panel.close()
