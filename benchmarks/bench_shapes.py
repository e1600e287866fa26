"""Network shapes benchmark: chapter 11's claims as ratios, from one run.

Run it with ``python benchmarks/bench_shapes.py`` (``--quick`` stops at 500
nodes). It prints figures from one run on this machine; compare ratios, not
absolute times, across machines.

1. Scale: start-up time and resident memory per node for a DHT of 1,000
   nodes in one process, after raising the open-file limit; and where it
   would stop (the open-file limit, in nodes).
2. DHT: rounds (hops) per lookup against log2 n at n = 100, 500 and 1,000
   (goal: within 1.5 log2 n), and questions per lookup.
3. Flooding: query messages of a search that reaches everyone, against
   n times the mean degree, at the same sizes.
4. Swarm against server: completion time at n = 100 against n = 10, for a
   swarm (goal: 2x or less) and for one server with the same upload cap
   (about 1.5 minutes: the server's n = 100 alone takes 67 s by design).

This is a script, not a test: timings vary with the machine and its load.
"""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path

from toycoin.chunks import ChunkedObject
from toycoin.crowd import Crowd
from toycoin.runtime import raise_open_file_limit
from toycoin.dht import DhtNode
from toycoin.flood import MAX_TTL, FloodNode, flood_search
from toycoin.kbucket import key_id
from toycoin.peer import Limits
from toycoin.swarm import SwarmPeer

CHUNK, CHUNKS = 1024, 8
# Bytes per second each peer may upload: a 1 KiB chunk every 83 ms. All peers share this one
# process's CPU; links this slow keep the links, not the CPU, the bottleneck (at 50 KiB/s the
# swarm's ratio measured about 3 on a loaded 2-core machine, at 12 KiB/s about 1.9).
RATE = 12 * 1024
OBJECT = ChunkedObject(random.Random("bench").randbytes(CHUNK * CHUNKS), CHUNK)


def resident_kib() -> int | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def dht_and_flood(sizes: list[int]) -> None:
    before = resident_kib()
    dht = Crowd(lambda name: DhtNode(name, rng=random.Random(name)), prefix="d", rng=random.Random(1))
    flood = Crowd(lambda name: FloodNode(name, rng=random.Random(name)), prefix="f", rng=random.Random(2))
    print(f"{'n':>5} {'join s/node':>11} {'KiB/node':>9} {'hops':>6} {'log2 n':>7} {'hops/log2n':>10} "
          f"{'rpcs':>6} | {'flood msgs':>10} {'n*degree':>9} {'ratio':>6}")
    try:
        for n in sizes:
            started, previous = time.perf_counter(), len(dht.peers)
            for node in dht.add(n - previous):
                if node is not dht.peers[0]:
                    node.join(dht.peers[0])
            joined = (time.perf_counter() - started) / (n - previous)
            rng = random.Random(n)
            looked = [rng.choice(dht.peers).lookup(key_id(f"{n} {i}".encode())) for i in range(50)]
            hops = sum(x.hops for x in looked) / len(looked)
            rpcs = sum(x.rpcs for x in looked) / len(looked)
            memory = resident_kib()
            per_node = (memory - before) / len(dht.peers) if memory and before else float("nan")
            flood.add(n - len(flood.peers), links_each=2)
            search = flood_search(flood.peers, flood.peers[0], bytes(32), MAX_TTL)
            n_degree = 2 * len(flood.links)
            print(f"{n:>5} {joined:>11.4f} {per_node:>9.0f} {hops:>6.2f} {math.log2(n):>7.2f} "
                  f"{hops / math.log2(n):>10.2f} {rpcs:>6.1f} | {search.queries:>10} {n_degree:>9} "
                  f"{search.queries / n_degree:>6.2f}")
    finally:
        dht.stop()
        flood.stop()
    print("(KiB/node: resident memory of DHT and flood nodes together, divided by the DHT's node count)")


def completion(n: int, shares: bool) -> float:
    seeder = SwarmPeer("seeder", OBJECT.manifest, upload_rate=RATE, rng=random.Random(0),
                       limits=Limits(max_connections=n + 10))
    seeder.start()
    crowd = Crowd(lambda name: SwarmPeer(name, OBJECT.manifest, upload_rate=RATE, shares=shares,
                                         rng=random.Random(name)), prefix="p", rng=random.Random(n))
    try:
        crowd.add(n, links_each=3 if shares else 0)
        clients = crowd.rng.sample(crowd.peers, min(n, 5)) if shares else crowd.peers
        for peer in clients:
            peer.connect(seeder, wait=False)
        seeder.wait_until(lambda: seeder.connection_count == len(clients), 60)
        started = time.perf_counter()
        seeder.seed(OBJECT)
        seeder.wait_until(lambda: all(p.is_complete for p in crowd.peers), 300)
        return time.perf_counter() - started
    finally:
        crowd.stop()
        seeder.stop()


def swarm_against_server() -> None:
    print(f"\nan object of {CHUNKS} chunks of {CHUNK} bytes; every upload capped at {RATE // 1024} KiB/s")
    times = {(n, shares): completion(n, shares) for shares in (True, False) for n in (10, 100)}
    for shares, what in ((True, "swarm"), (False, "one server")):
        small, big = times[(10, shares)], times[(100, shares)]
        print(f"{what:>10}: n=10 {small:6.2f}s, n=100 {big:6.2f}s, ratio {big / small:5.2f}")


def main() -> None:
    quick = "--quick" in sys.argv
    limit = raise_open_file_limit()
    sizes = [100, 500] if quick else [100, 500, 1000]
    print(f"open files: limit raised to {limit:,}; a DHT node holds 1 file, a flood node about 5: "
          f"room for about {max(limit - 200, 0) // 6:,} nodes of each kind at once, then "
          "'Too many open files'\n")
    dht_and_flood(sizes)
    swarm_against_server()


if __name__ == "__main__":
    main()
