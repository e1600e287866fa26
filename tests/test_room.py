"""Room: the status message, a crawl of a network (in-process nodes and node processes), joining
a teacher's node, a room of processes on loopback addresses, and hostile answers bounded."""

import errno
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import ClassVar

import pytest

from toycoin import room, wire
from toycoin.cli import ConnectionLog
from toycoin.dialler import dial_error, source_address
from toycoin.errors import NodeError, ParseError
from toycoin.message import Message, write_list
from toycoin.mining import Miner
from toycoin.msg_control import write_address
from toycoin.msg_room import MAX_STATUS_PEERS, GetStatus, Status, write_peer
from toycoin.message import write_text
from toycoin.node import Node
from toycoin.peer import Limits
from toycoin.pow import COURSE_POW
from toycoin.process import NodeProcess
from toycoin.relay import Relay
from toycoin.roommap import NodeStatus, RoomMap
from toycoin.sync import BlockSync

pytestmark = pytest.mark.timeout(90)

FAST = Limits(handshake_timeout=2.0, frame_timeout=2.0)
MULTI_LOOPBACK = room.loopback_hosts(8) is not None
needs_loopback_addresses = pytest.mark.skipif(not MULTI_LOOPBACK, reason="only 127.0.0.1 binds here")


@pytest.fixture
def make_node():
    nodes = []

    def make(name, host="127.0.0.1", cls=Node, mine=False, hashrate=None, **options):
        node = cls(name, host=host, rules=COURSE_POW, limits=options.pop("limits", FAST),
                   services=[Relay, BlockSync, lambda: Miner(hashrate=hashrate)], **options)
        node.start()
        if mine:
            node.service(Miner).start()
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.kill()


# --- the message ----------------------------------------------------------------------------


def test_status_round_trips_through_the_wire_registry():
    status = Status("alice", ("10.77.0.2", 8333), 12, bytes(range(32)),
                    ((("10.77.0.1", 8333), "teacher"), (("10.77.0.3", 8333), "bob")), True, 50, 3)
    assert wire.NODE_MESSAGES[b"status"] is Status and wire.NODE_MESSAGES[b"getstatus"] is GetStatus
    assert Status.parse(status.serialize()) == status
    assert GetStatus.parse(GetStatus().serialize()) == GetStatus()
    assert repr(status).startswith("status(name='alice', height=12, tip=")
    assert repr(status).endswith("2 peers, mining)")


def test_a_status_may_name_no_more_peers_than_a_node_may_have():
    peers = tuple(((f"10.77.{i // 250}.{i % 250 + 1}", 8333), f"n{i}") for i in range(MAX_STATUS_PEERS + 1))
    with pytest.raises(ValueError, match="at most"):
        Status("x", ("10.77.0.2", 8333), 0, bytes(32), peers)
    # Written by hand, as a hostile node would: refused before the entries are read.
    payload = (write_text("x") + write_address(("10.77.0.2", 8333)) + bytes(4 + 32)
               + write_list(peers, write_peer) + bytes(9))
    with pytest.raises(ParseError, match=f"status with {MAX_STATUS_PEERS + 1} peers"):
        Status.parse(payload)


def test_a_status_with_a_long_name_or_a_strange_mining_flag_is_refused():
    good = Status("x", ("10.77.0.2", 8333), 0, bytes(32), ()).serialize()
    with pytest.raises(ParseError, match="longer than 32"):
        Status.parse(write_text("x" * 40) + good[2:])
    with pytest.raises(ParseError, match="mining is 7"):
        Status.parse(good[:-9] + bytes([7]) + good[-8:])


