"""Hostile peers against a node's connections: work before the handshake, unrequested blocks,
idle sockets squatting every slot, a flood of inv, and sends to peers that have vanished.

Each test attacks a real node over loopback, bounded in count and time, and checks
that the node is alive, its ledger unchanged, and an honest wallet answered within
a few seconds.
"""

import logging
import os
import socket
import struct
import time

import pytest
from test_hostile_peer import assert_disconnected, attacker, frame
from unharmed import assert_unharmed, honest_wait, ledger_of

from toycoin import msg_control, params, wire
from toycoin.client import WalletClient
from toycoin.keys import PrivateKey
from toycoin.msg_data import MSG_TX, GetData, Inv, InvItem
from toycoin.node import Node
from toycoin.peer import Limits
from toycoin.peerman import PeerMan
from toycoin.relay import Relay
from toycoin.sync import BlockSync

pytestmark = pytest.mark.timeout(120)

FAST = Limits(handshake_timeout=2.0, frame_timeout=1.0)
ALICE = PrivateKey.from_seed("alice")


def hello(sock: socket.socket, name: str = "mallory", full_node: bool = True) -> None:
    services = params.NODE_NETWORK if full_node else 0
    sock.sendall(wire.encode_frame(msg_control.Version(name, int.from_bytes(os.urandom(8), "little"), 1, 0,
                                                       services=services)))
    sock.sendall(wire.encode_frame(msg_control.Verack()))


