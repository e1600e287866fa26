"""Hostile input against consensus rules: timestamps, 64-byte transactions, endless headers,
headers that connect to nothing, and the open-file limit.

Each test attacks a real node over loopback where a peer is involved, and
checks that the node refuses with a reason, keeps its ledger, and can go on.
"""

import pytest

from unharmed import assert_unharmed

from toycoin import params
from toycoin.block import Block, BlockHeader, make_block
from toycoin.errors import ValidationError
from toycoin.headers import HeaderChain
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger, check_tx_shape
from toycoin.merkle import make_proof
from toycoin.msg_data import GetHeaders, Headers
from toycoin.msg_wallet import Proof
from toycoin.node import Node, course_genesis
from toycoin.peer import Limits
from toycoin.peerman import PeerMan
from toycoin.relay import Relay
from toycoin.runtime import Runtime, raise_open_file_limit
from toycoin.spv import LightClient, check_proof
from toycoin.sync import BlockSync
from toycoin.mempool import Mempool
from toycoin.tx import OutPoint, Tx, TxIn, TxOut, make_coinbase
from toycoin.wallet import Wallet

GENESIS = course_genesis()
MINER = PrivateKey.from_seed("miner").address
ALICE = PrivateKey.from_seed("alice")
ALICE_WALLET = Wallet(ALICE)
BOB = PrivateKey.from_seed("bob").address
FAST = Limits(handshake_timeout=2.0, frame_timeout=2.0, block_timeout=1.0)


@pytest.fixture
def runtime():
    runtime = Runtime("test-hostile-rules")
    yield runtime
    runtime.close()


def block_at(ledger: Ledger, timestamp: int) -> Block:
    coinbase = make_coinbase(ledger.height + 1, MINER, params.BLOCK_REWARD)
    return make_block(ledger.tip_hash, [coinbase], timestamp)


def test_a_block_from_the_far_future_is_refused_and_sealing_goes_on(runtime):
    node = Node("A", runtime=runtime, services=[Relay, BlockSync])
    with pytest.raises(ValidationError, match="more than 2 hours ahead of this node's clock"):
        node.accept_block(block_at(node.ledger, 2**32 - 1))
    assert node.height == 0
    node.seal()  # the clock was never pushed to the end of time
    assert node.height == 1


def test_a_block_no_later_than_the_median_of_the_last_eleven_is_refused():
    ledger = Ledger(GENESIS)
    for step in range(1, 12):
        ledger.apply_block(block_at(ledger, GENESIS.header.timestamp + 600 * step))
    median = sorted(ledger.block_at(h).header.timestamp for h in range(1, 12))[5]
    with pytest.raises(ValidationError, match=f"not later than the median of the last 11 blocks \\({median}"):
        ledger.apply_block(block_at(ledger, median))
    ledger.apply_block(block_at(ledger, median + 1))  # a timestamp may go back, but not that far
    chain = HeaderChain(GENESIS.header, now=lambda: GENESIS.header.timestamp)
    late = BlockHeader(1, GENESIS.hash, bytes(32), GENESIS.header.timestamp + 3 * 3600, params.BLOCK_BITS, 0)
    with pytest.raises(ValidationError, match="more than 2 hours ahead"):
        chain.add([late])  # a light wallet checks the same rules


def sixty_four_byte_tx() -> Tx:
    # One input with a 16-byte "signature", no key, no outputs: 4+1+(32+4+1+16+1)+1+4 = 64 bytes.
    return Tx(inputs=[TxIn(OutPoint(bytes(32), 1), bytes(16), b"")], outputs=[])


def test_a_64_byte_transaction_is_refused_by_nodes_and_light_wallets():
    tx = sixty_four_byte_tx()
    assert len(tx.serialize()) == 64
    with pytest.raises(ValidationError, match="exactly 64 bytes could pass for an inner Merkle node"):
        check_tx_shape(tx)
    chain = HeaderChain(GENESIS.header)
    reply = Proof(GENESIS.hash, 0, make_proof([tx.txid], 0), tx)
    with pytest.raises(ValidationError, match="64 bytes"):
        check_proof(chain, tx.txid, reply)


