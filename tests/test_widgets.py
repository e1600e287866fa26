"""The node-failure panel really stops and starts nodes, and shows it."""
import pytest

from toycoin.mining import Miner
from toycoin.network import Network
from toycoin.pow import COURSE_POW
from toycoin.widgets import MinerSwitch, NetworkPanel


@pytest.mark.timeout(60)
def test_stop_and_start_buttons_drive_real_nodes():
    with Network(["A", "B"]) as net:
        net.start_all()
        net.connect("A", "B")
        panel = NetworkPanel(net, title="test")
        try:
            button = panel.buttons["A"]
            assert button.description == "stop A"
            svg_before = panel.diagram.value
            button.click()
            assert not net["A"].is_running
            assert button.description == "start A"
            assert "A: down" in panel.status.value
            assert "B: up, height 0, alice 100, bob 0, 0 peers" in panel.status.value
            assert panel.diagram.value != svg_before
            button.click()
            assert net["A"].is_running and net["A"].peers == ("B",)
            assert "A: up, height 0, alice 100, bob 0, 1 peer" in panel.status.value
            assert panel.status_text().splitlines()[0].startswith("A: up")
        finally:
            panel.close()


@pytest.mark.timeout(60)
def test_panel_redraws_on_events_without_a_cell_running():
    with Network(["A", "B"]) as net:
        net.start_all()
        panel = NetworkPanel(net)
        try:
            assert "0 peers" in panel.status.value
            net.connect("A", "B")  # not through the panel: the panel hears events
            net.runtime.wait_until(lambda: "1 peer" in panel.status.value, 10, "the panel redrew")
        finally:
            panel.close()


def test_panel_text_repr_is_a_stable_summary():
    with Network(["A"]) as net:
        net.start_all()
        panel = NetworkPanel(net)
        try:
            bundle = panel._repr_mimebundle_()
            assert bundle["text/plain"] == "NetworkPanel\nA: up, height 0, alice 100, bob 0, 0 peers"
            assert "application/vnd.jupyter.widget-view+json" in bundle
        finally:
            panel.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("learner_clicks", [0, 1, 2])
def test_a_cell_sets_a_state_whatever_the_learner_clicked(learner_clicks):
    """panel.stop/start mean "down"/"up": a click before the cell, or two, change nothing."""
    with Network(["A", "B"]) as net:
        net.start_all()
        net.connect("A", "B")
        panel = NetworkPanel(net)
        try:
            for _ in range(learner_clicks):
                panel.buttons["A"].click()
            panel.stop("A")
            assert not net["A"].is_running and panel.buttons["A"].description == "start A"
            panel.stop("A")
            assert not net["A"].is_running
            panel.start("A")
            panel.start("A")
            assert net["A"].is_running and net["A"].peers == ("B",)
            assert panel.buttons["A"].description == "stop A"
        finally:
            panel.close()
def test_the_miner_switch_starts_and_stops_a_real_miner():
    with Network(["A"], rules=COURSE_POW, services=[lambda: Miner(hashrate=20_000)]) as net:
        net.start_all()
        switch = MinerSwitch(net["A"])
        try:
            assert switch.button.description == "start mining A"
            assert switch._repr_mimebundle_()["text/plain"] == "MinerSwitch\nA: not mining"
            switch.button.click()
            assert switch.miner.mining and switch.button.description == "stop mining A"
            net.wait_until(lambda: net["A"].height >= 2, timeout=20, what="A mined two blocks")
            switch.miner.stop()  # a state: the button follows it on refresh
            switch.refresh()
            assert switch.button.description == "start mining A" and "A: not mining" in switch.status.value
            switch.button.click()
            switch.button.click()
            assert not switch.miner.mining
        finally:
            switch.close()
def test_the_partition_switch_splits_and_heals_as_states():
    with Network(["A", "B", "C", "D"], wallet_names=()) as net:
        net.start_all()
        net.mesh()
        panel = NetworkPanel(net, split=(["A", "B"], ["C", "D"]))
        try:
            assert panel.split_button.description == "split A B | C D"
            assert "split:" not in panel.status_text()
            for _ in range(2):  # a state: the second click changes nothing
                panel.split_button.click()
                assert net.groups == (("A", "B"), ("C", "D"))
                assert net["A"].peers == ("B",) and net["C"].peers == ("D",)
                assert panel.status_text().splitlines()[-1] == "split: A, B | C, D"
                assert ">cut<" in panel.diagram.value
            assert panel.split_button.button_style == "danger"
            for _ in range(2):
                panel.heal_button.click()
                assert net.groups == ()
                assert net["A"].peers == ("B", "C", "D")
                assert "split:" not in panel.status_text() and ">cut<" not in panel.diagram.value
            assert panel.heal_button.button_style == "success"
        finally:
            panel.close()
