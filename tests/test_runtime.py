"""Runtime: one background loop, a synchronous facade, and no deadlock from the loop thread."""

import asyncio
import threading

import pytest

from toycoin.errors import NodeError, ToycoinError
from toycoin.runtime import EVENT_LOOP_VARIABLE, Runtime, event_loop_kind, get_runtime

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def runtime():
    rt = Runtime("test-runtime")
    yield rt
    rt.close()


def test_run_returns_the_result_from_the_network_thread(runtime):
    async def where():
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert runtime.run(where()) == "test-runtime"
    assert runtime.call(lambda: 2 + 2) == 4


def test_exceptions_cross_back_to_the_caller(runtime):
    async def fail():
        raise ToycoinError("broken rule")

    with pytest.raises(ToycoinError, match="broken rule"):
        runtime.run(fail())


def test_calling_the_facade_from_the_loop_thread_is_an_error_not_a_deadlock(runtime):
    def nested():
        with pytest.raises(NodeError, match="network thread itself"):
            runtime.call(lambda: None)
        with pytest.raises(NodeError, match="network thread itself"):
            runtime.wait_until(lambda: True)
        return "refused"

    assert runtime.call(nested) == "refused"


def test_a_slow_call_times_out_with_a_clear_message(runtime):
    with pytest.raises(NodeError, match="timed out after 0.1s"):
        runtime.run(asyncio.sleep(5), timeout=0.1)


def test_wait_until_wakes_on_notify_and_names_what_it_waited_for(runtime):
    box = []
    runtime.call(lambda: runtime.loop.call_later(0.05, lambda: (box.append(1), runtime.notify())))
    runtime.wait_until(lambda: box == [1], timeout=5, what="the box is full")
    with pytest.raises(NodeError, match=r"timed out after 0.1s waiting until pigs fly"):
        runtime.wait_until(lambda: False, timeout=0.1, what="pigs fly")


def test_it_works_from_another_thread_like_a_widget_handler(runtime):
    results = []
    worker = threading.Thread(target=lambda: results.append(runtime.call(lambda: "ok")))
    worker.start()
    worker.join(5)
    assert results == ["ok"]


def test_the_shared_runtime_is_one_object_and_an_explicit_one_wins(runtime):
    assert get_runtime() is get_runtime()
    assert get_runtime(runtime) is runtime


def test_event_numbers_increase(runtime):
    first, second = runtime.next_seq(), runtime.next_seq()
    assert second == first + 1


@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_nodes_work_alike_on_either_event_loop(monkeypatch, kind):
    """Python's own loop by default; uvloop when TOYCOIN_EVENT_LOOP=uvloop asks for it.
    Connections, answers and a block's way between two nodes must not depend on which runs."""
    if kind == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed here (Windows, or not in requirements)")
        monkeypatch.setenv(EVENT_LOOP_VARIABLE, "uvloop")
    else:
        monkeypatch.delenv(EVENT_LOOP_VARIABLE, raising=False)
    assert event_loop_kind() == kind
    from toycoin.node import Node  # the network above the runtime, for this test only
    from toycoin.relay import Relay
    from toycoin.sync import BlockSync

    runtime = Runtime(f"test-{kind}")
    try:
        loop_module = type(runtime.loop).__module__
        assert loop_module.startswith("uvloop" if kind == "uvloop" else "asyncio")
        a, b = (Node(name, runtime=runtime, services=[Relay, BlockSync]) for name in "AB")
        a.start()
        b.start()
        b.connect(a)
        assert a.ping("B") > 0 and b.ping("A") > 0
        block = a.seal()
        b.wait_until(lambda: b.height == a.height, timeout=10, what="B has A's block")
        assert b.ledger.tip_hash == block.hash
        b.kill()
        a.wait_until(lambda: "B" not in a.peers, timeout=10, what="A sees B gone")
        a.stop()
    finally:
        runtime.close()
