"""Where a node may dial: only inside the networks it was started for, never anywhere a peer says.

Issue 12, item 6: an ``addr`` message could make a node dial the internet,
link-local cloud secrets, broadcast and multicast addresses, and keep a dial
task per address for ever. These tests attack real nodes over loopback.
"""

import ipaddress
import random
import socket
import subprocess
import sys
import threading
import time

import pytest

from unharmed import assert_unharmed

from toycoin import dialler, msg_control, params, peer, peerman, wire
from toycoin.addrman import AddrBudget, AddrMan, local_networks, parse_networks, undialable
from toycoin.errors import NodeError
from toycoin.keys import PrivateKey
from toycoin.node import Node, course_genesis
from toycoin.peer import Limits
from toycoin.process import NodeProcess
from toycoin.spv import LightClient

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


# --- the address book -----------------------------------------------------------------


def loopback(i: int) -> tuple[str, int]:
    return (f"127.0.{i // 250}.{i % 250 + 1}", 8333)


def test_the_book_keeps_only_addresses_it_may_dial():
    book = AddrMan()
    own = ("127.0.0.1", 8333)
    book.ban(("127.0.0.9", 1), "lied")
    book.mark_myself(("127.0.0.8", 1))
    for address in [own, ("127.0.0.9", 1), ("127.0.0.8", 1), ("8.8.8.8", 53), ("0.0.0.0", 1)]:
        assert not book.learn(address, LOOPBACK, own)
    assert book.learn(("127.0.0.2", 1), LOOPBACK, own)
    assert not book.learn(("127.0.0.2", 1), LOOPBACK, own)  # known already
    assert book.wanted == {("127.0.0.2", 1): "learned"}


def test_a_full_book_replaces_a_new_address_never_a_tried_or_asked_one():
    book = AddrMan(max_new=10, rng=random.Random(1))
    book.ask(("127.0.0.1", 1), "A")
    book.learn(("127.0.0.2", 1), LOOPBACK)
    book.reached(("127.0.0.2", 1))  # a learned address that worked
    for i in range(1000):
        book.learn(loopback(i), LOOPBACK)
    assert len(book.new) == 10 and book.replaced == 990 and len(book) == 12
    assert list(book.tried) == [("127.0.0.2", 1)] and list(book.asked) == [("127.0.0.1", 1)]
    assert sum(loopback(i) in book.new for i in range(990, 1000)) < 10  # random, not the last ten


def test_a_new_address_that_never_answers_is_dropped_a_tried_one_waits_longer():
    book = AddrMan()
    new, tried = ("127.0.0.2", 1), ("127.0.0.3", 1)
    book.learn(new, LOOPBACK)
    book.learn(tried, LOOPBACK)
    book.reached(tried)
    waits = []
    for attempt in range(params.MAX_ADDRESS_FAILURES):
        book.failed(new, "connection refused", now=100.0)
        book.failed(tried, "connection refused", now=100.0)
        waits.append(book.retry_at[tried] - 100.0)
        assert (new in book) == (attempt < params.MAX_ADDRESS_FAILURES - 1)
    assert tried in book and waits == sorted(waits) and waits[0] < waits[-1] <= params.RECONNECT_DELAY_MAX
    assert book.down == {tried: "connection refused"}
    book.reached(tried)
    assert book.down == {} and book.failures == {}


def test_select_tries_what_worked_first_then_new_ones_in_order():
    book = AddrMan()
    first, second, worked = ("127.0.0.2", 1), ("127.0.0.3", 1), ("127.0.0.4", 1)
    for address in (first, second, worked):
        book.learn(address, LOOPBACK)
    book.reached(worked)
    assert book.select(0.0, lambda a: False) == (worked, None)
    assert book.select(0.0, {worked}.__contains__) == (first, None)  # connected already: skipped
    book.dialling.add(first)
    assert book.select(0.0, {worked}.__contains__) == (second, None)
    book.failed(second, "refused", now=10.0)
    assert book.select(10.0, {worked}.__contains__) == (None, 10.0 + params.RECONNECT_DELAY_MIN)


def test_asking_for_a_learned_address_moves_it_and_a_ban_removes_it():
    book = AddrMan()
    address = ("127.0.0.2", 1)
    book.learn(address, LOOPBACK)
    assert book.ask(address, "B") and not book.ask(address)
    assert book.wanted == {address: "asked"} and not book.is_learned(address)
    book.ban(address, "forged a proof")
    assert address not in book and not book.ask(address) and book.label(address) == "B"


def test_the_tried_table_is_bounded_too():
    book = AddrMan(max_tried=3)
    for i in range(5):
        book.learn(loopback(i), LOOPBACK)
        book.reached(loopback(i))
    assert list(book.tried) == [loopback(2), loopback(3), loopback(4)]