def test_a_node_answers_getstatus_with_its_peers_and_miner(make_node):
    a = make_node("A", mine=True, hashrate=100)
    b = make_node("B")
    b.connect(a)
    status = room.ask_status(a.address)
    assert status.name == "A" and status.address == f"{a.address[0]}:{a.address[1]}"
    assert status.peers == ((f"{b.address[0]}:{b.address[1]}", "B"),)
    assert status.mining and status.hashrate == 100
    b_status = room.ask_status(b.address)
    assert not b_status.mining and b_status.hashrate is None and b_status.tip_hex == b.ledger.tip.hash_hex


# --- addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("teacher", "'teacher' is a name, not an address"),
    ("10.77.0.1", "the port is missing, e.g. 10.77.0.1:8333"),
    ("teacher.local:8333", "'teacher.local' is not an IPv4 address"),
    ("10.77.0.1:99999", "the port is a number from 1 to 65535"),
])
def test_a_name_or_a_bad_address_says_what_to_give(text, message):
    with pytest.raises(ValueError, match=message):
        room.parse_address(text)
    with pytest.raises(ValueError, match=message):
        room.crawl(text)


def test_parse_address_takes_text_or_a_pair():
    assert room.parse_address("10.77.0.1:8333") == ("10.77.0.1", 8333)
    assert room.parse_address(("10.77.0.1", 8333)) == ("10.77.0.1", 8333)


def test_a_node_dials_from_the_address_it_listens_on():
    assert source_address("127.0.0.3", ("127.0.0.2", 8333)) == ("127.0.0.3", 0)
    assert source_address("10.77.0.3", ("10.77.0.1", 8333)) == ("10.77.0.3", 0)
    assert source_address("0.0.0.0", ("10.77.0.1", 8333)) is None  # listening everywhere: the system's choice
    assert source_address("127.0.0.1", ("10.77.0.1", 8333)) is None  # loopback cannot reach a LAN
    assert source_address("localhost", ("127.0.0.1", 8333)) is None
    assert source_address("127.0.0.1", ("127.0.0.2", 8333)) is None  # the system's own choice


# --- the crawl --------------------------------------------------------------------------------


def test_crawl_maps_every_node_its_links_and_tips(make_node):
    a, b, c, d = (make_node(n) for n in "ABCD")
    for x, y in [(b, a), (c, b), (d, c)]:  # a line, A - B - C - D, and whatever discovery adds
        x.connect(y)
    found = room.crawl(a.address)
    key = {n.name: f"{n.address[0]}:{n.address[1]}" for n in (a, b, c, d)}
    assert sorted(found.names().values()) == ["A", "B", "C", "D"]
    assert {frozenset((key["A"], key["B"])), frozenset((key["C"], key["D"]))} <= found.links()
    assert found.converged and found.tips() == {a.ledger.tip.hash_hex: ("A", "B", "C", "D")}
    assert not found.unreachable
    assert [line.split()[0] for line in found.lines()] == ["A", "B", "C", "D"]


