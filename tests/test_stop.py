"""Stopping: a stop leaves no connection and no task behind, and never waits out a timeout.

A node that discovers peers keeps dialling, so a stop often arrives while a
dial is under way. stop() cancels the dialling task; but on Python 3.11 and
older ``asyncio.wait_for`` loses a cancel that arrives in the step in which
the dial completes, and returns the new connection instead (fixed in 3.12).
Served, that connection was never closed: stop() waited 5 s for the task and
5 s for the connection, and returned with both still alive. The first test
makes that race happen on purpose; the second closes 50 discovering nodes,
first all at once (Network.close) and then one by one.
"""

import asyncio

import pytest

from toycoin import dialler
from toycoin.network import Network
from toycoin.node import Node
from toycoin.runtime import Runtime

pytestmark = pytest.mark.timeout(120)


def leftovers(runtime: Runtime, nodes: list[Node]) -> dict[str, tuple[int, int]]:
    """Per node that still has any: (connections, unfinished tasks)."""
    def read() -> dict[str, tuple[int, int]]:
        counts = {node.name: (len(node.connections()), len(node.tasks())) for node in nodes}
        return {name: count for name, count in counts.items() if count != (0, 0)}

    return runtime.call(read)


def test_a_dial_that_completes_as_its_node_stops_is_dropped(monkeypatch):
    runtime = Runtime("test-stop-race")
    a, b = Node("A", runtime=runtime), Node("B", runtime=runtime)
    a.start()
    b.start()
    real_open = dialler.open_frames

    async def open_then_stop(*args, **kwargs):
        streams = await real_open(*args, **kwargs)
        # B's stop begins in the next step of the loop, before the dialling task resumes:
        # the cancel arrives together with the completed dial.
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(b.shutdown()))
        return streams

    monkeypatch.setattr(dialler, "open_frames", open_then_stop)
    try:
        b.connect(a, wait=False)
        b.wait_until(lambda: any(e.kind == "stopped" for e in b.events), timeout=30,
                     what="B's stop has finished")
        assert leftovers(runtime, [b]) == {}
        assert not [e for e in b.events if e.kind == "stop incomplete"]
        assert b.peers == () and not b.is_running
    finally:
        monkeypatch.undo()
        a.stop()
        b.stop()
        runtime.close()


@pytest.mark.parametrize("together", [True, False], ids=["network-close", "one-by-one"])
def test_fifty_discovering_nodes_stop_and_leave_nothing_behind(together):
    runtime = Runtime("test-stop-fifty")
    names = [f"n{i:02}" for i in range(50)]
    net = Network(names, wallet_names=(), runtime=runtime)  # discover=True, as by default
    try:
        net.start_all()
        for name in names[1:]:
            net.connect(name, names[0], wait=False)  # a star, which discovery turns into a web
        net.wait_until(lambda: all(len(net[n].peers) >= 3 for n in names), timeout=60,
                       what="every node has found peers of its own")
        nodes = [net[name] for name in names]
        if together:
            net.close()
        else:
            for node in nodes:  # the others redial it and replace it while it stops
                node.stop()
        assert leftovers(runtime, nodes) == {}
        # A stop that waited out its 5-second timeouts records it (no clock read here).
        assert [str(e) for e in net.events() if e.kind == "stop incomplete"] == []
        assert [n for n in names if not any(e.kind == "stopped" for e in net[n].events)] == []
    finally:
        net.close()
        runtime.close()


def test_network_close_stops_a_node_that_runs_on_a_runtime_of_its_own():
    runtime, other = Runtime("test-stop-own"), Runtime("test-stop-other")
    net = Network(["A"], wallet_names=(), runtime=runtime)
    stranger = net.add(Node("X", runtime=other))
    try:
        net.start_all()
        net.close()
        assert not net["A"].is_running and not stranger.is_running
        assert any(e.kind == "stopped" for e in stranger.events)
    finally:
        net.close()
        runtime.close()
        other.close()
