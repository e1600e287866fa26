"""One peer sends a node free headers without end: how many it keeps, and what they cost it.

Where there is no proof of work (chapters 03-08) a header costs nothing to
make. A peer sends a chain of ``--headers`` of them on top of genesis, in
full batches, and never serves a block. The node keeps at most
MAX_HEADERS_AHEAD ahead of the blocks it holds and drops the rest (a peer
that goes on sending headers that no longer connect is dropped after
MAX_UNCONNECTING_HEADERS messages). Printed: headers sent and the most the
node held at once, its resident memory before and after (Linux), and how the
connection ended.

    python benchmarks/bench_header_flood.py --headers 100000
"""

from __future__ import annotations

import argparse
import gc

from toycoin import params
from toycoin.block import BlockHeader
from toycoin.errors import NodeError
from toycoin.msg_data import GetData, Headers
from toycoin.node import Node, course_genesis
from toycoin.peer import Limits
from toycoin.peerman import PeerMan
from toycoin.runtime import Runtime
from toycoin.sync import BlockSync


def resident_mib() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20
    except OSError:
        return 0.0


class Runner(PeerMan):
    """Sends ``count`` headers on top of genesis as soon as it is connected; serves no block."""

    def __init__(self, runtime: Runtime, count: int) -> None:
        super().__init__("runner", runtime=runtime, limits=Limits(max_send_buffer=2**31))
        self.count, self.sent = count, 0
        self.handle(GetData, lambda conn, message: None)

    def on_connected(self, conn) -> None:
        prev, batch = course_genesis().header, []
        for i in range(self.count):
            prev = BlockHeader(1, prev.hash, bytes(32), prev.timestamp + 600, params.BLOCK_BITS, i)
            batch.append(prev)
            if len(batch) == params.MAX_HEADERS_RESULTS or i == self.count - 1:
                conn.send(Headers(tuple(batch)))
                self.sent += len(batch)
                batch = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--headers", type=int, default=100_000, help="how many headers the peer sends")
    args = parser.parse_args()
    runtime = Runtime("bench-header-flood")
    victim = Node("victim", runtime=runtime, services=[BlockSync], limits=Limits(block_timeout=120.0))
    runner = Runner(runtime, args.headers)
    most = [0]
    victim.subscribe(lambda event: most.__setitem__(0, max(most[0], victim.service(BlockSync).tree.height)))
    victim.start()
    runner.start()
    gc.collect()
    before = resident_mib()
    victim.connect(runner, wait=False)
    victim.wait_until(lambda: runner.sent == args.headers, timeout=300, what="every header is sent")
    try:
        victim.sync_with_ping(timeout=60)  # every header before the pong was handled
    except NodeError:
        pass  # dropped on the way: headers that no longer connected, again and again
    gc.collect()
    ended = [e.detail for e in victim.events if e.kind == "disconnected"]
    print(f"headers sent: {runner.sent:,}; the most the node held at once: {most[0]:,} "
          f"(MAX_HEADERS_AHEAD {params.MAX_HEADERS_AHEAD:,})")
    print(f"resident memory: {before:.0f} -> {resident_mib():.0f} MiB")
    print(f"the connection: {ended[0] if ended else 'still open'}")
    runner.stop()
    victim.stop()
    runtime.close()


if __name__ == "__main__":
    main()
