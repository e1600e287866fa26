"""Runtime: one background loop, a synchronous facade, and no deadlock from the loop thread."""

import asyncio
import threading

import pytest

from toycoin.errors import NodeError, ToycoinError
from toycoin.runtime import Runtime, get_runtime

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