def test_crawl_of_an_unreachable_address_names_it_and_its_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once closed
    with pytest.raises(NodeError, match=f"127.0.0.1:{port}.*connection refused.*TCP port {port}: open that"):
        room.crawl(f"127.0.0.1:{port}", timeout=1.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a full accept queue drops SYNs on Linux")
def test_a_port_that_drops_every_dial_times_out_and_names_the_firewall():
    # A listening socket whose accept queue is full drops new SYNs, as a firewall that drops does.
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(full.getsockname())
            port = full.getsockname()[1]
            with pytest.raises(NodeError, match=f"127.0.0.1:{port}: timed out; .*block TCP port {port}"):
                room.ask_status(full.getsockname(), timeout=1.0)
        finally:
            for filler in fillers:
                filler.close()


def test_crawl_records_a_node_that_went_away_and_carries_on(make_node):
    a, b = make_node("A"), make_node("B")
    b.connect(a)
    found = room.crawl([a.address, ("127.0.0.1", 1)], timeout=1.0)
    assert "B" in found.names().values() and "127.0.0.1:1" in found.unreachable


def test_crawl_stops_at_max_nodes(make_node):
    hub = make_node("hub")
    for i in range(5):
        make_node(f"n{i}").connect(hub)
    found = room.crawl(hub.address, max_nodes=3)
    assert len(found.nodes) + len(found.unreachable) == 3
    assert len(found.skipped) == 3 and all("max_nodes=3" in why for why in found.skipped.values())


@dataclass(frozen=True, repr=False)
class HugeStatus(Message):
    """A status naming 10,000 peers, built by hand as a hostile node would."""

    command: ClassVar[bytes] = b"status"
    peers: int = 10_000

    def serialize(self) -> bytes:
        fake = [((f"127.1.{i // 250}.{i % 250 + 1}", 8333), "p") for i in range(self.peers)]
        return (write_text("liar") + write_address(("127.0.0.1", 8333)) + bytes(36)
                + write_list(fake, write_peer) + bytes(9))


class HugeLiar(Node):
    def on_getstatus(self, conn, message):
        conn.send(HugeStatus())


class FarLiar(Node):
    """Names peers all over the internet, and a few local ports where nobody listens."""

    def status_message(self):
        status = super().status_message()
        far = tuple(((f"8.8.{i}.8", 8333), f"far{i}") for i in range(100))
        near = tuple((("127.0.0.1", port), f"near{port}") for port in (1, 2, 3))
        return Status(status.name, status.address, status.height, status.tip_hash,
                      status.peers + far + near)


def test_a_status_of_10000_peers_is_refused_and_the_crawl_goes_on(make_node):
    a = make_node("A")
    liar = make_node("liar", cls=HugeLiar)
    liar.connect(a)
    found = room.crawl(a.address, timeout=2.0)
    assert sorted(found.names().values()) == ["A"]
    liar_key = f"{liar.address[0]}:{liar.address[1]}"
    assert "malformed status message: status with 10000 peers (at most 125)" in found.unreachable[liar_key]
    assert not found.skipped


def test_addresses_outside_the_networks_are_never_dialled(make_node):
    a = make_node("A")
    liar = make_node("liar", cls=FarLiar)
    liar.connect(a)
    found = room.crawl(a.address, timeout=1.0)
    assert sorted(found.names().values()) == ["A", "liar"]
    assert len(found.skipped) == 100 and all("outside the networks" in w for w in found.skipped.values())
    assert all(k.startswith("8.8.") for k in found.skipped)
    assert set(found.unreachable) == {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}
    # Told a narrower network, the crawl asks the start address only.
    narrow = room.crawl(a.address, networks=["127.0.0.1/32"], timeout=1.0)
    assert set(narrow.unreachable) == {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}
    narrower = room.crawl(a.address, networks="10.0.0.0/8", timeout=1.0)
    assert sorted(narrower.names().values()) == ["A"] and not narrower.unreachable


def test_room_map_links_need_both_ends():
    def status(address, *peers):
        return NodeStatus(address, address, address, 0, "00", tuple((p, p) for p in peers), False, None, 0)

    one_sided = RoomMap({"a:1": status("a:1", "b:1"), "b:1": status("b:1")})
    assert one_sided.links() == set()
    both = RoomMap({"a:1": status("a:1", "b:1"), "b:1": status("b:1", "a:1")})
    assert both.links() == {frozenset(("a:1", "b:1"))}


# --- joining -------------------------------------------------------------------------------------


def test_join_refuses_every_interface_a_name_and_another_machines_address():
    with pytest.raises(ValueError, match="would listen on every network"):
        room.join("127.0.0.1:8333", host="0.0.0.0", name="amy")
    with pytest.raises(ValueError, match="'teacher' is a name, not an address"):
        room.join("teacher", host="127.0.0.1", name="amy")
    with pytest.raises(ValueError, match="192.0.2.7 is not an address of this machine"):
        room.join("192.0.2.1:8333", host="192.0.2.7", name="amy")
    with pytest.raises(ValueError, match="can be reached from this machine only"):
        room.join("192.0.2.1:8333", host="127.0.0.1", name="amy")
    with pytest.raises(ValueError, match="host 'laptop' is not an IPv4 address"):
        room.join("127.0.0.1:8333", host="laptop", name="amy")


def test_join_an_unreachable_teacher_names_the_port_to_open():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NodeError, match=f"cannot join the room: .*127.0.0.1:{port}.*TCP port {port}: open"):
        room.join(f"127.0.0.1:{port}", host="127.0.0.1", name="amy", port=0, timeout=1.0)