class EndlessHeaders(PeerMan):
    """A full node that always has 2,000 more headers, free on a network without proof of work."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__("liar", runtime=runtime, limits=FAST)
        self.handle(GetHeaders, self.on_getheaders)
        self.tip = GENESIS.header

    def on_getheaders(self, conn, message) -> None:
        batch = []
        for _ in range(params.MAX_HEADERS_RESULTS):
            later = self.tip.timestamp + 600
            self.tip = BlockHeader(1, self.tip.hash, bytes(32), later, params.BLOCK_BITS, 0)
            batch.append(self.tip)
        conn.send(Headers(tuple(batch)))


def test_a_light_wallet_stops_taking_headers_far_past_the_announced_height(runtime):
    liar = EndlessHeaders(runtime)
    liar.start()
    wallet = LightClient(PrivateKey.from_seed("alice"), [liar], runtime=runtime, discover=False, timeout=2.0)
    try:
        wallet.start(wait=False)
        wallet.wait_until(lambda: wallet.banned, timeout=20, what="the wallet banned the liar")
        assert "far past the height 0 it announced" in wallet.banned["liar"]
        assert wallet.header_height <= 2 * params.MAX_HEADERS_RESULTS
    finally:
        wallet.stop()
        liar.stop()


class Unconnected(PeerMan):
    """Keeps announcing headers whose parents nobody has."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__("liar", runtime=runtime, limits=FAST)
        self.handle(GetHeaders, lambda conn, message: self.announce(conn))

    def announce(self, conn) -> None:
        later = GENESIS.header.timestamp + 600
        stray = BlockHeader(1, bytes(range(32)), bytes(32), later, params.BLOCK_BITS, 0)
        conn.send(Headers((stray,)))

    def on_connected(self, conn) -> None:
        self.announce(conn)


def test_headers_that_connect_to_nothing_cost_the_peer_its_connection(runtime):
    victim = Node("victim", runtime=runtime, services=[Relay, BlockSync], limits=FAST)
    liar = Unconnected(runtime)
    victim.start()
    liar.start()
    try:
        victim.connect(liar, wait=False)
        victim.wait_until(lambda: any(e.kind == "disconnected" and "connect to nothing" in e.detail
                                      for e in victim.events), timeout=10, what="the liar was dropped")
        assert victim.height == 0
        assert_unharmed(victim, (0, GENESIS.hash))
    finally:
        victim.stop()
        liar.stop()


def test_the_open_file_limit_is_raised_where_the_system_allows():
    limit = raise_open_file_limit()
    assert limit == 0 or limit >= 1024  # 0: a system without such a limit (Windows)


RAISED = """
import resource
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096))  # the soft limit low, the hard one higher
from toycoin.node import Node
node = Node("A")
node.start()  # its network thread raises the soft limit as it starts
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
node.stop()
"""


