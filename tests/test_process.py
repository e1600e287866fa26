"""A node as its own OS process: the command line, and a real kill and restart."""

import os
import socket
import subprocess
import sys

import pytest

from toycoin.errors import NodeError
from toycoin.network import Network
from toycoin.process import NodeProcess

pytestmark = pytest.mark.timeout(60)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "toycoin", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def test_help_describes_the_node_command():
    result = run_cli("node", "--help")
    assert result.returncode == 0
    assert "--peer HOST:PORT" in result.stdout and "listening HOST PORT" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--peer", "nonsense"], "bad address 'nonsense': expected host:port"),
    (["--peer", "127.0.0.1:99999"], "bad address '127.0.0.1:99999'"),
    (["--host", "999.1.1.1"], "'999.1.1.1' is not a valid host name or IP address"),
    (["--name", "x" * 40], "1 to 32 printable ASCII characters"),
])
def test_bad_arguments_are_one_line_on_stderr_and_exit_code_2(args, message):
    result = run_cli("node", *args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_port_in_use_is_one_clear_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli("node", "--port", str(busy.getsockname()[1]))
    assert result.returncode == 2
    assert "address already in use" in result.stderr and result.stderr.count("\n") == 1


@pytest.fixture
def network():
    net = Network(["A"])
    net.add_process("P")
    net.start_all()
    yield net
    net.close()
    assert not net["P"].is_running


def test_a_process_node_is_killed_for_real_and_its_peer_reconnects_after_restart(network):
    a, p = network["A"], network["P"]
    network.connect("P", "A")  # P is a process, so A dials it
    assert a.peers == ("P",)
    snapshot = network.snapshot().node("P")
    assert snapshot.is_process and snapshot.alive and snapshot.height == 0 and snapshot.peers == ("A",)
    pid = p.pid
    p.kill()
    assert not p.is_running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # really gone
    a.wait_until(lambda: a.peers == (), what="A noticed P died")
    assert network.snapshot().node("P").height == -1
    port = p.address[1]
    p.start()
    assert p.address[1] == port and p.pid != pid
    a.wait_until(lambda: a.peers == ("P",), timeout=15, what="A reconnected to the new P")


def test_payments_reach_a_process_node_over_tcp(network):
    alice = network.wallet("alice", "P")
    alice.pay(network.wallet("bob", "A").address, 10)
    p = network.snapshot().node("P")
    assert p.height == 1 and p.balances == (("alice", 90), ("bob", 10))
    assert network.snapshot().node("A").balances == (("alice", 100), ("bob", 0))


def test_a_process_dials_the_peers_it_was_given(network):
    a = network["A"]
    q = NodeProcess("Q", peers=[a.address])
    q.start()
    try:
        a.wait_until(lambda: a.peers == ("Q",), what="Q connected to A")
        q.stop()
        assert q.returncode == 0  # a clean stop, not a kill
    finally:
        q.kill()


def test_a_process_that_cannot_listen_says_why(network):
    with pytest.raises(NodeError, match="address already in use"):
        NodeProcess("Q", port=network["A"].address[1]).start()
