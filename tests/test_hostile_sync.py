"""Hostile peers against block sync, over loopback: a header whose block never comes, a flood of forks.

Each attacker is a real peer on the connection layer (toycoin.peerman.PeerMan)
that speaks the node protocol but lies: it announces a block it will not serve,
or sends thousands of cheap side-branch headers. The victim must end on the
honest chain, drop the liar, and keep its memory bounded.
"""

import pytest

from unharmed import assert_unharmed

from toycoin import params
from toycoin.block import BlockHeader
from toycoin.msg_data import GetData, GetHeaders, Headers, NotFound
from toycoin.node import Node, course_genesis
from toycoin.peer import Limits
from toycoin.peerman import PeerMan
from toycoin.relay import Relay
from toycoin.runtime import Runtime
from toycoin.sync import BlockSync

FAST = Limits(handshake_timeout=2.0, frame_timeout=2.0, block_timeout=1.0)
GENESIS = course_genesis()


class Announcer(PeerMan):
    """Announces one header on top of genesis; answers getdata with notfound, or not at all."""

    def __init__(self, runtime: Runtime, header: BlockHeader, answer: bool) -> None:
        super().__init__("liar", runtime=runtime, limits=FAST)
        self.header = header
        self.handle(GetHeaders, lambda conn, message: conn.send(Headers((self.header,))))
        if answer:
            self.handle(GetData, lambda conn, message: conn.send(NotFound(message.items)))
        else:
            self.handle(GetData, lambda conn, message: None)

    def on_connected(self, conn) -> None:
        conn.send(Headers((self.header,)))


@pytest.fixture
def runtime():
    runtime = Runtime("test-hostile-sync")
    yield runtime
    runtime.close()


def fake_header(salt: int, prev: BlockHeader = GENESIS.header, height_gap: int = 600) -> BlockHeader:
    return BlockHeader(1, prev.hash, bytes([salt % 256]) * 32, prev.timestamp + height_gap + salt,
                       params.BLOCK_BITS, salt)


@pytest.mark.parametrize("answer", [True, False], ids=["notfound", "silence"])
def test_a_header_whose_block_never_comes_does_not_stall_the_sync(runtime, answer):
    honest = Node("honest", runtime=runtime, services=[Relay, BlockSync], limits=FAST)
    victim = Node("victim", runtime=runtime, services=[Relay, BlockSync], limits=FAST)
    liar = Announcer(runtime, fake_header(1), answer)
    for peer in (honest, victim, liar):
        peer.start()
    try:
        honest.seal()  # block 1: a sibling of the fake, of equal work, so the fake is not outweighed
        victim.connect(liar, wait=False)  # it may drop the liar before any ping could come back
        sync = victim.service(BlockSync)
        victim.wait_until(lambda: liar.header.hash in sync.tree, timeout=5, what="the victim knows the fake")
        victim.connect(honest, wait=False)
        victim.wait_until(lambda: victim.ledger.tip_hash == honest.ledger.tip_hash, timeout=20,
                          what="the victim took the honest block 1")
        reason = "does not serve it" if answer else "did not deliver block"

        def dropped() -> list[str]:
            return [e.detail for e in victim.events if e.kind == "disconnected" and e.peer == "liar"]

        victim.wait_until(lambda: any(reason in d for d in dropped()), timeout=10, what="the liar is dropped")
        for _ in range(4):
            honest.seal()
        victim.wait_until(lambda: victim.height == 5, timeout=10, what="the victim keeps following")
        assert victim.ledger.tip_hash == honest.ledger.tip_hash
        assert_unharmed(victim)
    finally:
        for peer in (honest, victim, liar):
            peer.stop()