# --- explicit connections ------------------------------------------------------------


@pytest.fixture
def node():
    a = Node("A")
    a.start()
    yield a
    a.kill()


def test_connecting_outside_the_networks_names_the_option(node):
    with pytest.raises(NodeError) as error:
        node.connect(("192.168.1.7", 8333), wait=False)
    assert str(error.value) == (
        "A will not dial 192.168.1.7:8333: 192.168.1.7 is outside the networks it dials (127.0.0.0/8); "
        "to dial it, start A with networks=['127.0.0.0/8', '192.168.1.0/24'] "
        "(on the command line: --network 127.0.0.0/8 --network 192.168.1.0/24)")
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
    # --host given: a node on loopback that dials out is a choice (without --host, see test_cli_network)
    (["--host", "127.0.0.1", "--peer", "192.168.1.7:8333"],
     "will not dial 192.168.1.7:8333: 192.168.1.7 is outside the networks it dials (127.0.0.0/8); to dial "
     "it, start node with networks=['127.0.0.0/8', '192.168.1.0/24'] (on the command line: "
     "--network 127.0.0.0/8 --network 192.168.1.0/24)"),
    (["--peer", "224.0.0.1:8333", "--network", "0.0.0.0/0"], "224.0.0.1 is a multicast address"),
])
def test_network_errors_are_one_line_and_exit_code_2(args, message):
    result = run_cli("node", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("python -m toycoin node: error: ")


def test_a_node_process_is_given_its_networks():
    assert NodeProcess("P", networks="10.1.2.0/24").networks == ["10.1.2.0/24"]
    with pytest.raises(ValueError, match="bad network 'nonsense'"):
        NodeProcess("P", networks=["nonsense"])
    proc = NodeProcess("P", networks=["127.0.0.0/8", "192.168.1.0/24"], peers=[("192.168.1.7", 8333)])
    assert proc._command()[-4:] == ["--network", "127.0.0.0/8", "--network", "192.168.1.0/24"]
    proc.start()  # a peer on the LAN it was given: accepted, dialled in the background
    try:
        assert proc.is_running
    finally:
        proc.stop()


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux answers on every address of 127.0.0.0/8")
def test_a_node_process_learns_an_address_outside_its_networks_and_never_dials_it():
    a, b = Node("A"), Node("B", host="127.0.0.2")
    narrow = NodeProcess("P", networks=["127.0.0.1/32"])
    wide = NodeProcess("Q")
    try:
        a.start()
        b.start()
        a.connect(b)  # A's answer to getaddr holds B at 127.0.0.2
        for proc in (narrow, wide):
            proc.peers_to_dial = [a.address]
            proc.start()
        b.wait_until(lambda: "Q" in b.peers, timeout=20, what="Q learned B from A and dialled it")
        a.wait_until(lambda: {"P", "Q"} <= set(a.peers), timeout=20, what="P and Q are connected to A")
        assert not any(e.peer == "P" for e in b.events), "P dialled outside 127.0.0.1/32"
        assert not any("127.0.0.2" in line for line in narrow.log)
    finally:
        for proc in (narrow, wide):
            proc.stop()
        a.kill()
        b.kill()


# --- a flood of addresses ------------------------------------------------------------

FAST = Limits(handshake_timeout=2.0, frame_timeout=2.0)
FORBIDDEN = [("8.8.8.8", 8333), ("169.254.169.254", 80), ("10.0.0.1", 22), ("192.168.1.1", 8333),
             ("224.0.0.1", 8333), ("255.255.255.255", 8333), ("0.0.0.0", 8333)]


def dead_loopback(count: int, start: int = 0) -> list[tuple[str, int]]:
    """Loopback addresses where nothing listens (127.1.x.y, port 9): a dial is refused at once."""
    return [(f"127.1.{i // 250}.{i % 250 + 1}", 9) for i in range(start, start + count)]


@pytest.fixture
def dials(monkeypatch):
    """Every dial any peer of this process starts: (address, monotonic time). Off loopback the
    recorder refuses by itself, so a test that fails sends nothing out."""
    real, seen = peer.open_frames, []

    async def recording(host, port, *args, **kwargs):
        seen.append(((host, port), time.monotonic()))
        if not ipaddress.IPv4Address(host).is_loopback:
            raise ConnectionRefusedError("the test's recorder lets no traffic leave this machine")
        return await real(host, port, *args, **kwargs)

    for module in (dialler, peerman):
        monkeypatch.setattr(module, "open_frames", recording)
    return seen


def handshake(sock: socket.socket, name: str = "mallory") -> None:
    """Say hello as a full node on a raw socket (its answers are never read)."""
    sock.sendall(wire.encode_frame(msg_control.Version(name, 42, 1, 0)))
    sock.sendall(wire.encode_frame(msg_control.Verack()))


def send_addr(sock: socket.socket, *batches: list[tuple[str, int]]) -> None:
    """One addr message per batch."""
    for batch in batches:
        sock.sendall(wire.encode_frame(msg_control.Addr(tuple(batch))))


def book(node):
    """(tried, new, asked) addresses of ``node``, read on its network thread."""
    book = node.addrman
    return node.runtime.call(lambda: (set(book.tried), set(book.new), set(book.asked)))


class HostileNode:
    """A listening socket that greets whoever dials it as a full node, sends ``batches`` of
    addresses in addr messages (answers to the dialler's getaddr, as far as it knows), then
    reads until the dialler hangs up."""

    def __init__(self, *batches: list[tuple[str, int]]) -> None:
        self.batches = batches
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.address = self.server.getsockname()
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.server:
            while not self.closed.is_set():
                try:
                    conn, _ = self.server.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            try:
                handshake(conn)
                send_addr(conn, *self.batches)
                conn.settimeout(30)
                while conn.recv(65536):
                    pass
            except OSError:
                pass

    def close(self) -> None:
        self.closed.set()
        self.thread.join(5)


def test_a_flood_of_addr_stores_and_dials_nothing_outside_and_keeps_what_worked(dials):
    a, b = Node("A", limits=FAST), Node("B", limits=FAST)
    a.start()
    b.start()
    first = HostileNode([b.address])  # first an honest address: A dials B, and it works
    floods = [HostileNode(FORBIDDEN + dead_loopback(993, 993 * i)) for i in range(3)]  # 3 x 1,000
    mallory = socket.create_connection(a.address, timeout=5)  # and 1,000 more, unasked
    try:
        a.connect(first.address, wait=False)
        a.wait_until(lambda: "B" in a.peers, what="A reached B, learned from a peer it dialled")
        assert b.address in book(a)[0], "B worked: it is tried"
        tasks_before = len(a.runtime.call(a.tasks))
        most_tasks = []  # A's tasks at each failed dial (on the network thread)
        a.subscribe(lambda e: most_tasks.append(len(a.tasks())) if e.kind == "connect failed" else None)

        handshake(mallory)
        send_addr(mallory, dead_loopback(1000, 5000))
        for hostile in floods:
            a.connect(hostile.address, wait=False)  # A asks each whom it knows: 1,000 answers each
        a.wait_until(lambda: a.addrman.replaced >= 1900, what="A took in the three answers")
        a.wait_until(lambda: any(e.kind == "addr ignored" for e in a.events), what="A ignored the unasked")
        a.wait_until(lambda: a.dialler.attempts >= 20, what="A dialled some of the flood")
        tried, new, asked = book(a)
        figures = {"tasks": len(a.runtime.call(a.tasks)), "tasks before": tasks_before,
                   "most tasks": max(most_tasks), "new": len(new), "tried": len(tried), "asked": len(asked),
                   "replaced": a.runtime.call(lambda: a.addrman.replaced), "dials": a.dialler.attempts}
        print("after the flood:", figures)
        assert len(new) <= params.MAX_NEW_ADDRESSES
        assert all(ipaddress.IPv4Address(h).is_loopback for h, _ in new | tried), "kept an outside address"
        assert not set(FORBIDDEN) & (new | tried)
        assert sum(address in new for address in dead_loopback(1000, 5000)) <= 1, "took the unasked flood"
        # Besides the tasks of before: the dialler, a dial loop and a connection per hostile node,
        # and the dials of learned addresses (one outbound slot each).
        assert figures["most tasks"] <= tasks_before + 1 + 3 + FAST.max_outbound, "a task per address?"
        assert b.address in tried, "the flood pushed out an address that worked"
        assert all(ipaddress.IPv4Address(host).is_loopback for (host, _), _ in dials), "dialled outside"
        assert not {address for address, _ in dials} & set(FORBIDDEN)

        b.kill()  # B comes back on its port: A, busy with the flood, still reconnects to it
        a.wait_until(lambda: "B" not in a.peers, what="A noticed B is gone")
        b.restart()
        a.wait_until(lambda: "B" in a.peers, timeout=15, what="A reconnected to B")
        assert b.address in book(a)[0]
        assert a.ping("B") > 0 and a.is_running
        assert_unharmed(a, (0, course_genesis().hash))
    finally:
        mallory.close()
        a.kill()
        b.kill()
        for hostile in [first, *floods]:
            hostile.close()


def test_dials_of_learned_addresses_are_rate_limited(dials):
    a = Node("A", limits=FAST)
    a.start()
    hostile = HostileNode(dead_loopback(1000))
    try:
        a.connect(hostile.address, wait=False)
        a.wait_until(lambda: a.dialler.attempts >= 15, what="A dialled 15 addresses of the flood")
        times = sorted(t for (host, _), t in dials if host.startswith("127.1."))
        spans = [later - earlier for earlier, later in zip(times, times[10:], strict=False)]  # 11 dials each
        print(f"{len(times)} dials, {(len(times) - 1) / (times[-1] - times[0]):.1f} per second")
        assert min(spans) >= 10 * params.DIAL_INTERVAL * 0.9, "more than one dial per DIAL_INTERVAL"
        assert len(a.runtime.call(a.tasks)) <= 5 + FAST.max_outbound
    finally:
        a.kill()
        hostile.close()


def test_a_peer_that_was_not_asked_gets_a_trickle_of_addresses_processed():
    now = 0.0
    budget = AddrBudget(clock=lambda: now)
    assert budget.take(1000) == 1  # a peer may announce itself
    now = 100.0
    assert budget.take(1000) == 10  # 0.1 a second
    budget.asked()  # we sent getaddr: a full answer may come
    assert budget.take(1000) == 1000 and budget.take(5) == 0
    assert budget.ignored == 999 + 990 + 5


# --- the light wallet ------------------------------------------------------------------


def test_a_light_wallet_dials_only_inside_its_networks(dials):
    honest = Node("B", limits=FAST)
    honest.start()
    hostile = HostileNode(FORBIDDEN + [honest.address] + dead_loopback(900))
    wallet = LightClient(PrivateKey.from_seed("alice"), [hostile.address], name="alice", limits=FAST,
                         timeout=2.0)
    try:
        wallet.start(wait=False)
        wallet.wait_until(lambda: "B" in wallet.nodes, what="the wallet reached B, learned from mallory")
        wallet.wait_until(lambda: wallet.dialler.attempts >= 10, what="the wallet dialled some of the flood")
        tried, new, asked = book(wallet)
        assert (honest.address in tried) and asked == {hostile.address}
        assert all(ipaddress.IPv4Address(h).is_loopback for h, _ in new | tried)
        assert all(ipaddress.IPv4Address(host).is_loopback for (host, _), _ in dials), "dialled outside"
        assert len(wallet.runtime.call(wallet.tasks)) <= 4 + params.SPV_CONNECTIONS
    finally:
        wallet.stop()
        hostile.close()
        honest.kill()


def test_a_light_wallet_told_of_a_node_outside_its_networks_says_how_to_allow_it():
    where = r"outside the networks it dials \(127\.0\.0\.0/8\); to dial it, "
    allow = r"start alice with networks=\['127\.0\.0\.0/8', '192\.168\.1\.0/24'\]"
    with pytest.raises(NodeError, match=where + allow):
        LightClient(PrivateKey.from_seed("alice"), [("192.168.1.5", 8333)], name="alice")
    lan = LightClient(PrivateKey.from_seed("alice"), [("192.168.1.5", 8333)], name="alice",
                      networks=["192.168.1.0/24"])
    assert lan.networks == (ipaddress.IPv4Network("192.168.1.0/24"),)


def test_a_full_node_that_says_port_0_is_never_passed_on_so_honest_peers_keep_its_victim():
    """A peer announcing port 0 (it does not listen) was kept as listening at port 0, and the
    victim's answer to getaddr carried it: every honest node that dialled the victim dropped it
    as "malformed addr"."""
    a, b = Node("A", limits=FAST), Node("B", limits=FAST)
    a.start()
    b.start()
    try:
        with socket.create_connection(a.address, timeout=5) as mallory:
            for message in (msg_control.Version("mallory", 5, 0, 0, services=params.NODE_NETWORK),
                            msg_control.Verack()):
                mallory.sendall(wire.encode_frame(message))
            a.wait_until(lambda: "mallory" in a.peers, what="mallory is connected to A")
            b.connect(a)  # B asks A whom it knows
            b.wait_until(lambda: any(e.kind == "receive" and e.command == "addr" for e in b.events),
                         what="A answered B's getaddr")
            b.sync_with_ping()
            assert b.peers == ("A",)
            assert not any(e.kind == "disconnected" for e in b.events)
        with pytest.raises(ValueError, match="no port 0"):
            msg_control.Addr((("127.0.0.1", 0),))  # a node cannot write what it refuses to read
    finally:
        a.kill()
        b.kill()