def test_join_a_teacher_outside_this_network_says_which_networks():
    with pytest.raises(ValueError, match=r"outside the networks this node dials \(127.0.0.0/30\)"):
        room.join("127.0.0.5:8333", host="127.0.0.1", name="amy", networks=["127.0.0.0/30"])


def test_join_on_a_port_in_use_says_how_to_choose_another(make_node):
    teacher = make_node("teacher")
    with pytest.raises(NodeError, match="address already in use.*pass another port"):
        room.join(teacher.address, host="127.0.0.1", name="amy", port=teacher.address[1])


def test_join_a_teacher_and_mine(make_node):
    teacher = make_node("teacher")
    student = room.join(teacher.address, host="127.0.0.1", name="amy", port=0, mine=True, hashrate=2000)
    try:
        assert student.peers == ("teacher",)
        student.wait_until(lambda: student.ledger.height >= 2, 30)
        teacher.wait_until(lambda: teacher.ledger.height >= 2, 30)
        found = room.crawl(teacher.address)
        assert found.names()[f"127.0.0.1:{student.address[1]}"] == "amy"
        assert found.nodes[f"127.0.0.1:{student.address[1]}"].mining
    finally:
        student.kill()


# --- a room of processes on this machine -------------------------------------------------------


@needs_loopback_addresses
def test_a_local_room_of_processes_on_distinct_loopback_addresses(make_node):
    with room.local_room(3, base=60) as local:
        assert local.distinct_addresses and local.note is None
        assert sorted(local.processes) == ["laptop1", "laptop2", "teacher"]
        assert local.teacher_address.startswith("127.0.0.60:")
        assert [a.split(":")[0] for _, a in sorted(local.addresses.items())] == \
            ["127.0.0.61", "127.0.0.62", "127.0.0.60"]
        # an in-process node joins the room of processes, as the chapter's notebook does
        me = local.join("me", mine=True, hashrate=500)
        assert me.address[0] == "127.0.0.63"
        found = local.crawl_until(lambda m: len(m.nodes) == 4 and len(m.links()) == 6, timeout=30,
                                  what="four laptops, each linked to the three others")
        assert sorted(found.names().values()) == ["laptop1", "laptop2", "me", "teacher"]
        assert isinstance(local["teacher"], NodeProcess)
        found = local.crawl_until(lambda m: m.converged and min(s.height for s in m.nodes.values()) >= 2,
                                  timeout=30, what="the room took the blocks mined here")
        assert found.nodes[f"127.0.0.63:{me.address[1]}"].blocks_found >= 2
    assert not any(p.is_running for p in local.processes.values()) and not me.is_running


def test_a_local_room_falls_back_to_ports_where_only_127_0_0_1_binds(monkeypatch):
    monkeypatch.setattr(room, "loopback_hosts", lambda n, base=2: None)
    with room.local_room(2, mine=True, hashrate=300) as local:
        assert not local.distinct_addresses and "only 127.0.0.1 can be bound" in local.note
        assert {a.split(":")[0] for a in local.addresses.values()} == {"127.0.0.1"}
        me = local.join("me")
        assert me.address[0] == "127.0.0.1"
        found = local.crawl_until(lambda m: len(m.nodes) == 3, timeout=30, what="three laptops")
        assert sorted(found.names().values()) == ["laptop1", "me", "teacher"]
        processes = [s for s in found.nodes.values() if s.name != "me"]
        assert all(s.mining and s.hashrate == 300 for s in processes)