class Flooder(PeerMan):
    """Sends branch after branch of free headers forking at genesis, each shorter than the victim's chain."""

    def __init__(self, runtime: Runtime, branches: int, length: int) -> None:
        super().__init__("flooder", runtime=runtime, limits=FAST)
        self.branches, self.length, self.sent = branches, length, 0

    def on_connected(self, conn) -> None:
        for salt in range(1, self.branches + 1):
            branch, prev = [], GENESIS.header
            for _ in range(self.length):
                prev = fake_header(salt, prev)
                branch.append(prev)
            conn.send(Headers(tuple(branch)))
            self.sent += len(branch)


def test_a_flood_of_side_branches_is_bounded(runtime):
    victim = Node("victim", runtime=runtime, services=[Relay, BlockSync], limits=FAST)
    victim.start()
    for _ in range(20):
        victim.seal()
    tip = victim.ledger.tip_hash
    flooder = Flooder(runtime, branches=700, length=10)  # 7,000 headers, each branch less work
    flooder.start()
    try:
        victim.connect(flooder)
        victim.wait_until(lambda: flooder.sent == 7000, timeout=20, what="the flood is sent")
        victim.sync_with_ping()  # every header before the pong was handled
        tree = victim.service(BlockSync).tree
        assert tree.side_count <= params.MAX_SIDE_HEADERS
        assert victim.ledger.tip_hash == tip and tree.tip.hash == tip
        assert_unharmed(victim, (20, tip))
    finally:
        flooder.stop()
        victim.stop()


def test_a_header_tree_keeps_the_side_branches_with_most_work():
    from toycoin.headers import HeaderChain

    tree = HeaderChain(GENESIS.header, max_side=6)
    main = [fake_header(0)]
    for _i in range(9):
        main.append(fake_header(0, main[-1]))
    tree.add(main)
    short, longer = [fake_header(7)], [fake_header(8)]
    for _ in range(2):
        short.append(fake_header(7, short[-1]))
    for _ in range(5):
        longer.append(fake_header(8, longer[-1]))
    tree.add(short)
    tree.add(longer)  # 3 + 6 side headers: the short branch goes first
    assert tree.side_count == 6 and longer[-1].hash in tree and short[0].hash not in tree
    assert tree.tip == main[-1]
    tree.forget(main[5].hash)  # nobody serves block 6: the best chain falls back to the longer fork
    assert tree.tip == longer[-1] and main[4].hash in tree and main[5].hash not in tree


class Runner(PeerMan):
    """Sends headers without end on top of genesis (free to make without proof of work), and
    never serves a block."""

    def __init__(self, runtime: Runtime, batches: int) -> None:
        # All sent at once: a send buffer that holds them, where a node's would say "does not read".
        super().__init__("runner", runtime=runtime, limits=Limits(block_timeout=60.0, max_send_buffer=2**30))
        self.batches, self.sent = batches, 0
        self.handle(GetData, lambda conn, message: None)

    def on_connected(self, conn) -> None:
        prev = GENESIS.header
        for _ in range(self.batches):
            batch = []
            for _ in range(params.MAX_HEADERS_RESULTS):
                prev = fake_header(1, prev)
                batch.append(prev)
            conn.send(Headers(tuple(batch)))
            self.sent += len(batch)


def test_headers_without_end_are_kept_only_so_far_ahead_of_the_blocks(runtime):
    victim = Node("victim", runtime=runtime, services=[Relay, BlockSync],
                  limits=Limits(block_timeout=60.0))  # the runner is not dropped for its silence
    # 14,000 headers: 10,000 kept, the sixth batch dropped whole, the seventh connects to nothing
    # (one of MAX_UNCONNECTING_HEADERS; a runner that goes on is dropped for them).
    runner = Runner(runtime, batches=7)
    for peer in (victim, runner):
        peer.start()
    try:
        victim.connect(runner)
        victim.wait_until(lambda: runner.sent == 14_000, timeout=30, what="the headers are sent")
        victim.sync_with_ping()  # every headers message before the pong was handled
        tree = victim.service(BlockSync).tree
        assert tree.height == params.MAX_HEADERS_AHEAD  # the rest dropped, the runner still connected
        assert victim.peers == ("runner",) and victim.height == 0
        assert_unharmed(victim, (0, GENESIS.hash))
    finally:
        for peer in (victim, runner):
            peer.stop()


