"""Node: handshake, ping, discovery, stop/kill/restart, reconnection and payments, over loopback."""

import random
import socket

import pytest

from unharmed import assert_unharmed

from toycoin import msg_control, wire
from toycoin.dialler import dial_error
from toycoin.errors import NodeError, ValidationError
from toycoin.keys import PrivateKey
from toycoin.events import Event
from toycoin.node import Node, course_genesis
from toycoin.peer import Limits
from toycoin.wallet import Wallet

pytestmark = pytest.mark.timeout(60)

ALICE = PrivateKey.from_seed("alice")
BOB = PrivateKey.from_seed("bob").address
FAST = Limits(handshake_timeout=2.0, frame_timeout=2.0)


@pytest.fixture
def make_node():
    nodes = []

    def make(name, **options):
        node = Node(name, limits=options.pop("limits", FAST), **options)
        node.start()
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.kill()


def payment(node, amount=10):
    return Wallet(ALICE).make_payment(node.ledger.unspent_for(ALICE.address), BOB, amount)


def test_a_node_listens_on_loopback_on_an_ephemeral_port(make_node):
    a = make_node("A")
    host, port = a.address
    assert host == "127.0.0.1" and port > 0 and a.is_running
    assert a.height == 0 and a.balance(ALICE.address) == 100  # the course genesis
    assert a.ledger.tip.hash == course_genesis().hash


def test_handshake_is_recorded_as_a_sequence_of_events(make_node):
    a, b = make_node("A"), make_node("B")
    b.connect(a)
    assert a.peers == ("B",) and b.peers == ("A",)
    b.sync_with_ping()
    sent = [e.detail for e in b.events if e.kind == "send"]
    assert sent[:3] == ["version(name='B', height=0)", "verack()", "getaddr()"]
    received = [e.detail for e in a.events if e.kind == "receive"]
    assert received[:3] == ["version(name='B', height=0)", "verack()", "getaddr()"]
    kinds = [e.kind for e in a.events]
    assert kinds.index("opened") < kinds.index("connected")
    assert all(isinstance(e, Event) for e in a.events)
    seqs = [e.seq for e in a.events]
    assert seqs == sorted(seqs)


def test_ping_round_trip_and_sync_with_ping(make_node):
    a, b = make_node("A"), make_node("B")
    a.connect(b)
    assert a.ping("B") > 0
    a.sync_with_ping()
    with pytest.raises(NodeError, match="no connection to 'C'"):
        a.ping("C")


def test_a_node_that_dials_itself_notices_by_the_nonce(make_node):
    a = make_node("A")
    with pytest.raises(NodeError, match="is A itself"):
        a.connect(a.address)
    assert a.peers == ()
    assert any(e.kind == "connected to itself" for e in a.events)


def test_discovery_with_getaddr_and_addr_forms_a_mesh(make_node):
    a, b, c = make_node("A"), make_node("B"), make_node("C")
    b.connect(a)
    c.connect(b)  # C learns A from B's addr message, and dials it
    c.wait_until(lambda: c.peers == ("A", "B") and a.peers == ("B", "C"), what="C found A")
    assert [n.connection_count for n in (a, b, c)] == [2, 2, 2]


def test_without_discovery_a_node_only_dials_whom_it_was_told(make_node):
    a, b, c = make_node("A"), make_node("B"), make_node("C", discover=False)
    b.connect(a)
    c.connect(b)
    c.sync_with_ping()
    b.sync_with_ping()
    assert c.peers == ("B",)


def test_two_nodes_dialling_each_other_keep_a_single_connection(make_node):
    a, b = make_node("A"), make_node("B")
    a.connect(b, wait=False)
    b.connect(a, wait=False)
    a.wait_until(lambda: a.peers == ("B",) and b.peers == ("A",), what="A and B connected")
    a.sync_with_ping()
    b.sync_with_ping()
    assert a.connection_count == b.connection_count == 1


def test_kill_then_restart_on_the_same_port_and_the_peer_reconnects(make_node):
    a, b = make_node("A"), make_node("B")
    b.connect(a)
    address = a.address
    a.kill()
    assert not a.is_running
    b.wait_until(lambda: b.peers == (), what="B noticed A is gone")
    disconnect = [e for e in b.events if e.kind == "disconnected"][-1]
    assert "reset" in disconnect.detail or "closed" in disconnect.detail
    a.restart()
    assert a.address == address
    b.wait_until(lambda: b.peers == ("A",), timeout=10, what="B reconnected to A")


