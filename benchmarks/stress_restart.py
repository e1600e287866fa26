"""Stop and start a node over and over while other threads start programs, as a notebook does.

A notebook's panel draws its diagrams with graphviz's ``dot``, a child process
started from another thread. From its fork until it has closed the files it
inherited, that child holds a copy of every socket of the notebook's process,
a node's listening socket among them. This script recreates that on purpose:
threads start short programs without pause while one node of a two-node
network is stopped and started again on its port, as fast as it goes. It
counts the restarts that failed ("address already in use") and the stops
after which the port still took a connection, and prints both per thousand
cycles.

    python benchmarks/stress_restart.py --seconds 30 --threads 2

Before toycoin.listener waited for a stopped port to refuse, about one restart
in thirteen failed here. It is a script, not a test: the test
(tests/test_node.py) runs the same for three seconds.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
import time

from toycoin.errors import NodeError
from toycoin.network import Network


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long it goes on")
    parser.add_argument("--threads", type=int, default=2, help="threads starting programs meanwhile")
    args = parser.parse_args()

    done = threading.Event()
    started = [0]

    def start_programs() -> None:
        while not done.is_set():
            subprocess.run([sys.executable, "-c", ""], check=True)
            started[0] += 1

    spawners = [threading.Thread(target=start_programs, daemon=True) for _ in range(args.threads)]
    for spawner in spawners:
        spawner.start()
    net = Network(["A", "B"])
    cycles = refused_restarts = accepted_after_stop = 0
    try:
        net.start_all()
        net.connect("A", "B")
        net.wait_settled()
        node = net["A"]
        port = node.address[1]
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            cycles += 1
            node.stop()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                accepted_after_stop += 1
            except ConnectionResetError:  # taken, then reset as the child closed the socket
                accepted_after_stop += 1
            except ConnectionRefusedError:
                pass
            try:
                node.start()
            except NodeError:
                refused_restarts += 1
                while not node.is_running:  # the port comes free once the child has let it go
                    try:
                        node.start()
                    except NodeError:
                        time.sleep(0.05)
    finally:
        done.set()
        for spawner in spawners:
            spawner.join()
        net.close()
    per_thousand = 1000 / max(cycles, 1)
    print(f"{cycles:,} stop/start cycles in {args.seconds:g} s, {started[0]:,} programs started meanwhile")
    print(f"restarts refused their own port: {refused_restarts} "
          f"({refused_restarts * per_thousand:.1f} per 1,000)")
    print(f"stops after which the port still took a connection: {accepted_after_stop} "
          f"({accepted_after_stop * per_thousand:.1f} per 1,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
