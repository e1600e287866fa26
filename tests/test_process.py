"""A node as its own OS process: the command line, and a real kill and restart."""

import os
import socket
import subprocess
import sys
import time

import pytest

from toycoin.errors import NodeError
from toycoin.events import Event
from toycoin.network import Network
from toycoin.cli import ConnectionLog
from toycoin.process import NodeProcess

pytestmark = pytest.mark.timeout(60)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "toycoin", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def test_no_command_lists_the_commands():
    result = run_cli()
    assert result.returncode == 2
    assert "choose a command" in result.stderr
    assert "node " in result.stderr and "wallet " in result.stderr


def test_help_describes_the_node_command():
    result = run_cli("node", "--help")
    assert result.returncode == 0
    assert "--peer HOST:PORT" in result.stdout and "listening HOST PORT" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--peer", "nonsense"], "bad address 'nonsense': expected host:port"),
    (["--peer", "127.0.0.1:99999"], "bad address '127.0.0.1:99999': port 99999 is out of range (1 to 65535)"),
    (["--port", "99999"], "port 99999 is out of range (0 to 65535; 0: any free port)"),
    (["--seal-every", "0"], "--seal-every needs a number of seconds above 0"),
    (["--peer", "nosuchhost.invalid:8333"], "nosuchhost.invalid is not an IPv4 address (host names are not"),
    (["--host", "999.1.1.1"], "'999.1.1.1' is not a valid host name or IP address"),
    (["--name", "x" * 40], "1 to 32 printable ASCII characters"),
])
def test_bad_arguments_are_one_line_on_stderr_and_exit_code_2(args, message):
    result = run_cli("node", *args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("python -m toycoin node: error: ")  # one prefix for every error


def test_a_port_in_use_is_one_clear_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli("node", "--port", str(busy.getsockname()[1]))
    assert result.returncode == 2
    assert "address already in use" in result.stderr and result.stderr.count("\n") == 1
    assert result.stderr.startswith("python -m toycoin node: error: cannot listen on 127.0.0.1:")


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


# --- what a running node says on stderr -------------------------------------------------

def wait_for_line(process: NodeProcess, text: str, timeout: float = 15.0) -> None:
    """Wait until a line of the process's stderr contains ``text`` (polling its log)."""
    deadline = time.monotonic() + timeout
    while not any(text in line for line in process.log):
        assert time.monotonic() < deadline, f"{process.name} never said {text!r}; it said {process.log}"
        time.sleep(0.02)


def count(process: NodeProcess, text: str) -> int:
    return sum(text in line for line in process.log)


def test_a_process_says_on_stderr_when_a_peer_connects_and_leaves():
    a = NodeProcess("A")
    a.start()
    b = NodeProcess("B", peers=[a.address])
    try:
        b.start()
        wait_for_line(b, "B: connected to A (outbound full node)")
        wait_for_line(a, "A: connected to B (inbound full node)")
        b.stop()
        wait_for_line(a, "A: disconnected from B (")
        assert b.log[-1] == "B: disconnected from A (node stopped)"
    finally:
        b.kill()
        a.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_peer_is_reported_once_not_at_every_retry():
    port = free_port()  # nobody listens there: each dial is refused
    p = NodeProcess("P", peers=[("127.0.0.1", port)])
    p.start()
    try:
        wait_for_line(p, f"P: cannot connect to 127.0.0.1:{port}: connection refused; retrying")
        # Now something that is not a toycoin node listens there: accept and hang up, four times.
        with socket.socket() as impostor:
            impostor.bind(("127.0.0.1", port))
            impostor.listen()
            impostor.settimeout(15)
            for _ in range(4):  # four accepted dials prove P kept retrying all along
                impostor.accept()[0].close()
        wait_for_line(p, f"P: 127.0.0.1:{port} closed the connection before the handshake")
        assert count(p, "cannot connect") == 1 and count(p, "before the handshake") == 1, p.log
    finally:
        p.kill()


def event(kind: str, peer: str, detail: str) -> Event:
    direction = {"outbound": "out", "inbound": "in"}.get(detail) if kind == "opened" else None
    return Event(0, kind, "A", peer, detail, direction=direction)


def test_the_connection_log_says_each_failure_once_until_it_connects():
    lines: list[str] = []
    log = ConnectionLog(lines.append)
    for e in [event("connect failed", "127.0.0.1:9", "connection refused; retrying with backoff"),
              event("opened", "127.0.0.1:9", "outbound"),
              event("send", "127.0.0.1:9", "version"),
              event("disconnected", "127.0.0.1:9", "bad magic"),
              event("opened", "127.0.0.1:9", "outbound"),
              event("disconnected", "127.0.0.1:9", "bad magic"),
              event("connected", "B", "outbound full node"),
              event("disconnected", "B", "peer closed"),
              event("opened", "127.0.0.1:50123", "inbound"),
              event("disconnected", "127.0.0.1:50123", "no handshake within 5s")]:
        log(e)
    assert lines == [
        "A: cannot connect to 127.0.0.1:9: connection refused; retrying with backoff",
        "A: 127.0.0.1:9 closed the connection before the handshake (bad magic); "
        "is a toycoin node listening there? retrying with backoff",
        "A: connected to B (outbound full node)",
        "A: disconnected from B (peer closed)",
    ]


def test_every_line_of_a_process_is_handed_to_on_line_and_the_log_keeps_the_last(monkeypatch):
    from toycoin import msg_control, params, wire

    monkeypatch.setattr(params, "MAX_EVENTS", 3)
    seen = []
    proc = NodeProcess("P")
    proc.on_line = seen.append
    proc.start()
    try:
        for i in range(2):  # a full node that comes and goes: two lines each
            with socket.create_connection(proc.address) as sock:
                for message in (msg_control.Version(f"m{i}", i, 1, 0), msg_control.Verack()):
                    sock.sendall(wire.encode_frame(message))
                sock.recv(1)
        deadline = time.monotonic() + 10
        while len(seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.stop()
    assert len(seen) >= 4 and proc.log == seen[-3:]
