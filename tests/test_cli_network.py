"""Chapter 07's network from a terminal only: node processes, a wallet that pays, sealing.

What the README walks through, run here as the learner types it: two nodes
started with ``python -m toycoin node`` (one sealing every half second), a
payment made with ``python -m toycoin wallet ... pay``, and balances that
both nodes agree on once the block has gone round.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from toycoin.addrman import format_address
from toycoin.keys import PrivateKey
from toycoin.node import Node
from toycoin.process import NodeProcess
from toycoin.relay import Relay
from toycoin.runtime import Runtime
from toycoin.sync import BlockSync

pytestmark = pytest.mark.timeout(90)


def wallet(node, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "toycoin", "wallet", "--node", format_address(node.address), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


@pytest.fixture
def runtime():
    runtime = Runtime("test-cli")
    yield runtime
    runtime.close()


def test_a_terminal_only_network_pays_seals_and_agrees(runtime):
    # A is in this process only so that the test can wait on its state; it runs the same
    # services as `python -m toycoin node --sync`. B is a node process that seals.
    a = Node("A", services=[Relay, BlockSync], runtime=runtime)
    a.start()
    b = NodeProcess("B", runtime=runtime, peers=[a.address], sync=True, seal_every=0.5)
    try:
        b.start()
        a.wait_until(lambda: a.peers == ("B",), timeout=20, what="B has connected to A")
        paid = wallet(a, "pay", "alice", "bob", "5")
        assert paid.returncode == 0, paid.stderr
        assert paid.stdout.startswith("alice paid bob 5: txid ")
        # A relays the payment to B, B seals it within half a second, and A syncs B's block.
        a.wait_until(lambda: a.height == 1, timeout=20, what="B sealed the payment and A has the block")
        for node in (a, b):
            shown = wallet(node, "balance", "alice", "bob")
            assert shown.stdout == "alice 95\nbob 5\n", shown.stderr
        assert "B: sealed block 1 with 1 payment(s)" in b.log
    finally:
        b.kill()
        a.stop()


def test_wallet_errors_are_one_line_and_name_the_fix(runtime):
    a = NodeProcess("A", runtime=runtime, sync=True)
    a.start()
    try:
        refused = wallet(a, "pay", "bob", "alice", "5")  # Bob has nothing
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.startswith("python -m toycoin wallet: error: ")
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        to_address = wallet(a, "pay", "alice", PrivateKey.from_seed("carol").address, "1")
        assert to_address.returncode == 0, to_address.stderr
    finally:
        a.kill()
    down = wallet(a, "balance", "alice")
    assert down.returncode == 1 and "cannot reach node at 127.0.0.1:" in down.stderr


def node_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "toycoin", "node", "--name", "ada", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, input="")  # stdin closed


@pytest.mark.parametrize("args, message", [
    # A student who forgets --host: 127.0.0.1 would make a node no other laptop can dial.
    (["--peer", "192.0.2.10:8333"], "the default --host 127.0.0.1 can be reached from this machine only"),
    (["--network", "192.0.2.0/24", "--peer", "192.0.2.10:8333"],
     "the default --host 127.0.0.1 can be reached from this machine only"),
    (["--host", "0.0.0.0"], "--host 0.0.0.0 would listen on every network this laptop is on"),
    (["--host", "192.0.2.23", "--peer", "192.0.2.10:8333"], "192.0.2.23 is not an address of this machine"),
    (["--host", "my-laptop", "--peer", "192.0.2.10:8333"], "--host 'my-laptop' is not an IPv4 address"),
    (["--peer", "192.0.2.10"], "bad address '192.0.2.10': the port is missing, e.g. 192.0.2.10:8333"),
    (["--peer", "teacher-laptop:8333"], "teacher-laptop is not an IPv4 address"),
    (["--network", "192.0.2.0/33"], "bad network '192.0.2.0/33'"),
])
def test_a_students_mistakes_on_the_command_line_are_one_line_naming_the_fix(args, message):
    result = node_cli("--port", "0", "--pow", *args)
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("python -m toycoin node: error: ")


def test_a_node_on_loopback_with_loopback_peers_still_starts():
    # The chapters' terminal nodes: 127.0.0.1 and peers on it are no classroom mistake.
    result = node_cli("--port", "0", "--peer", "127.0.0.1:9", "--stop-on-eof")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("listening 127.0.0.1 ")


def test_ctrl_c_stops_a_mining_node_without_a_traceback():
    # Ctrl-C in a terminal sends SIGINT to every process of the foreground group: the node and
    # its miner's worker process. The node stops cleanly; the worker says nothing.
    command = [sys.executable, "-m", "toycoin", "node", "--name", "teacher", "--mine", "--hashrate", "200"]
    node = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert node.stdout.readline().startswith("listening 127.0.0.1 ")
        time.sleep(1.0)  # the miner's worker process is up and hashing (nothing to wait on from here)
        os.killpg(node.pid, signal.SIGINT)
        assert node.wait(30) == 0
        stderr = node.stderr.read()
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait(10)