def test_a_chain_longer_than_the_headers_kept_ahead_syncs_in_rounds(runtime, monkeypatch):
    monkeypatch.setattr(params, "MAX_HEADERS_AHEAD", 30)
    honest = Node("honest", runtime=runtime, services=[Relay, BlockSync])
    victim = Node("victim", runtime=runtime, services=[Relay, BlockSync])
    for peer in (honest, victim):
        peer.start()
    try:
        for _ in range(100):
            honest.seal()
        victim.connect(honest)
        victim.wait_until(lambda: victim.height == 100, timeout=20, what="the victim has all 100 blocks")
        assert victim.ledger.tip_hash == honest.ledger.tip_hash
        rounds = [e for e in victim.events if e.kind == "synced"]
        assert len(rounds) >= 4  # 30 headers ahead at a time: synced at 30, 60, 90, 100
    finally:
        for peer in (honest, victim):
            peer.stop()


class Evictor(PeerMan):
    """Tries to push a node's own tip out of its header tree: a heavier branch forking one block
    below the tip (the tip becomes a side header), then more side headers than a tree keeps, each
    branch heavier than the tip. Serves no block."""

    def __init__(self, runtime: Runtime, fork_parent: BlockHeader) -> None:
        super().__init__("evictor", runtime=runtime, limits=Limits(max_send_buffer=2**30))
        self.fork_parent, self.sent = fork_parent, 0
        self.handle(GetData, lambda conn, message: None)

    def on_connected(self, conn) -> None:
        heavier, prev = [], self.fork_parent
        for _ in range(6000):
            prev = fake_header(2, prev)
            heavier.append(prev)
        side, prev = [], heavier[1]
        for _ in range(params.MAX_SIDE_HEADERS + 1):
            prev = fake_header(3, prev)
            side.append(prev)
        for chain in (heavier, side):
            for start in range(0, len(chain), params.MAX_HEADERS_RESULTS):
                conn.send(Headers(tuple(chain[start:start + params.MAX_HEADERS_RESULTS])))
                self.sent += len(chain[start:start + params.MAX_HEADERS_RESULTS])


def test_side_headers_never_push_a_nodes_own_blocks_out_of_its_tree(runtime):
    victim = Node("victim", runtime=runtime, services=[Relay, BlockSync], limits=Limits(block_timeout=60.0))
    victim.start()
    for _ in range(5):
        victim.seal()
    tip = victim.ledger.tip_hash
    evictor = Evictor(runtime, victim.ledger.header_at(4))
    evictor.start()
    honest = Node("honest", runtime=runtime, services=[Relay, BlockSync])
    try:
        victim.connect(evictor)
        victim.wait_until(lambda: evictor.sent == 6000 + params.MAX_SIDE_HEADERS + 1, timeout=30,
                          what="the headers are sent")
        victim.sync_with_ping()
        assert tip in victim.service(BlockSync).tree and victim.ledger.tip_hash == tip
        evictor.stop()  # its branch goes with it; the node carries on with an honest peer
        victim.wait_until(lambda: victim.peers == (), timeout=10, what="the victim noticed")
        honest.start()
        honest.connect(victim)
        honest.wait_until(lambda: honest.height == 5, timeout=10, what="honest synced the victim's blocks")
        honest.seal()
        victim.wait_until(lambda: victim.height == 6, timeout=10, what="the victim took block 6")
        assert victim.ledger.tip_hash == honest.ledger.tip_hash
        assert not [e for e in victim.events if e.kind == "service error"]
        assert_unharmed(victim)
    finally:
        for peer in (victim, evictor, honest):
            peer.stop()