# --- the command line ----------------------------------------------------------------------------


def run_cli(*args):
    command = [sys.executable, "-m", "toycoin", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_the_room_command_prints_one_line_per_node(make_node):
    a, b = make_node("A", mine=True, hashrate=50), make_node("B")
    b.connect(a)
    result = run_cli("room", f"{a.address[0]}:{a.address[1]}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"A  127.0.0.1:{a.address[1]}  height ")
    assert "1 peers (B)  mining (cap 50" in lines[0]
    assert lines[1].startswith("B  ") and lines[1].endswith("not mining")
    assert lines[2].startswith("2 nodes, 1 links, ")


def test_the_room_command_keeps_to_its_networks(make_node):
    a, b = make_node("A"), make_node("B")
    b.connect(a)
    result = run_cli("room", f"127.0.0.1:{a.address[1]}", "--network", "10.0.0.0/8")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("A  ") and lines[1].startswith("1 nodes, 0 links, 1 tip")
    assert lines[2] == (f"not asked  127.0.0.1:{b.address[1]}  "
                        "127.0.0.1 is outside the networks it dials (10.0.0.0/8)")


def test_a_crawl_leaves_no_lines_in_a_nodes_connection_log(make_node):
    a, b = make_node("A"), make_node("B")
    lines = []
    a.subscribe(ConnectionLog(lines.append))
    b.connect(a)
    for _ in range(3):
        room.crawl(a.address)
    a.sync_with_ping()
    assert lines == ["A: connected to B (inbound full node)"]


@pytest.mark.parametrize("args, message, code", [
    (["room", "teacher"], "'teacher' is a name, not an address", 2),
    (["room", "127.0.0.1:1"], "cannot reach the node at 127.0.0.1:1: connection refused", 1),
    (["room", "127.0.0.1:1", "--max-nodes", "0"], "argument --max-nodes: '0' is not a number above 0", 2),
    (["room", "127.0.0.1:1", "--timeout", "-1"], "argument --timeout: '-1' is not a number above 0", 2),
])
def test_the_room_command_says_what_is_wrong_in_one_line(args, message, code):
    result = run_cli(*args)
    assert result.returncode == code and message in result.stderr and result.stderr.count("\n") == 1
    assert result.stderr.startswith("python -m toycoin room: error: ")


def test_the_room_command_on_a_wrong_port_says_which_port_a_room_uses():
    result = run_cli("room", "127.0.0.1:1")
    assert "(or check the port: a room's nodes listen on 8333)" in result.stderr


def test_a_dial_to_no_machine_says_so_in_words():
    # What asyncio raises when nothing on the LAN answers (EHOSTUNREACH): its text only repeats
    # the address, so the error is said in words, with what to check.
    error = OSError(errno.EHOSTUNREACH, "Connect call failed ('10.77.0.9', 8333)")
    assert dial_error(error) == ("no route to host: no machine answers at that address "
                                 "(is it on this network, and switched on?)")
    refused_elsewhere = OSError(errno.ECONNRESET, "Connect call failed ('10.77.0.9', 8333)")
    assert dial_error(refused_elsewhere) == "connection reset by peer"


def test_a_crawl_refuses_no_nodes_and_no_time_in_plain_words():
    with pytest.raises(ValueError, match="max_nodes .* at least 1, not 0"):
        room.crawl("127.0.0.1:1", max_nodes=0)
    with pytest.raises(ValueError, match="timeout .* above 0, not -1"):
        room.crawl("127.0.0.1:1", timeout=-1)


def test_a_node_without_the_rooms_proof_of_work_is_told_in_plain_words(make_node):
    # A student who left out --pow: the room's headers break its difficulty rule, so it hangs up
    # at once. connect() says so as a NodeError (it was an AttributeError when the connection
    # closed between the handshake and the ping), and the disconnect names the rule.
    teacher = make_node("teacher", mine=True, hashrate=3000)
    teacher.wait_until(lambda: teacher.height >= 2, 30, "the room has blocks")
    wrong = Node("nopow", services=[Relay, BlockSync], limits=FAST)
    wrong.start()
    lines = []
    wrong.subscribe(ConnectionLog(lines.append))
    try:
        with pytest.raises(NodeError):
            wrong.connect(teacher)
        wrong.wait_until(lambda: any("disconnected from teacher" in line for line in lines), 10)
        assert "the difficulty rule asks for" in next(line for line in lines if "disconnected" in line)
        assert wrong.height == 0
    finally:
        wrong.kill()


def test_join_with_a_name_already_in_the_room_says_so(make_node):
    teacher = make_node("teacher")
    ada = make_node("ada")
    ada.connect(teacher)
    with pytest.raises(ValueError, match=r"a node named 'ada' \(at 127.0.0.1:\d+\): choose a name"):
        room.join(teacher.address, host="127.0.0.1", name="ada", port=0)
    with pytest.raises(ValueError, match="already has a node named 'teacher'"):
        room.join(teacher.address, host="127.0.0.1", name="teacher", port=0)


def test_a_join_cell_run_twice_joins_once(make_node):
    teacher = make_node("teacher")
    amy = room.join(teacher.address, host="127.0.0.1", name="amy", port=0)
    try:
        again = room.join(teacher.address, host="127.0.0.1", name="amy", port=0)
        assert again is amy and amy.is_running and teacher.peers == ("amy",)
    finally:
        amy.stop()
    teacher.wait_until(lambda: teacher.peers == (), timeout=10, what="the teacher noticed amy left")
    back = room.join(teacher.address, host="127.0.0.1", name="amy", port=0)  # a node of its own now
    try:
        assert back is not amy and back.is_running and teacher.peers == ("amy",)
    finally:
        back.stop()


@pytest.mark.parametrize(("options", "words"), [
    ({"name": None}, "a node name is 1 to 32 printable ASCII characters (no accents), not None"),
    ({"name": "Zoë"}, "not 'Zoë'"),
    ({"name": "ada", "hashrate": "50"}, "a number above 0 such as 50, or None for no cap (not '50')"),
    ({"name": "ada", "networks": 192}, "bad network 192: expected an IPv4 network in CIDR notation"),
    ({"name": "ada", "teacher": ("127.0.0.1", 8333, 1)}, "bad teacher's address ('127.0.0.1', 8333, 1)"),
])
def test_join_says_which_argument_is_of_the_wrong_kind(options, words):
    teacher = options.pop("teacher", "127.0.0.1:8333")  # nothing is dialled: the arguments fail first
    with pytest.raises(ValueError, match=re.escape(words)):
        room.join(teacher, host="127.0.0.1", **options)


def test_a_join_cell_run_again_with_another_hashrate_changes_the_cap(make_node):
    teacher = make_node("teacher")
    amy = room.join(teacher.address, host="127.0.0.1", name="amy", port=0, hashrate=100)
    try:
        assert room.join(teacher.address, host="127.0.0.1", name="amy", port=0, hashrate=25) is amy
        assert amy.service(Miner).hashrate == 25
    finally:
        amy.stop()


@needs_loopback_addresses
def test_a_name_the_room_still_has_at_this_laptops_own_address_may_join_again(make_node):
    teacher = make_node("teacher")
    make_node("ada", host="127.0.0.71").connect(teacher)  # ada's node from before a kernel restart
    with pytest.raises(ValueError, match="already has a node named 'ada'"):  # from another laptop
        room.join(teacher.address, host="127.0.0.72", name="ada", port=0)
    again = room.join(teacher.address, host="127.0.0.71", name="ada", port=0)
    try:
        assert again.is_running and "teacher" in again.peers
    finally:
        again.stop()
