"""Where a node may dial: only inside the networks it was started for, never anywhere a peer says.

Issue 12, item 6: an ``addr`` message could make a node dial the internet,
link-local cloud secrets, broadcast and multicast addresses, and keep a dial
task per address for ever. These tests attack real nodes over loopback.
"""

import ipaddress
import subprocess
import sys

import pytest

from toycoin.addrman import local_networks, parse_networks, undialable
from toycoin.errors import NodeError
from toycoin.node import Node
from toycoin.process import NodeProcess

pytestmark = pytest.mark.timeout(60)

LOOPBACK = (ipaddress.IPv4Network("127.0.0.0/8"),)


# --- the networks option -------------------------------------------------------------


def test_a_node_dials_loopback_by_default_and_a_lan_only_when_told():
    assert Node("A").networks == LOOPBACK
    assert Node("A", host="192.168.1.23").networks == (ipaddress.IPv4Network("192.168.1.0/24"),)
    lan = Node("A", networks=["10.1.2.0/24", ipaddress.IPv4Network("127.0.0.0/8")])
    assert lan.networks == (ipaddress.IPv4Network("10.1.2.0/24"), LOOPBACK[0])
    assert Node("A", networks="10.1.2.3/24").networks == (ipaddress.IPv4Network("10.1.2.0/24"),)


@pytest.mark.parametrize("networks, message", [
    (["nonsense"], "bad network 'nonsense': expected an IPv4 network in CIDR notation"),
    (["10.0.0.1"], "bad network '10.0.0.1'"),  # a bare address: say which network
    (["::1/128"], "bad network '::1/128'"),
    ([], "no networks given"),
])
def test_bad_networks_are_a_clear_error(networks, message):
    with pytest.raises(ValueError, match=message):
        Node("A", networks=networks)


def test_local_networks_of_names_and_any_address_are_loopback():
    assert local_networks("localhost") == LOOPBACK
    assert local_networks("0.0.0.0") == LOOPBACK
    assert parse_networks(None, "10.9.8.7") == (ipaddress.IPv4Network("10.9.8.0/24"),)


@pytest.mark.parametrize("address", [
    ("0.0.0.0", 8333), ("224.0.0.1", 8333), ("239.255.255.250", 1900), ("255.255.255.255", 8333),
    ("169.254.169.254", 80), ("10.1.2.255", 8333), ("10.1.2.5", 0), ("10.1.2.5", 70000),
    ("240.0.0.1", 8333), ("teacher-laptop", 8333),
])
def test_never_dialled_whatever_the_networks_say(address):
    everything = (ipaddress.IPv4Network("0.0.0.0/0"),)
    assert undialable(address, everything) is not None
    assert undialable(address, (ipaddress.IPv4Network("10.1.2.0/24"),)) is not None


def test_only_inside_the_networks():
    lan = (ipaddress.IPv4Network("10.1.2.0/24"),)
    assert undialable(("10.1.2.5", 8333), lan) is None
    assert "outside the networks it dials (10.1.2.0/24)" in undialable(("10.1.3.5", 8333), lan)
    assert undialable(("127.0.0.1", 8333), LOOPBACK) is None
    assert undialable(("127.0.0.255", 8333), LOOPBACK) is None  # a loopback address like any other
    assert "broadcast" in undialable(("127.255.255.255", 8333), LOOPBACK)
    assert undialable(("8.8.8.8", 53), LOOPBACK) is not None


# --- explicit connections ------------------------------------------------------------


@pytest.fixture
def node():
    a = Node("A")
    a.start()
    yield a
    a.kill()


def test_connecting_outside_the_networks_names_the_option(node):
    with pytest.raises(NodeError, match=r"outside the networks it dials \(127\.0\.0\.0/8\); to dial it, "
                                        r"start A with networks=\['192\.168\.1\.0/24'\] "
                                        r"\(on the command line: --network 192\.168\.1\.0/24\)"):
        node.connect(("192.168.1.7", 8333), wait=False)
    with pytest.raises(NodeError, match="is a multicast address"):
        node.connect(("224.0.0.1", 8333), wait=False)
    assert node.runtime.call(lambda: dict(node.addrman.wanted)) == {}


def test_a_host_name_is_looked_up_once_then_the_rules_apply(node):
    b = Node("B")
    b.start()
    try:
        node.connect(("localhost", b.address[1]))  # localhost is 127.0.0.1: inside
        assert node.peers == ("B",)
        assert node.runtime.call(lambda: list(node.addrman.wanted)) == [("127.0.0.1", b.address[1])]
        node.disconnect(("localhost", b.address[1]))
        assert node.runtime.call(lambda: list(node.addrman.wanted)) == []
    finally:
        b.kill()
    with pytest.raises(NodeError, match="'teacher-laptop.invalid' is not an IPv4 address and does not "
                                        "resolve to one"):
        node.connect(("teacher-laptop.invalid", 8333), wait=False)


def test_a_node_given_a_lan_may_dial_it():
    a = Node("A", networks=["127.0.0.0/8", "192.168.1.0/24"])
    a.start()
    try:
        a.connect(("192.168.1.7", 8333), wait=False)  # accepted: dialled in the background
        assert ("192.168.1.7", 8333) in a.runtime.call(lambda: dict(a.addrman.wanted))
    finally:
        a.kill()


# --- the command line ----------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "toycoin", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def test_help_describes_network():
    result = run_cli("node", "--help")
    assert result.returncode == 0 and "--network CIDR" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--network", "nonsense"], "bad network 'nonsense': expected an IPv4 network in CIDR notation"),
    (["--network", "10.0.0.1"], "bad network '10.0.0.1'"),
    (["--peer", "192.168.1.7:8333"], "will not dial 192.168.1.7:8333: 192.168.1.7 is outside the networks "
                                     "it dials (127.0.0.0/8); to dial it, start node with "
                                     "networks=['192.168.1.0/24'] (on the command line: --network "
                                     "192.168.1.0/24)"),
    (["--peer", "224.0.0.1:8333", "--network", "0.0.0.0/0"], "224.0.0.1 is a multicast address"),
])
def test_network_errors_are_one_line_and_exit_code_2(args, message):
    result = run_cli("node", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("python -m toycoin node: error: ")


def test_a_node_process_is_given_its_networks():
    proc = NodeProcess("P", networks=["127.0.0.0/8", "192.168.1.0/24"], peers=[("192.168.1.7", 8333)])
    assert proc._command()[-4:] == ["--network", "127.0.0.0/8", "--network", "192.168.1.0/24"]
    proc.start()  # a peer on the LAN it was given: accepted, dialled in the background
    try:
        assert proc.is_running
    finally:
        proc.stop()
