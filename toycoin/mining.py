"""Mining: a node service that searches for the next block's proof of work, in the background.

A miner takes the node's next block template (the mempool's payments under a
header on the tip, toycoin.ledger.Ledger.block_template), tries nonces in
chunks (toycoin.pow.mine), and hands a block that meets its target to the
node, which applies it and announces it like any other. The node keeps
answering its peers while it mines, and the miner starts over on a new
template as soon as the tip moves (a peer's block arrived first: this miner
lost the race).

    Miner(hashrate=None)                Node(..., services=[Relay, BlockSync, Miner])
      start(), stop(), mining            from any thread but the network's
      hashes, blocks_found               what it did, for views and measurements

The hashing itself runs in a worker process, a chunk of about 20 ms at a time,
so it never holds the network thread (Python runs one thread at a time).

``hashrate`` caps the hashes per second (None: as fast as Python goes), so
several miners in one process can race with chosen shares of the total.

Simplifications compared with Bitcoin: one thread in Python, a few hundred
thousand hashes per second (Bitcoin's miners are chips doing about 10^20 in
all); the nonce space is searched from 0, and the timestamp moves on only when
it runs out; no extra nonce in the coinbase.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from toycoin.block import Block
from toycoin.errors import ValidationError
from toycoin.pow import mine
from toycoin.service import Service


def _leave_interrupts_to_the_node() -> None:
    """In the worker: ignore SIGINT. Ctrl-C in a terminal reaches every process of the node
    (python -m toycoin node --mine); the node stops cleanly and ends its worker, which would
    otherwise die on its own with a KeyboardInterrupt traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def check_hashrate(hashrate: float | None) -> float | None:
    """``hashrate`` as a cap in hashes per second (None: no cap); ValueError naming the mistake."""
    if hashrate is not None and (isinstance(hashrate, bool) or not isinstance(hashrate, (int, float))
                                 or not hashrate > 0):
        raise ValueError(f"hashrate is hashes per second: a number above 0 such as 50, or None for "
                         f"no cap (not {hashrate!r})")
    return hashrate


class Miner(Service):
    """Searches for blocks on its node's tip while started (state inside one node only)."""

    def __init__(self, hashrate: float | None = None, chunk_seconds: float = 0.02) -> None:
        self.hashrate, self.chunk_seconds = check_hashrate(hashrate), chunk_seconds
        self.mining = False  # asked to mine (it does while its node runs)
        self.hashes = 0
        self.blocks_found = 0
        self._task: asyncio.Task | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._chunk = 1024  # hashes per call, adjusted to take about chunk_seconds

    # --- from any thread but the network's -------------------------------------------

    def start(self) -> None:
        """Mine from now on, while the node runs (a state: starting twice is starting once)."""
        self.node.runtime.call(self._begin)

    def stop(self) -> None:
        """Stop mining (a state: stopping twice is stopping once); its worker process ends."""
        self.node.runtime.call(self._end)

    # --- on the network thread ---------------------------------------------------------

    def on_started(self) -> None:
        if self.mining:
            self._launch()

    def on_stopped(self) -> None:
        self._shut_pool()

    def _begin(self) -> None:
        self.mining = True
        if self.node.is_running:
            self._launch()

    def _end(self) -> None:
        self.mining = False
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._shut_pool()

    def _shut_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _launch(self) -> None:
        if self._task is None or self._task.done():
            if self._pool is None:
                # The hashing runs in a worker process, so the network thread stays free. Spawned,
                # not forked: this process has threads (the network's, a notebook's).
                spawn = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=spawn,
                                                 initializer=_leave_interrupts_to_the_node)
            self._task = self.node.spawn(self._mine(self._pool))  # stopping the node cancels it

    async def _mine(self, pool: ProcessPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while self.mining and self.node.is_running:
            template = self.node.block_template()
            header, nonce = template.header, 0
            while self.mining and self.node.ledger.tip_hash == header.prev_block_hash:
                if nonce >= 2**32:  # the nonces ran out: move the timestamp on
                    header, nonce = replace(header, timestamp=header.timestamp + 1), 0
                chunk = min(self._chunk, 2**32 - nonce)
                if self.hashrate:
                    chunk = max(1, min(chunk, int(self.hashrate * self.chunk_seconds)))
                started = time.perf_counter()  # finer than the loop's clock (uvloop ticks in milliseconds)
                found = await loop.run_in_executor(pool, mine, header, chunk, nonce)
                elapsed = time.perf_counter() - started
                tried = found.nonce - nonce + 1 if found else chunk
                self.hashes += tried
                nonce += tried
                if found is None and not self.hashrate:  # aim at chunk_seconds a call
                    self._chunk = max(256, min(int(chunk * self.chunk_seconds / max(elapsed, 1e-4)), 2**22))
                if self.hashrate:  # hold to the cap
                    await asyncio.sleep(max(tried / self.hashrate - elapsed, 0.0))
                if found is not None and self.node.ledger.tip_hash == found.prev_block_hash:
                    try:
                        self.node.add_mined_block(Block(found, template.txs))
                    except ValidationError as error:  # the miner goes on: a new template next
                        self.node.record("block refused", None, f"a block mined here: {error}")
                    else:
                        self.blocks_found += 1
                    break
            await asyncio.sleep(0)
