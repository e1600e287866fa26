"""One connection layer for every kind of peer, and a node built from services.

toycoin.connman and toycoin.peerman dial, handshake, ping and route for a full
node, a light wallet's peer group and a wallet client alike. Here a peer with a
message set of its own (an echo service, standing in for the DHT node or the
tracker of a later chapter) reuses that layer as it is, and a node gains a
service of the test's own in one line.
"""

import socket
from dataclasses import dataclass
from typing import ClassVar

import pytest

from toycoin.block import Block
from toycoin.encoding import ByteReader
from toycoin.errors import NodeError
from toycoin.keys import PrivateKey
from toycoin.message import Message, read_text, write_text
from toycoin.msg_control import Addr, GetAddr, Ping, Pong, Verack, Version
from toycoin.msg_data import TxMessage
from toycoin.msg_wallet import GetUtxos
from toycoin.node import Node
from toycoin.peerman import PeerMan
from toycoin.relay import Relay
from toycoin.runtime import Runtime
from toycoin.service import Service
from toycoin.sync import BlockSync
from toycoin.wire import encode_frame, message_set


@dataclass(frozen=True, repr=False)
class Shout(Message):
    command: ClassVar[bytes] = b"shout"
    text: str

    def serialize(self) -> bytes:
        return write_text(self.text)

    @classmethod
    def read_from(cls, reader: ByteReader) -> "Shout":
        return cls(read_text(reader, 40, "shout"))


@dataclass(frozen=True, repr=False)
class Echo(Shout):
    command: ClassVar[bytes] = b"echo"


ECHO_MESSAGES = message_set(Version, Verack, Ping, Pong, GetAddr, Addr, Shout, Echo)


class EchoPeer(PeerMan):
    """A peer of another kind: it answers shout with echo, and knows no ledger at all."""

    def __init__(self, name: str, runtime: Runtime) -> None:
        super().__init__(name, runtime=runtime, messages=ECHO_MESSAGES)
        self.handle(Shout, self.on_shout)

    def on_shout(self, conn, message: Shout) -> None:
        conn.send(Echo(message.text.upper()))


@pytest.fixture
def runtime():
    runtime = Runtime("test-connection-layer")
    yield runtime
    runtime.close()


def test_a_peer_with_its_own_messages_reuses_the_connection_layer(runtime):
    a, b = EchoPeer("a", runtime), EchoPeer("b", runtime)
    a.start()
    b.start()
    try:
        b.connect(a)  # the same dial, handshake and ping as full nodes
        assert a.peers == ("b",) and b.peers == ("a",)
        caller = PeerMan("caller", listen=False, service_flags=0, learn_addresses=False, runtime=runtime,
                         messages=ECHO_MESSAGES)
        caller.answers.add(Echo)

        async def shout() -> Message:
            async with caller.session(a.address, "peer a") as conn:
                return await caller.ask(conn, Shout("hello"), (Echo,))

        before = a.events[-1].seq
        assert runtime.run(shout()) == Echo("HELLO")
        received = [e for e in a.events if e.kind == "receive" and e.seq > before]
        assert [(e.command, e.direction) for e in received] == [("version", "in"), ("verack", "in"),
                                                                ("shout", "in")]
    finally:
        a.stop()
        b.stop()


def test_a_message_outside_a_peers_set_is_ignored_not_parsed(runtime):
    a = EchoPeer("a", runtime)
    a.start()
    try:
        with socket.create_connection(a.address) as mallory:
            hello = (Version("mallory", 1, 0, 0), Verack(), GetUtxos(PrivateKey.from_seed("x").address))
            for message in hello:
                mallory.sendall(encode_frame(message))
            a.wait_until(lambda: any(e.kind == "ignored" for e in a.events), what="a ignored getutxos")
        ignored = [e.detail for e in a.events if e.kind == "ignored"]
        assert ignored == ["unknown command 'getutxos'"]
    finally:
        a.stop()


def test_a_session_to_nobody_names_the_node_and_the_fix(runtime):
    caller = PeerMan("caller", listen=False, service_flags=0, runtime=runtime)

    async def call() -> None:
        async with caller.session(("127.0.0.1", 1), "node server"):
            pass

    with pytest.raises(NodeError, match="cannot reach node server: connection refused — is it running"):
        runtime.run(call())


def test_one_answer_to_each_message(runtime):
    peer = EchoPeer("a", runtime)
    with pytest.raises(ValueError, match="a already handles shout"):
        peer.handle(Shout, peer.on_shout)

    class AlsoTakesPayments(Service):
        def attach(self, node) -> None:
            super().attach(node)
            node.handle(TxMessage, lambda conn, message: None)

    with pytest.raises(ValueError, match="already handles tx"):
        Node("A", runtime=runtime, services=[Relay, AlsoTakesPayments])


class BlockCounter(Service):
    """A service of the test's own: counts the blocks that join the ledger, whatever their path."""

    def __init__(self) -> None:
        self.heights: list[int] = []

    def on_block(self, block: Block) -> None:
        self.heights.append(self.node.ledger.height)


def test_a_node_gains_a_service_in_one_line(runtime):
    plain = Node("A", runtime=runtime)
    assert plain.services == () and plain.handles(TxMessage)  # seals each payment at once
    node = Node("B", runtime=runtime, services=[Relay, BlockSync, BlockCounter])
    assert [type(s) for s in node.services] == [Relay, BlockSync, BlockCounter]
    node.seal()
    node.seal()
    assert node.service(BlockCounter).heights == [1, 2]
    with pytest.raises(LookupError, match="node A has no Relay service"):
        plain.service(Relay)
    other = Node("C", runtime=runtime, services=[Relay, BlockSync])
    assert other.service(Relay) is not node.service(Relay)  # each node its own


def test_an_address_learned_before_it_is_asked_for_is_dialled():
    # Without discovery a learned address is not dialled: its dial loop waits for a change.
    # Asking for it later is such a change, even on a node where nothing else happens.
    a, b = Node("A", discover=False), Node("B")
    a.start()
    b.start()
    try:
        a.runtime.call(a.want, b.address, "learned")  # as if a peer's addr message named B
        a.sync_with_ping()
        assert a.peers == ()
        a.connect(b, timeout=5)
        assert a.peers == ("B",)
    finally:
        a.stop()
        b.stop()
