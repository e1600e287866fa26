"""Chapter 07's catch-up, over and over: does the restarted node download from both its peers?

Three nodes in a mesh, A dials B and C, B dials C. C stops, A seals 42
blocks, C starts again and catches up. Its blocks should come from A and B
at once (the segmented download the chapter shows). Whether they do depends
on when each peer dials C again:

- ``node.start()`` alone: A and B each redial C when their own backoff says,
  up to RECONNECT_DELAY_MAX apart in phase; C may be done with one before the
  other is back;
- ``Network.start(name)`` (what the panel's button does): both are told C is
  back and dial it in the same step of the network thread.

Threads start short programs meanwhile, as a notebook's panel does when it
draws with graphviz, because that is the scheduling noise a notebook has.
For each way it counts the catch-ups where a peer sent fewer than a quarter
of the blocks, and prints both.

    python benchmarks/stress_rejoin.py --trials 100

It is a script, not a test: tests/test_network.py checks that the peers come
back together, and chapter 07 under nbval prints the split.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from collections import Counter

from toycoin.network import Network
from toycoin.relay import Relay
from toycoin.sync import BlockSync


def catch_up(told: bool) -> Counter:
    """One catch-up of C; which peer sent how many of its blocks."""
    with Network(["A", "B", "C"], wallet_names=(), services=[Relay, BlockSync]) as net:
        net.start_all()
        net.mesh()
        net["C"].stop()
        net.wait_settled()
        for _ in range(42):
            net["A"].seal()
        net.wait_until(lambda: net["B"].height == 42, timeout=10, what="B follows A")
        if told:
            net.start("C")
        else:
            net["C"].start()
        net["C"].wait_until(lambda: net["C"].height == 42, timeout=30, what="C caught up")
        restart = max(e.seq for e in net["C"].events if e.kind == "started")
        return Counter(e.peer for e in net["C"].events if e.seq > restart and e.kind == "block applied")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="catch-ups for each way of starting C")
    parser.add_argument("--threads", type=int, default=2, help="threads starting programs meanwhile")
    args = parser.parse_args()

    done = threading.Event()

    def start_programs() -> None:
        while not done.is_set():
            subprocess.run([sys.executable, "-c", "pass"], check=True)

    threads = [threading.Thread(target=start_programs, daemon=True) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    lopsided = {False: 0, True: 0}
    try:
        for _ in range(args.trials):
            for told in (False, True):
                shares = catch_up(told)
                if len(shares) < 2 or min(shares.values()) < 42 // 4:
                    lopsided[told] += 1
    finally:
        done.set()
    for told, label in ((False, "node.start(), peers wait out their backoff"),
                        (True, "Network.start(), peers told at once")):
        print(f"{label}: {lopsided[told]} of {args.trials} catch-ups had a peer send under a quarter")
    return 0


if __name__ == "__main__":
    sys.exit(main())