def test_clean_stop_keeps_the_ledger_for_the_restart(make_node):
    a, b = make_node("A"), make_node("B")
    b.connect(a)
    a.submit_tx(payment(a))
    a.stop()
    b.wait_until(lambda: b.peers == (), what="B noticed A stopped")
    assert [e.kind for e in a.events][-1] == "stopped"
    a.start()
    assert a.height == 1 and a.balance(BOB) == 10
    b.wait_until(lambda: b.peers == ("A",), timeout=10, what="B reconnected")


def test_a_peer_that_was_never_up_is_dialled_until_it_appears(make_node):
    with socket.socket() as probe:  # find a free port, then release it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    a = make_node("A")
    a.connect(("127.0.0.1", port), wait=False)
    a.wait_until(lambda: any(e.kind == "connect failed" for e in a.events), what="a failed dial")
    make_node("B", port=port)
    a.wait_until(lambda: a.peers == ("B",), timeout=10, what="A reached B once it started")


def test_a_payment_is_sealed_into_a_block_of_this_node_only(make_node):
    times = iter([1_700_000_000])
    a, b = make_node("A", clock=lambda: next(times)), make_node("B")
    b.connect(a)
    block = a.submit_tx(payment(a))
    assert block.header.timestamp == 1_700_000_000
    assert (a.height, b.height) == (1, 0)
    assert a.balance(ALICE.address) == 90 and b.balance(ALICE.address) == 100  # they disagree
    assert a.balance(a.miner_address) == 50  # the block reward
    assert any(e.kind == "block sealed" for e in a.events)


def test_the_default_clock_makes_blocks_reproducible(make_node):
    miner = PrivateKey.from_seed("miner").address
    a, b = make_node("A", miner_address=miner), make_node("B", miner_address=miner)
    assert a.submit_tx(payment(a)).hash == b.submit_tx(payment(b)).hash  # same inputs, same block
    assert a.ledger.tip.timestamp == course_genesis().header.timestamp + 600


def test_an_invalid_payment_is_refused_with_its_reason(make_node):
    a = make_node("A")
    tx = payment(a)
    a.submit_tx(tx)
    with pytest.raises(ValidationError, match="does not exist or is already spent"):
        a.submit_tx(tx)
    assert a.height == 1
    assert [e.kind for e in a.events][-1] == "payment rejected"


def test_subscribers_see_every_event_on_the_network_thread(make_node):
    a, b = make_node("A"), make_node("B")
    seen = []
    unsubscribe = a.subscribe(lambda event: seen.append((event.kind, a.peers)))
    b.connect(a)
    a.sync_with_ping()
    assert ("connected", ("B",)) in seen  # reading state from a callback works
    unsubscribe()
    count = len(seen)
    a.sync_with_ping()
    assert len(seen) == count


def test_a_broken_subscriber_does_not_break_the_node(make_node):
    a, b = make_node("A"), make_node("B")
    a.subscribe(lambda event: 1 / 0)
    b.connect(a)
    assert a.peers == ("B",)
    assert any(e.kind == "subscriber error" for e in a.events)


def test_a_port_in_use_is_a_clear_error(make_node):
    a = make_node("A")
    with pytest.raises(NodeError, match="address already in use"):
        Node("B", port=a.address[1]).start()


def test_a_bad_host_is_a_clear_error():
    with pytest.raises(NodeError, match="not a valid host name"):
        Node("A", host="999.1.1.1").start()


def test_node_names_are_checked():
    with pytest.raises(ValueError, match="printable ASCII"):
        Node("A\nB")


def test_the_connection_cap_refuses_extra_peers(make_node):
    # One inbound slot (3 connections, 2 kept for outbound); B in it is protected from eviction.
    a = make_node("A", limits=Limits(max_connections=3, max_outbound=2))
    make_node("B").connect(a)
    c = make_node("C")
    c.connect(a, wait=False)
    a.wait_until(lambda: any(e.kind == "refused" for e in a.events), what="A refused C")
    assert a.peers == ("B",)


def test_nonces_come_from_the_injected_random_source(make_node):
    a, b = make_node("A", rng=random.Random(1)), make_node("B")
    a.connect(b)
    nonces = a.runtime.call(lambda: [a.state(c).nonce for c in a.connections()])
    seeded = random.Random(random.Random(1).getrandbits(64))  # a generator of their own, seeded from rng
    assert nonces == [seeded.getrandbits(64)]  # one per connection