def test_a_node_raises_a_low_soft_limit_of_open_files_to_the_hard_one():
    import subprocess
    import sys

    pytest.importorskip("resource")
    done = subprocess.run([sys.executable, "-c", RAISED], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4096"


def test_a_block_too_big_to_send_is_never_built_nor_accepted():
    ledger = Ledger(GENESIS)
    coinbase = make_coinbase(1, MINER, 0)
    huge = Tx(coinbase.inputs, [TxOut(0, MINER)] * 35_000)  # 980,000 bytes of zero-value outputs
    block = make_block(GENESIS.hash, [huge], GENESIS.header.timestamp + 600)
    with pytest.raises(ValidationError, match="larger than the limit of 900,000"):
        ledger.apply_block(block)
    assert ledger.height == 0


def test_dust_and_oversized_payments_are_not_relayed():
    ledger = Ledger(GENESIS)
    coins = ledger.unspent_for(ALICE.address)
    dusty = ALICE_WALLET.sign(Tx([TxIn(coins[0][0])], [TxOut(100, BOB), TxOut(0, BOB)]), [coins[0][1]])
    with pytest.raises(ValidationError, match="output 1 is dust: 0 coins"):
        Mempool().add(dusty, ledger)
    ledger.validate_tx(dusty)  # valid by consensus: only relay policy refuses it


def test_a_sealer_fills_a_block_up_to_the_limit_and_leaves_the_rest(monkeypatch):
    node_ledger = Ledger(GENESIS)
    coins = node_ledger.unspent_for(ALICE.address)
    outputs = [TxOut(1, ALICE.address)] * 40 + [TxOut(60, ALICE.address)]
    split = ALICE_WALLET.sign(Tx([TxIn(coins[0][0])], outputs), [coins[0][1]])
    node_ledger.seal_block([split], MINER, GENESIS.header.timestamp + 600)
    pool = Mempool()
    for outpoint, txout in node_ledger.unspent_for(ALICE.address)[:40]:
        pool.add(ALICE_WALLET.sign(Tx([TxIn(outpoint)], [TxOut(1, BOB)]), [txout]), node_ledger)
    size = len(pool.txs()[0].serialize())
    monkeypatch.setattr(params, "MAX_BLOCK_SIZE", 10 * size + 1_000 + 10)  # room for 10 payments
    chosen = pool.txs_for_block()
    assert len(chosen) == 10 and chosen == pool.txs()[:10]
    block = node_ledger.seal_block(chosen, MINER, GENESIS.header.timestamp + 1200)
    assert len(block.serialize()) <= params.MAX_BLOCK_SIZE
    pool.remove_for_block(block)
    assert len(pool) == 30


OUT_OF_FILES = """
import os, resource, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))  # soft and hard: it cannot be raised
from toycoin.errors import NodeError
from toycoin.node import Node
a, b = Node("A"), Node("B")
a.start()
b.start()
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    os.close(held.pop())  # one file left: B's dial takes it, and A cannot accept
started = time.monotonic()
try:
    b.connect(a)
except NodeError as error:
    print(f"{time.monotonic() - started:.1f}", error)
"""


def test_out_of_open_files_a_wait_fails_at_once_and_says_how_to_raise_the_limit():
    import subprocess
    import sys

    pytest.importorskip("resource")
    done = subprocess.run([sys.executable, "-c", OUT_OF_FILES], capture_output=True, text=True, timeout=60)
    assert done.stdout, done.stderr[-2000:]
    seconds, error = done.stdout.split(" ", 1)
    assert error.startswith("this process ran out of open files: it may open 64")
    assert "ulimit -n 65536" in error and "while waiting until B is connected to A" in error
    assert float(seconds) < 5.0, "the wait ran to its timeout (10 s)"
    assert done.stderr.count("out of system resource") <= 1, "asyncio logged every failed accept"


def test_a_listening_socket_that_cannot_be_made_says_why():
    import asyncio
    import errno
    import socket
    from concurrent.futures import ThreadPoolExecutor

    from toycoin.peer import serve_frames

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            raise OSError(errno.EMFILE, "Too many open files")

    loop = asyncio.new_event_loop()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(socket, "socket", NoSocket)  # the loop has its sockets already
            with pytest.raises(OSError, match="Too many open files"):
                # asyncio's create_server alone returned a server without a socket. A thread of
                # its own: this one may hold a running loop already (the browser tests' driver).
                with ThreadPoolExecutor(1) as thread:
                    thread.submit(loop.run_until_complete,
                                  serve_frames(lambda r, w: None, "127.0.0.1", 0)).result()
    finally:
        loop.close()


# --- the same rules, attacked from a socket ----------------------------------------------

def raw_peer(node: Node):
    """A raw socket that has said hello to ``node`` as a full node (its answers are never read)."""
    import socket

    from toycoin import msg_control, wire

    sock = socket.create_connection(node.address, timeout=5)
    for message in (msg_control.Version("mallory", 7, 1, 0), msg_control.Verack()):
        sock.sendall(wire.encode_frame(message))
    return sock


def test_a_header_from_the_end_of_time_costs_its_sender_the_connection_and_sealing_goes_on():
    from toycoin import wire

    node = Node("A", services=[Relay, BlockSync], limits=FAST)
    node.start()
    try:
        with raw_peer(node) as sock:
            header = BlockHeader(1, GENESIS.hash, bytes(32), 2**32 - 1, params.BLOCK_BITS, 0)
            sock.sendall(wire.encode_frame(Headers((header,))))
            node.wait_until(lambda: any(e.kind == "disconnected" and "more than 2 hours ahead" in e.detail
                                        for e in node.events), what="the time traveller is dropped")
        assert node.height == 0 and header.hash not in node.service(BlockSync).tree
        node.seal()  # the clock was never pushed to the end of time
        assert node.height == 1
        assert_unharmed(node)
    finally:
        node.kill()


def test_a_64_byte_transaction_from_a_peer_is_rejected_and_never_relayed():
    from toycoin import wire
    from toycoin.msg_data import TxMessage

    node = Node("A", services=[Relay, BlockSync], limits=FAST)
    node.start()
    try:
        with raw_peer(node) as sock:
            tx = sixty_four_byte_tx()
            sock.sendall(wire.encode_frame(TxMessage(tx)))
            node.wait_until(lambda: any(e.kind == "send" and e.command == "reject" for e in node.events),
                            what="the node answered with a reject")
            reject = next(e for e in node.events if e.kind == "send" and e.command == "reject")
            assert "64 bytes" in reject.detail
        assert len(node.mempool) == 0 and node.is_running
        assert_unharmed(node, (0, GENESIS.hash))
    finally:
        node.kill()


def _sent(node: Node, command: str) -> list[str]:
    return [e.detail for e in node.events if e.kind == "send" and e.command == command]


def test_a_dust_payment_from_a_peer_is_rejected_and_never_relayed():
    from toycoin import wire
    from toycoin.msg_data import TxMessage

    node = Node("A", services=[Relay, BlockSync], limits=FAST)
    node.start()
    try:
        coin = node.ledger.unspent_for(ALICE.address)[0]
        dusty = ALICE_WALLET.sign(Tx([TxIn(coin[0])], [TxOut(100, BOB), TxOut(0, BOB)]), [coin[1]])
        with raw_peer(node) as sock:
            sock.sendall(wire.encode_frame(TxMessage(dusty)))
            node.wait_until(lambda: _sent(node, "reject"), what="the node answered with a reject")
        assert "dust" in _sent(node, "reject")[0]
        assert len(node.mempool) == 0 and node.height == 0 and node.is_running
        assert not _sent(node, "inv")  # never announced to anyone
        assert_unharmed(node, (0, GENESIS.hash))
    finally:
        node.kill()


def test_a_node_seals_payments_from_peers_up_to_the_block_size_limit(monkeypatch):
    from toycoin import wire
    from toycoin.msg_data import TxMessage

    node = Node("A", services=[Relay, BlockSync], limits=FAST)
    node.start()
    try:
        coin = node.ledger.unspent_for(ALICE.address)[0]
        outputs = [TxOut(1, ALICE.address)] * 40 + [TxOut(60, ALICE.address)]
        split = ALICE_WALLET.sign(Tx([TxIn(coin[0])], outputs), [coin[1]])
        with raw_peer(node) as sock:
            sock.sendall(wire.encode_frame(TxMessage(split)))
            node.wait_until(lambda: len(node.mempool) == 1, what="the split is in the mempool")
            node.seal()
            coins = node.ledger.unspent_for(ALICE.address)[:40]
            payments = [ALICE_WALLET.sign(Tx([TxIn(outpoint)], [TxOut(1, BOB)]), [txout])
                        for outpoint, txout in coins]
            for payment in payments:
                sock.sendall(wire.encode_frame(TxMessage(payment)))
            node.wait_until(lambda: len(node.mempool) == 40, what="40 payments in the mempool")
        size = len(payments[0].serialize())
        monkeypatch.setattr(params, "MAX_BLOCK_SIZE", 10 * size + 1_000 + 10)  # room for 10 payments
        block = node.seal()
        assert len(block.serialize()) <= params.MAX_BLOCK_SIZE and len(block.txs) == 11
        assert len(node.mempool) == 30 and node.height == 2  # the rest waits for the next blocks
    finally:
        node.kill()


def test_a_block_over_the_size_limit_is_refused_unparsed_and_its_sender_dropped():
    from toycoin import wire
    from toycoin.block import HEADER_SIZE

    node = Node("A", services=[Relay, BlockSync], limits=FAST)
    node.start()
    try:
        with raw_peer(node) as sock:
            header = BlockHeader(1, GENESIS.hash, bytes(32), GENESIS.header.timestamp + 600,
                                 params.BLOCK_BITS, 0)
            sock.sendall(wire.encode_frame(Headers((header,))))
            node.wait_until(lambda: _sent(node, "getdata"), what="the node asked for the block")
            payload = header.serialize() + bytes(params.MAX_BLOCK_SIZE + 1 - HEADER_SIZE)
            frame = (params.NETWORK_MAGIC + b"block".ljust(12, b"\0") + len(payload).to_bytes(4, "little")
                     + wire.checksum(payload) + payload)
            try:
                sock.sendall(frame)
            except OSError:
                pass  # dropped while it was still sending: as good
            node.wait_until(lambda: any(e.kind == "disconnected" and e.peer == "mallory"
                                        for e in node.events), timeout=10, what="the sender is dropped")
        refused = [e.detail for e in node.events if e.kind == "ignored"]
        assert any("over the limit of 900,000" in d for d in refused), refused
        assert node.height == 0 and node.is_running
        assert_unharmed(node, (0, GENESIS.hash))
    finally:
        node.kill()


def test_a_header_two_hours_ahead_of_the_nodes_injected_clock_is_taken_a_second_more_is_not():
    from toycoin import wire

    now = GENESIS.header.timestamp + 100_000
    slow_to_drop = Limits(handshake_timeout=2.0, frame_timeout=2.0, block_timeout=30.0)  # the edge's block
    node = Node("A", services=[Relay, BlockSync], limits=slow_to_drop, now=lambda: now)
    node.start()
    try:
        ahead = now + params.MAX_FUTURE_BLOCK_TIME
        edge = BlockHeader(1, GENESIS.hash, bytes(32), ahead, params.BLOCK_BITS, 0)
        beyond = BlockHeader(1, GENESIS.hash, bytes(32), ahead + 1, params.BLOCK_BITS, 1)
        tree = node.service(BlockSync).tree
        with raw_peer(node) as sock:
            sock.sendall(wire.encode_frame(Headers((edge,))))
            node.wait_until(lambda: edge.hash in tree, what="the header at the edge is taken")
            sock.sendall(wire.encode_frame(Headers((beyond,))))
            node.wait_until(lambda: any(e.kind == "disconnected" and "more than 2 hours ahead" in e.detail
                                        for e in node.events), what="a second beyond, the sender is dropped")
        assert beyond.hash not in tree
        assert_unharmed(node, (0, GENESIS.hash))
    finally:
        node.kill()
