"""Network benchmark: what a node costs, and what the synchronous facade costs.

Run it with ``python benchmarks/bench_network.py``. It prints figures from one
run on this machine; compare ratios, not absolute times, across machines.

1. Start-up: time and memory per node, for 1, 10 and 100 nodes in one process
   (memory as Python allocations, from tracemalloc, and as resident memory
   where /proc/self/status exists).
2. Ping: a round trip through the facade (``node.ping`` from the caller's
   thread: hand-off to the network thread, frame, peer, pong, hand-back),
   divided by a raw TCP loopback round trip measured in the same run, both
   in one thread and with an echo thread.
3. A mesh of 30 nodes: time until all 435 connections are handshaked.

This is a script, not a test: timings vary with the machine and its load.
"""

from __future__ import annotations

import gc
import socket
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from toycoin.network import Network
from toycoin.node import Node
from toycoin.runtime import Runtime

ROUND_TRIPS = 2000


def resident_kib() -> int | None:
    """Resident memory of this process in KiB (Linux only)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def start_nodes(count: int, runtime: Runtime) -> list[Node]:
    nodes = [Node(f"n{i}", runtime=runtime) for i in range(count)]
    for node in nodes:
        node.start()
    return nodes


def startup(count: int, runtime: Runtime) -> tuple[float, float, float | None]:
    """Seconds, Python KiB and resident KiB per node, for ``count`` nodes started at once.

    Timed without tracemalloc (which slows allocation), then measured again with it.
    """
    gc.collect()
    started = time.perf_counter()
    nodes = start_nodes(count, runtime)
    seconds = time.perf_counter() - started
    for node in nodes:
        node.stop()
    del nodes
    gc.collect()
    rss_before = resident_kib()
    tracemalloc.start()
    nodes = start_nodes(count, runtime)
    python_kib = tracemalloc.get_traced_memory()[0] / 1024
    tracemalloc.stop()
    rss_after = resident_kib()
    for node in nodes:
        node.stop()
    rss = (rss_after - rss_before) / count if rss_before is not None and rss_after is not None else None
    return seconds / count, python_kib / count, rss


def median_seconds(round_trip: Callable[[], object], n: int = ROUND_TRIPS) -> float:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        round_trip()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
    for sock in (client, peer):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client, peer


def raw_round_trip_one_thread() -> float:
    client, peer = tcp_pair()

    def once() -> None:
        client.sendall(b"ping1234")
        peer.sendall(peer.recv(8))
        client.recv(8)

    seconds = median_seconds(once)
    client.close()
    peer.close()
    return seconds


def raw_round_trip_echo_thread() -> float:
    client, peer = tcp_pair()

    def echo() -> None:
        while data := peer.recv(8):
            peer.sendall(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()

    def once() -> None:
        client.sendall(b"ping1234")
        client.recv(8)

    seconds = median_seconds(once)
    client.close()
    thread.join(5)
    peer.close()
    return seconds


def facade_round_trip(runtime: Runtime) -> float:
    a, b = Node("A", runtime=runtime), Node("B", runtime=runtime)
    a.start()
    b.start()
    b.connect(a)
    seconds = median_seconds(lambda: a.ping("B"))
    a.stop()
    b.stop()
    return seconds


def mesh(count: int, runtime: Runtime) -> tuple[float, int]:
    with Network([f"n{i:02}" for i in range(count)], runtime=runtime) as network:
        network.start_all()
        started = time.perf_counter()
        network.mesh(timeout=120)
        seconds = time.perf_counter() - started
        links = len(network.snapshot().links)
    return seconds, links


def main() -> None:
    runtime = Runtime("bench-network")
    runtime.call(lambda: None)  # start the network thread before timing anything
    Node("warm-up", runtime=runtime)  # and import/initialise everything once
    print("start-up, per node:")
    print(f"  {'nodes':>5}  {'time':>9}  {'python memory':>13}  {'resident memory':>15}")
    for count in (1, 10, 100):
        seconds, python_kib, rss_kib = startup(count, runtime)
        rss = f"{rss_kib:,.0f} KiB" if rss_kib is not None else "n/a"
        print(f"  {count:>5}  {seconds * 1e3:>6.2f} ms  {python_kib:>9,.0f} KiB  {rss:>15}")

    one_thread = raw_round_trip_one_thread()
    echo_thread = raw_round_trip_echo_thread()
    facade = facade_round_trip(runtime)
    print(f"\nping round trip, median of {ROUND_TRIPS}:")
    print(f"  raw TCP loopback, one thread     {one_thread * 1e6:8.1f} µs")
    print(f"  raw TCP loopback, echo thread    {echo_thread * 1e6:8.1f} µs")
    print(f"  node.ping through the facade     {facade * 1e6:8.1f} µs")
    print(f"  facade / raw (one thread)        {facade / one_thread:8.1f} x")
    print(f"  facade / raw (echo thread)       {facade / echo_thread:8.1f} x")

    seconds, links = mesh(30, runtime)
    print(f"\nmesh of 30 nodes: {links} connections handshaked in {seconds * 1e3:.0f} ms "
          f"({seconds / links * 1e3:.2f} ms per connection)")
    runtime.close()


if __name__ == "__main__":
    main()