def resident_mb() -> float:
    """This process's resident memory, in MB (Linux), or 0 where /proc is not there."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024
    except OSError:
        return 0.0


@pytest.fixture
def node():
    node = Node("A", limits=FAST, services=[Relay, BlockSync])
    node.start()
    before = ledger_of(node)
    yield node
    assert_unharmed(node, before)
    node.kill()


# --- item 3: work before the handshake ----------------------------------------------

def test_a_long_payload_before_the_handshake_is_refused_before_it_is_read(node):
    sock = attacker(node)
    sock.sendall(frame(b"block", length=900_000))  # a header alone: the node must not wait for more
    started = time.monotonic()
    assert_disconnected(sock, node, "before the handshake (at most 59 until then)")
    assert time.monotonic() - started < FAST.frame_timeout, "it waited for the payload"


def test_nothing_but_version_and_verack_is_parsed_before_the_handshake(node):
    sock = attacker(node)
    sock.sendall(frame(b"getutxos", b"\xff" * 40))  # not even a valid getutxos: never parsed
    hello(sock)
    node.wait_until(lambda: any(e.kind == "connected" and e.peer == "mallory" for e in node.events),
                    what="the handshake after a dropped message")
    assert any(e.detail == "getutxos before the handshake" for e in node.events if e.kind == "ignored")
    assert not any("malformed" in (e.detail or "") for e in node.events)
    sock.close()


def test_a_crowd_sending_blocks_before_the_handshake_costs_nothing(node):
    block = frame(b"block", os.urandom(params.MAX_BLOCK_SIZE))
    before = resident_mb()
    socks = [attacker(node) for _ in range(30)]
    for sock in socks:
        try:
            sock.sendall(block)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while still sending: fine
    assert honest_wait(node) < 2.0
    assert resident_mb() - before < 20, "the node buffered the payloads"  # 30 blocks would be 27 MB
    for sock in socks:
        sock.close()
    node.wait_until(lambda: sum("before the handshake (at most" in (e.detail or "") for e in node.events
                                if e.kind == "disconnected") == 30, what="all 30 refused")


def garbage_block(header: bytes = b"\x01" * 80) -> bytes:
    """An 80-byte header, then bytes that are not transactions: parsing it would fail."""
    return frame(b"block", header + b"\xfe" + b"\xff" * 100_000)


@pytest.mark.parametrize("services", [(), (Relay, BlockSync)], ids=["plain node", "syncing node"])
def test_an_unrequested_block_is_refused_from_its_header(services):
    node = Node("A", limits=FAST, services=services)
    node.start()
    try:
        sock = attacker(node)
        hello(sock)
        for _ in range(5):
            sock.sendall(garbage_block())
        reason = "does not handle block" if not services else "a block I did not ask for"
        node.wait_until(lambda: sum(reason in e.detail for e in node.events if e.kind == "ignored") == 5,
                        what="five blocks dropped")
        assert not any("malformed" in (e.detail or "") for e in node.events), "a block was parsed"
        assert honest_wait(node) < 2.0 and node.height == 0
        sock.close()
    finally:
        node.kill()


def test_a_transaction_too_big_to_relay_is_refused_unparsed_and_the_wallet_hears_why(node):
    from toycoin.errors import ValidationError
    from toycoin.tx import OutPoint, Tx, TxIn, TxOut

    whale = Tx([TxIn(OutPoint(bytes(32), 0))], [TxOut(1, ALICE.address)] * 4000)  # about 150 kB
    wallet = WalletClient(ALICE, node.address, runtime=node.runtime)
    with pytest.raises(ValidationError, match="larger than the relay limit of 100,000"):
        wallet.send_tx(whale)
    assert not any(e.kind == "receive" and e.command == "tx" for e in node.events), "it was parsed"


# --- item 4: connection slots -----------------------------------------------------------

def squat(node: Node, count: int, prefix: str = "squatter") -> list[socket.socket]:
    """``count`` more idle, handshaked inbound sockets, as full nodes that never say anything again."""
    socks, held = [], node.runtime.call(node.inbound_count)
    for i in range(count):
        sock = attacker(node)
        hello(sock, f"{prefix}{i}")
        socks.append(sock)
        if i % 16 == 15 or i == count - 1:  # in batches smaller than the handshake pool
            node.wait_until(lambda n=i + 1: node.inbound_count() == min(held + n, node.limits.max_inbound),
                            timeout=20, what=f"{i + 1} squatters handshaked")
    return socks


def test_idle_squatters_in_every_inbound_slot_cannot_keep_a_wallet_out():
    node, other = Node("A", services=[Relay, BlockSync]), Node("B")
    node.start()
    other.start()
    socks = []
    try:
        limits = node.limits
        assert limits.max_inbound == params.MAX_CONNECTIONS - params.MAX_OUTBOUND_CONNECTIONS
        socks = squat(node, limits.max_inbound)
        for i in range(3):
            assert honest_wait(node) < 3.0
            socks += squat(node, 1, f"late{i}")  # every slot taken again
        evicted = [e for e in node.events if e.kind == "evicted"]
        assert len(evicted) == 3 and all(e.peer.startswith("squatter") for e in evicted)
        assert node.runtime.call(node.inbound_count) <= limits.max_inbound
        socks += [attacker(node) for _ in range(20)]  # and strangers waiting for their handshake
        node.wait_until(lambda: len(node.connections()) >= params.MAX_CONNECTIONS, what="125 connections")
        node.connect(other)  # every inbound slot taken, 125 connections: dialling out still works
        assert "B" in node.peers
    finally:
        for sock in socks:
            sock.close()
        node.kill()
        other.kill()


def test_silent_strangers_wait_in_a_pool_of_their_own(node):
    strangers = params.MAX_INBOUND_HANDSHAKES + 40
    socks = [attacker(node) for _ in range(strangers)]  # connect, and never say a word
    pushed_out = strangers - params.MAX_INBOUND_HANDSHAKES
    node.wait_until(lambda: sum("other connections are waiting" in e.detail for e in node.events
                                if e.kind == "disconnected") == pushed_out, timeout=10,
                    what=f"{pushed_out} pushed out of the handshake pool")
    assert honest_wait(node) < 2.0  # the fixture asks again, after the strangers' deadline
    waiting = node.runtime.call(lambda: sum(c.is_open and not c.handshaked for c in node.connections()))
    assert waiting <= params.MAX_INBOUND_HANDSHAKES
    for sock in socks:
        sock.close()


def test_a_peer_that_sent_a_block_is_protected_from_eviction():
    from toycoin.eviction import Candidate, select

    old = [Candidate(f"old{i}", opened=i, last_received=i) for i in range(20)]
    young = [Candidate(f"young{i}", opened=100 + i, last_received=100 + i) for i in range(20)]
    relaying = Candidate("relaying", opened=199, last_received=150, last_block=199.0)
    victim = select([*old, *young, relaying])
    assert victim != "relaying" and str(victim).startswith("young")
    assert select(old[:5]) is None  # a few peers: every one protected, nobody evicted


def test_the_evicted_peer_is_the_one_silent_longest_of_the_largest_group():
    from toycoin.eviction import Candidate, netgroup, select

    peers = [Candidate(i, opened=i, last_received=1000 - i, group=netgroup("10.1.0.1")) for i in range(60)]
    loners = [Candidate(f"l{i}", opened=50 + i, last_received=0, group=netgroup(f"10.{i + 2}.0.1"))
              for i in range(5)]
    assert select(peers + loners) == 59  # from the largest group, though the loners are quieter


# --- item 11: inv floods and sends to a vanished peer ------------------------------------

class InvFlooder(PeerMan):
    """Announces thousands of transactions it does not have, and counts what it is asked for."""

    def __init__(self, runtime, messages: int) -> None:
        super().__init__("flooder", runtime=runtime, limits=FAST)
        self.floods, self.asked = messages, 0
        self.handle(GetData, self.on_getdata)

    def on_getdata(self, conn, message) -> None:
        self.asked += len(message.items)

    def on_connected(self, conn) -> None:
        for _ in range(self.floods):
            conn.send(Inv(tuple(InvItem(MSG_TX, os.urandom(32)) for _ in range(params.MAX_INV_SZ))))


def test_an_inv_flood_is_bounded_per_peer(node):
    flooder = InvFlooder(node.runtime, messages=20)  # 20,000 announcements
    flooder.start()
    try:
        node.connect(flooder)
        node.sync_with_ping()  # every inv before the pong was handled
        relay = node.service(Relay)

        def counts():
            conns = [c for c in node.live_connections() if node.peer_name(c) == "flooder"]
            return relay.announced(conns[0])

        asked, waiting = node.runtime.call(counts)
        assert asked == params.MAX_PEER_TX_REQUEST_IN_FLIGHT
        assert asked + waiting == params.MAX_PEER_TX_ANNOUNCEMENTS
        assert flooder.asked == params.MAX_PEER_TX_REQUEST_IN_FLIGHT
        assert honest_wait(node) < 2.0
        node.wait_until(lambda: flooder.asked > params.MAX_PEER_TX_REQUEST_IN_FLIGHT, timeout=10,
                        what="undelivered requests time out, and the next are asked")
        asked, waiting = node.runtime.call(counts)
        assert asked <= params.MAX_PEER_TX_REQUEST_IN_FLIGHT
        assert asked + waiting <= params.MAX_PEER_TX_ANNOUNCEMENTS
    finally:
        flooder.kill()


def test_no_send_to_a_vanished_peer_reaches_the_socket(node, caplog):
    caplog.set_level(logging.WARNING, logger="asyncio")
    pings = wire.encode_frame(msg_control.Ping(7)) * 2000  # 2,000 pongs to write, to nobody
    for _ in range(20):
        sock = attacker(node)
        hello(sock)
        sock.sendall(pings)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, at once, without reading a byte
    node.wait_until(lambda: not node.connections(), timeout=20, what="all 20 gone")
    node.sync_with_ping()
    assert not [r for r in caplog.records if "socket.send() raised exception" in r.getMessage()]


def test_a_mempool_request_is_answered_once_per_connection(node):
    from toycoin.msg_data import MempoolRequest
    from toycoin.wallet import Wallet

    bob = PrivateKey.from_seed("bob").address
    node.submit_tx(Wallet(ALICE).make_payment(node.ledger.unspent_for(ALICE.address), bob, 10))
    sock = attacker(node)
    hello(sock)
    sock.sendall(wire.encode_frame(MempoolRequest()) * 50)  # 1,200 bytes, each asking for it all
    node.wait_until(lambda: sum(e.kind == "ignored" for e in node.events) == 49, what="49 refused")
    assert sum(e.kind == "send" and e.command == "inv" and e.peer == "mallory" for e in node.events) == 1
    sock.close()
