"""Classroom benchmark: a teacher and 30 students, each a node process in a network namespace.

Run it as root with ``python benchmarks/bench_classroom.py [STUDENTS] [--everyone-mines]``
(default 30 students, one of them mining; with --everyone-mines every laptop mines, the
room's hash rate shared out, as in the lesson's lottery). It
builds a LAN on this machine (tests/netlab.py: one namespace per laptop, all on
one bridge, addresses 10.77.0.1-31/24), starts the teacher's node and then every
student's, each given only the teacher's address, and prints:

1. Start-up: seconds until every laptop listens, and until a crawl from the
   teacher's laptop finds them all.
2. The teacher's view: a crawl of the whole room from the teacher's address
   (time, nodes found, links both ends report), median of 5, once start-up work
   has ended (SETTLE seconds).
3. A block reaching every laptop: one student mines (capped, about one block
   every few seconds); every laptop is watched over a connection of its own
   (``getstatus`` every 5 ms), and for each new height the time from the first
   laptop that has it (the miner) to the last is taken. Median and max of 5 blocks.
4. Memory: resident memory (VmRSS, /proc) of each node process, and of the
   miner's worker process.

All laptops share this machine's cores (real laptops have their own), so the
times are upper bounds. This is a script, not a test.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from netlab import Lan, ip, remove_stale, why_not  # noqa: E402
from toycoin.msg_room import GetStatus, Status  # noqa: E402
from toycoin.peerman import PeerMan  # noqa: E402
from toycoin.roommap import crawl, crawl_until  # noqa: E402

PORT = 8333
BLOCKS = 5
SETTLE = 10  # seconds for start-up work (miners' worker processes) to end before measuring
MINER_HASHRATE = 80  # hashes a second: a block (about 256 hashes) every 3 s or so


def node_argv(name: str, host: str, teacher: str | None, hashrate: float | None = None) -> list[str]:
    argv = [sys.executable, "-m", "toycoin", "node", "--name", name, "--host", host, "--port", str(PORT),
            "--pow", "--stop-on-eof"]
    if hashrate:
        argv += ["--mine", "--hashrate", f"{hashrate:g}"]
    return argv + (["--peer", f"{teacher}:{PORT}"] if teacher else [])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def watch(address: tuple[str, int], heights: range, seen: dict[int, dict[str, float]]) -> None:
    """Ask one laptop its height every 5 ms; note when it first reaches each of ``heights``."""
    peer = PeerMan("watch", listen=False, service_flags=0, learn_addresses=False)
    peer.answers.add(Status)
    loop = asyncio.get_running_loop()
    key = f"{address[0]}:{address[1]}"
    async with peer.session(address, key) as conn:
        while True:
            reply = await peer.ask(conn, GetStatus(), (Status,), key)
            now = loop.time()
            for h in heights:
                if reply.height >= h:
                    seen[h].setdefault(key, now)
            if reply.height >= heights[-1]:
                return
            await asyncio.sleep(0.005)


def main(students: int = 30, everyone_mines: bool = False) -> None:
    reason = why_not()
    if reason:
        print(f"cannot build the LAN here: {reason}")
        return
    remove_stale()
    lan = Lan("10.77.0")
    with tempfile.TemporaryDirectory() as folder:
        try:
            run(lan, Path(folder), students, everyone_mines)
        finally:
            lan.close()


def run(lan: Lan, logs: Path, students: int, everyone_mines: bool) -> None:
    switch = lan.switch("0")
    laptops = [lan.laptop(n, switch) for n in range(1, students + 2)]
    teacher = laptops[0]
    everyone = [f"{lap.host}:{PORT}" for lap in laptops]
    started = time.monotonic()
    share = MINER_HASHRATE / len(laptops)  # everyone mines: the same room hash rate, shared out

    def hashrate(n: int) -> float | None:
        return share if everyone_mines else (MINER_HASHRATE if n == 2 else None)

    lan.start(teacher, node_argv("teacher", teacher.host, None, hashrate(1)), logs / "1.log").ready()
    processes = [lan.start(lap, node_argv(f"student{lap.n - 1}", lap.host, teacher.host, hashrate(lap.n)),
                           logs / f"{lap.n}.log") for lap in laptops[1:]]
    for process in processes:
        process.ready(120)
    listening = time.monotonic() - started
    view = lan.observer(teacher)
    crawl_until(everyone[0], lambda m: len(m.nodes) == len(everyone), timeout=120,
                what="every laptop is found", runtime=view)
    found_all = time.monotonic() - started
    miners = f"every laptop mining at {share:.2f} hashes/s" if everyone_mines else \
        f"student1 mining at {MINER_HASHRATE} hashes/s"
    print(f"{students} students and a teacher, one node process each, in {len(laptops)} namespaces; {miners}")
    print(f"1. every laptop listening after {listening:.1f} s; all found by a crawl after "
          f"{found_all:.1f} s")

    time.sleep(SETTLE)  # the miners' worker processes start (a Python each): let the machine settle
    times, sizes = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        room = crawl(everyone[0], runtime=view)
        times.append(time.perf_counter() - t0)
        sizes.append((len(room.nodes), len(room.links())))
    degrees = sorted(len(s.peers) for s in room.nodes.values())
    print(f"2. the teacher's crawl: {statistics.median(times) * 1000:.0f} ms (median of 5, max "
          f"{max(times) * 1000:.0f} ms), {sizes[-1][0]} nodes, {sizes[-1][1]} links; peers per node "
          f"min {degrees[0]}, median {statistics.median(degrees):g}, max {degrees[-1]}")

    start_height = max(s.height for s in room.nodes.values())
    heights = range(start_height + 1, start_height + 1 + BLOCKS)
    seen: dict[int, dict[str, float]] = {h: {} for h in heights}

    async def watch_all() -> None:
        addresses = [(lap.host, PORT) for lap in laptops]
        await asyncio.gather(*(watch(a, heights, seen) for a in addresses))

    view.run(watch_all(), timeout=60 + BLOCKS * 30)
    spreads = [max(seen[h].values()) - min(seen[h].values()) for h in heights]
    print(f"3. a block reaching every laptop, from the first that has it to the last: median "
          f"{statistics.median(spreads) * 1000:.0f} ms, max {max(spreads) * 1000:.0f} ms "
          f"({BLOCKS} blocks, heights {heights[0]}-{heights[-1]}, watched every 5 ms)")

    node_pids = [p.popen.pid for p in lan.processes]
    node_rss = [rss_kib(pid) for pid in node_pids]
    miner_ns = laptops[1].namespace
    worker = [int(pid) for pid in ip("netns", "pids", miner_ns).stdout.split()
              if int(pid) != processes[0].popen.pid]
    worker_rss = [rss_kib(pid) for pid in worker]
    print(f"4. resident memory per node process: median {statistics.median(node_rss) / 1024:.1f} MiB, "
          f"max {max(node_rss) / 1024:.1f} MiB; the miner's worker process "
          f"{sum(worker_rss) / 1024:.1f} MiB" + (" (one on every laptop)" if everyone_mines else ""))


if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    main(int(numbers[0]) if numbers else 30, "--everyone-mines" in sys.argv[1:])
