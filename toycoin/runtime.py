"""Runtime: one asyncio event loop in a background thread, behind a synchronous API.

Every node of a Python process (a notebook kernel, a test, a script) runs on
the same event loop, in one background thread called the network thread. The
code that drives the nodes stays synchronous: it hands a coroutine to the
loop and waits for its result. That is the design of Bitcoin Core's functional
test framework (``test_framework/p2p.py``: ``NetworkThread``, ``wait_until``),
and it behaves the same in a notebook cell, an ipywidgets button handler, a
pytest test and a plain script.

    Runtime               the loop and its thread, started on first use
      .run(coro)          run a coroutine on the loop and return its result
      .call(fn, *args)    run a plain function on the loop thread
      .wait_until(pred)   wait until a condition holds, re-checked after every change
      .notify()           tell waiters that something changed (nodes call it)
    get_runtime()         the runtime shared by everything that was not given one
    event_loop_kind()     "asyncio", or "uvloop" when asked for (TOYCOIN_EVENT_LOOP=uvloop)

Why not the notebook kernel's own loop? A blocking call in a cell would stop
the nodes with it, and the code could not be copied into a script. Why not
``asyncio.run`` in each call? Nodes must keep serving their peers between calls.

A process that runs out of open files (each node holds a socket per
connection) cannot accept or dial: asyncio would log a traceback for every
failed accept and the nodes wait in vain. The runtime notes it instead, says
it once on the ``toycoin`` logger, and every ``wait_until`` that was waiting
then fails at once with an error naming the limit and how to raise it.

Waiting is on conditions, never on sleeps: ``wait_until`` re-checks its
predicate on the loop thread whenever a node records an event (and at least
every few milliseconds, for conditions outside this process, such as a child
process that exits).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import itertools
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from toycoin.errors import NodeError

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0  # seconds a synchronous call waits for the network thread (slow machines too)
RECHECK_INTERVAL = 0.02  # seconds between re-checks of a condition nothing announced
FILES_PROBE_INTERVAL = 0.25  # seconds between checks, while waiting, that a file can still be opened


class Runtime:
    """An asyncio event loop running for ever in a daemon thread."""

    _shared: ClassVar[Runtime | None] = None  # the default runtime, see get_runtime()
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str = "toycoin-network") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._seq = itertools.count(1)  # event numbers, in order across all nodes
        self._changed: asyncio.Event | None = None
        self.out_of_files: tuple[float, str] | None = None  # (loop time, what to do): the last time

    @classmethod
    def shared(cls) -> Runtime:
        """The runtime used by nodes and clients that were not given one."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop, started (with its thread) on first use."""
        with self._start_lock:
            if self._loop is None or not self._thread or not self._thread.is_alive():
                self._start_thread()
            assert self._loop is not None
            return self._loop

    def _start_thread(self) -> None:
        raise_open_file_limit()
        loop = new_event_loop()
        loop.set_exception_handler(self._on_loop_error)
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            self._changed = asyncio.Event()
            loop.call_soon(ready.set)
            loop.run_forever()

        # A daemon thread: an interpreter that exits does not wait for the nodes.
        self._thread = threading.Thread(target=main, name=self.name, daemon=True)
        self._loop = loop
        self._thread.start()
        ready.wait()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's errors outside any task: running out of open files is noted (see the module
        docstring), everything else goes to asyncio's own handler."""
        error = context.get("exception")
        if not isinstance(error, OSError) or error.errno not in (errno.EMFILE, errno.ENFILE):
            loop.default_exception_handler(context)
            return
        first = self.out_of_files is None
        self.ran_out_of_files(loop.time())
        if first:
            assert self.out_of_files is not None
            logging.getLogger("toycoin").error("%s (%s)", self.out_of_files[1], context.get("message"))

    def ran_out_of_files(self, when: float) -> None:
        """The process had no file descriptor left at loop time ``when``: waits fail (on the loop)."""
        limit = raise_open_file_limit()
        self.out_of_files = (when, f"this process ran out of open files: it may open {limit} (every node "
                                   "holds one per connection); raise the limit with `ulimit -n 65536` "
                                   "before starting Python")
        self.notify()

    def _probe_files(self, now: float) -> None:
        """Whether this process can still open two files: a connection takes one, and uvloop,
        unlike asyncio, drops a connection it has no descriptor for without a word (it keeps one
        in reserve for that), so a wait finds out this way."""
        opened: list[int] = []
        try:
            for _ in range(2):
                opened.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as error:
            if error.errno in (errno.EMFILE, errno.ENFILE):
                self.ran_out_of_files(now)
        finally:
            for fd in opened:
                os.close(fd)

    def in_loop_thread(self) -> bool:
        """True when the caller runs on the network thread itself."""
        return self._thread is not None and threading.current_thread() is self._thread

    def _refuse_loop_thread(self, what: str) -> None:
        if self.in_loop_thread():
            raise NodeError(
                f"{what} was called from the network thread itself, which would wait for "
                "ever on its own loop; call it from a notebook cell, a widget handler, a "
                "test or a script (a subscriber callback may only read state)"
            )

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = DEFAULT_TIMEOUT) -> T:
        """Run ``coro`` on the loop and return its result (or raise its exception)."""
        if self.in_loop_thread():
            coro.close()  # never awaited: close it so Python does not warn
            self._refuse_loop_thread("Runtime.run")
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        task: list[asyncio.Task] = []

        async def settle() -> None:
            # The result is handed over as the coroutine ends, not one step of the loop later.
            try:
                value = await coro
            except BaseException as error:  # noqa: BLE001  (re-raised in the caller's thread)
                result.set_exception(error)
            else:
                result.set_result(value)

        def start() -> None:
            if result.set_running_or_notify_cancel():
                task.append(self.loop.create_task(settle()))
            else:
                coro.close()

        self.loop.call_soon_threadsafe(start)
        return self._result(result, timeout, lambda: task and task[0].cancel())

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = DEFAULT_TIMEOUT) -> T:
        """Run a plain function on the loop thread, so it sees the nodes' state settled."""
        if self.in_loop_thread():
            self._refuse_loop_thread("Runtime.call")
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if result.set_running_or_notify_cancel():
                try:
                    result.set_result(fn(*args))
                except BaseException as error:  # noqa: BLE001  (re-raised in the caller's thread)
                    result.set_exception(error)

        self.loop.call_soon_threadsafe(run)
        return self._result(result, timeout, lambda: None)

    def _result(self, result: concurrent.futures.Future[T], timeout: float,
                cancel: Callable[[], object]) -> T:
        try:
            return result.result(timeout)
        except concurrent.futures.TimeoutError:
            if not result.cancel():
                self.loop.call_soon_threadsafe(cancel)
            raise NodeError(f"timed out after {timeout:g}s waiting for the network thread") from None

    def notify(self) -> None:
        """Wake every ``wait_until``: something changed (loop thread only)."""
        # Cheap, as nodes call it for every event: a waiter makes a fresh Event once woken.
        changed = self._changed
        if changed is not None and not changed.is_set():
            changed.set()

    def next_seq(self) -> int:
        """The next event number; one counter per runtime orders events across nodes."""
        return next(self._seq)

    def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = DEFAULT_TIMEOUT,
        what: str = "the condition holds",
    ) -> None:
        """Wait until ``predicate()`` is true; it is evaluated on the loop thread.

        Raises NodeError("timed out after 5s waiting until <what>") otherwise.
        """
        self._refuse_loop_thread("Runtime.wait_until")
        self.run(self._wait(predicate, timeout, what), timeout + 5.0)

    async def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline, probed = started + timeout, started
        while not predicate():
            if loop.time() - probed >= FILES_PROBE_INTERVAL:
                probed = loop.time()
                self._probe_files(probed)
            if self.out_of_files is not None and self.out_of_files[0] >= started:
                raise NodeError(f"{self.out_of_files[1]}; it happened while waiting until {what}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise NodeError(f"timed out after {timeout:g}s waiting until {what}")
            assert self._changed is not None
            changed = self._changed
            if changed.is_set():  # set since this waiter last looked: wait for the next change
                changed = self._changed = asyncio.Event()
            try:
                await asyncio.wait_for(changed.wait(), min(remaining, RECHECK_INTERVAL))
            except asyncio.TimeoutError:
                pass

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop and its thread (nodes on it should be stopped first)."""
        self._refuse_loop_thread("Runtime.close")
        with self._start_lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()


EVENT_LOOP_VARIABLE = "TOYCOIN_EVENT_LOOP"  # "uvloop" asks for libuv's loop


def event_loop_kind() -> str:
    """Which event loop the network thread runs: Python's own ("asyncio"), or uvloop (libuv's,
    about twice as fast a round trip) when TOYCOIN_EVENT_LOOP=uvloop and it is installed.
    uvloop is not the default yet: it has passed fewer full test runs than Python's loop."""
    if os.environ.get(EVENT_LOOP_VARIABLE, "").strip().lower() != "uvloop":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the kind event_loop_kind() names."""
    if event_loop_kind() == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def raise_open_file_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit, where the system allows it;
    return the limit now in force (0 where it cannot be read, as on Windows).

    Every node holds a listening socket and one per connection: at the common soft limit of 1,024
    a network of about 120 nodes in one process runs out ("Too many open files").
    """
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    while soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            return wanted
        except (ValueError, OSError):
            wanted //= 2  # macOS refuses more than kern.maxfilesperproc, whatever the hard limit says
    return soft  # not raised: the error on running out names the limit


def get_runtime(runtime: Runtime | None = None) -> Runtime:
    """``runtime`` if given, else the one runtime shared by the whole process.

    The shared runtime is created on first use and kept on the Runtime class:
    the one piece of process-wide state toycoin has, because a process has one
    network thread, as in Bitcoin Core's test framework.
    """
    return runtime if runtime is not None else Runtime.shared()