def test_a_copied_nonce_cuts_no_connection(make_node):
    # Mallory copies the nonce B used with A, claims B's name and port, and handshakes with A:
    # A compares a nonce only with its own outbound handshakes, so B stays connected.
    a, b = make_node("A"), make_node("B")
    b.connect(a)
    copied = b.runtime.call(lambda: [b.state(c).nonce for c in b.connections()][0])
    with socket.create_connection(a.address) as mallory:
        for message in (msg_control.Version("B", copied, b.address[1], 0), msg_control.Verack()):
            mallory.sendall(wire.encode_frame(message))
        a.wait_until(lambda: sum(c.handshaked for c in a.connections()) == 2,
                     what="A handshook with Mallory too")
        b.ping("A")
        assert a.peers == ("B",) and b.peers == ("A",) and a.connection_count == 1
    assert not any("second connection" in e.detail or e.kind == "connected to itself" for e in a.events)
    assert_unharmed(a, (0, course_genesis().hash))


def test_the_facade_from_a_callback_raises_instead_of_deadlocking(make_node):
    a, b = make_node("A"), make_node("B")
    errors = []

    def callback(event):
        if event.kind == "connected" and not errors:
            try:
                a.ping("B")
            except NodeError as error:
                errors.append(str(error))

    a.subscribe(callback)
    b.connect(a)
    a.wait_until(lambda: bool(errors), what="the callback tried")
    assert "network thread itself" in errors[0]


def test_an_addr_full_of_dead_addresses_is_dialled_a_few_at_a_time(make_node):
    a = make_node("A", limits=Limits(max_outbound=2))
    in_flight = []  # dials in progress, seen at each failed dial (on the network thread)
    a.subscribe(lambda e: in_flight.append(len(a.addrman.dialling)) if e.kind == "connect failed" else None)
    dead = tuple(("127.0.0.1", port) for port in range(1, 41))  # nothing listens on these here
    with socket.create_server(("127.0.0.1", 0)) as server:
        a.connect(server.getsockname(), wait=False)  # A dials mallory, and asks whom it knows
        mallory, _ = server.accept()
        with mallory:
            hello = (msg_control.Version("mallory", 1, 0, 0), msg_control.Verack(), msg_control.Addr(dead))
            for message in hello:
                mallory.sendall(wire.encode_frame(message))
            a.wait_until(lambda: len(in_flight) >= 6, what="A dialled some of the dead addresses")
    assert max(in_flight) <= 2


def test_a_host_name_that_does_not_resolve_is_said_plainly():
    error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert dial_error(error) == "the host name does not resolve (Name or service not known)"


def test_a_restart_waits_for_its_own_port_to_be_released():
    """A node restarting on its old port waits while it is held but nobody listens there."""
    import socket
    import threading

    from toycoin.node import Node

    node = Node("R")
    node.start()
    port = node.address[1]
    node.stop()
    holder = socket.socket()  # holds the port without listening, as a closing connection does
    holder.bind(("127.0.0.1", port))
    threading.Timer(0.3, holder.close).start()
    node.start()  # would say "address already in use" without the wait
    assert node.is_running and node.address[1] == port
    node.stop()


def test_a_stopped_port_refuses_while_another_thread_starts_programs(make_node):
    """A child process forked while a node stops (a diagram's dot, in a notebook) holds a copy
    of the listening socket for a moment: stop() returns only once the port refuses, and a
    restart on the port is not taken for "another node on that port"."""
    import subprocess
    import sys
    import threading
    import time

    done = threading.Event()

    def start_programs() -> None:
        while not done.is_set():
            subprocess.run([sys.executable, "-c", ""], check=True)

    spawners = [threading.Thread(target=start_programs, daemon=True) for _ in range(2)]
    for spawner in spawners:
        spawner.start()
    node = make_node("A")
    port = node.address[1]
    cycles, accepted, end = 0, 0, time.monotonic() + 3.0
    try:
        while time.monotonic() < end:
            node.stop()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                accepted += 1
            except ConnectionRefusedError:
                pass
            node.start()  # raised "address already in use" about once in 13 cycles before
            cycles += 1
    finally:
        done.set()
        for spawner in spawners:
            spawner.join()
    assert cycles > 50 and accepted == 0
    assert node.address[1] == port
