"""Forks and reorganisation, over loopback: two halves mine apart, then the branch with more work wins.

Nodes on the proof-of-work network (toycoin.pow.COURSE_POW) are kept apart, each
half mines its own blocks, and then they are connected: every node ends on the
branch with more work, its undone payments back in the mempool, a double spend
settled to one payment, and a store that reopens on the winning branch.
"""

import pytest
from branches import BranchServer, mined

from toycoin.errors import InvalidBlock
from toycoin.keys import PrivateKey
from toycoin.mining import Miner
from toycoin.node import Node, course_genesis
from toycoin.peer import Limits
from toycoin.pow import COURSE_POW
from toycoin.relay import Relay
from toycoin.runtime import Runtime
from toycoin.store import Store
from toycoin.sync import BlockSync
from toycoin.wallet import Wallet

ALICE = PrivateKey.from_seed("alice")
BOB, CAROL = PrivateKey.from_seed("bob").address, PrivateKey.from_seed("carol").address
FAST = Limits(handshake_timeout=2.0, frame_timeout=2.0, block_timeout=1.0)


@pytest.fixture
def runtime():
    runtime = Runtime("test-reorg")
    yield runtime
    runtime.close()


def pow_node(name, runtime, **options):
    node = Node(name, rules=COURSE_POW, services=[Relay, BlockSync], runtime=runtime, limits=FAST,
                miner_address=PrivateKey.from_seed(f"miner {name}").address, **options)
    node.start()
    return node


def mine_blocks(node, count):
    for _ in range(count):
        node.seal()  # on a proof-of-work network, seal() finds the proof of work first


def tips_agree(*nodes):
    return lambda: len({n.ledger.tip_hash for n in nodes}) == 1 and len({n.height for n in nodes}) == 1


@pytest.mark.parametrize("depth", [1, 2, 10, 100])
def test_the_branch_with_more_work_wins_and_undone_payments_return(runtime, depth):
    a, b = pow_node("A", runtime), pow_node("B", runtime)
    try:
        payment = Wallet(ALICE).make_payment(a.ledger.unspent_for(ALICE.address), BOB, 10)
        a.submit_tx(payment)
        mine_blocks(a, depth)  # A's branch holds Alice's payment
        mine_blocks(b, depth + 1)  # B's branch: one block more, so more work
        assert payment.txid not in [tx.txid for blk in b.ledger.blocks for tx in blk.txs]
        a.connect(b)
        a.wait_until(tips_agree(a, b), timeout=20, what="A and B agree")
        assert a.height == depth + 1 and a.ledger.tip_hash == b.ledger.tip_hash
        reorg = [e for e in a.events if e.kind == "reorganized"]
        assert len(reorg) == 1 and f"undid {depth} block" in reorg[0].detail
        assert [tx.txid for tx in a.mempool.txs()] == [payment.txid]  # back in the mempool
        a.wait_until(lambda: payment.txid in b.mempool, timeout=10, what="the payment gossiped to B")
        block = b.seal()  # mined again, now on the winning branch
        a.wait_until(tips_agree(a, b), timeout=10, what="A has B's new block")
        assert payment.txid in [tx.txid for tx in block.txs] and len(a.mempool) == 0
        assert a.balance(BOB) == b.balance(BOB) == 10
    finally:
        a.stop()
        b.stop()


def test_a_double_spend_across_a_split_leaves_one_payment_standing(runtime):
    a, b = pow_node("A", runtime), pow_node("B", runtime)
    try:
        coins = a.ledger.unspent_for(ALICE.address)
        to_bob = Wallet(ALICE).make_payment(coins, BOB, 30)
        to_carol = Wallet(ALICE).make_payment(coins, CAROL, 30)  # the same coin, spent again
        a.submit_tx(to_bob)
        b.submit_tx(to_carol)
        mine_blocks(a, 1)
        mine_blocks(b, 2)
        a.connect(b)
        a.wait_until(tips_agree(a, b), timeout=20, what="A and B agree")
        for node in (a, b):
            assert node.balance(CAROL) == 30 and node.balance(BOB) == 0
        assert to_bob.txid not in a.mempool  # its coin is spent on the winning branch: dropped
    finally:
        a.stop()
        b.stop()


def test_a_reorganisation_is_atomic_in_the_store(runtime, tmp_path):
    a, b = pow_node("A", runtime, data_dir=tmp_path / "A"), pow_node("B", runtime)
    try:
        mine_blocks(a, 3)
        mine_blocks(b, 5)
        a.connect(b)
        a.wait_until(tips_agree(a, b), timeout=20, what="A and B agree")
        a.stop()
        store = Store.open(tmp_path / "A", course_genesis())
        try:
            assert store.height == 5 and store.tip_hash == b.ledger.tip_hash
            assert store.utxos() == b.ledger.utxos
        finally:
            store.close()
        again = Node("A", rules=COURSE_POW, data_dir=tmp_path / "A", runtime=runtime)
        assert again.ledger.tip_hash == b.ledger.tip_hash
    finally:
        a.stop()
        b.stop()


def test_an_invalid_block_deep_in_a_heavier_branch_refuses_the_branch(runtime):
    honest = pow_node("honest", runtime)
    mine_blocks(honest, 2)
    first = mined(None, 1)
    greedy = mined(first, 2, coinbase_amount=1000)  # valid work, broken rule
    third = mined(greedy, 3)
    fourth = mined(third, 4)
    server = BranchServer("mallory", [first, greedy, third, fourth], runtime=runtime, limits=FAST)
    server.start()
    tip_before = honest.ledger.tip_hash
    try:
        honest.connect(server, wait=False)
        honest.wait_until(lambda: any(e.kind == "branch refused" for e in honest.events), timeout=20,
                          what="the honest node refused the branch")
        refused = next(e for e in honest.events if e.kind == "branch refused")
        assert "coinbase pays 1000" in refused.detail and refused.peer == "mallory"
        assert honest.height == 2 and honest.ledger.tip_hash == tip_before  # stayed on its chain
        closed = [e for e in honest.events if e.kind == "disconnected" and e.peer == "mallory"]
        assert closed and "sent an invalid block" in closed[0].detail
        tree = honest.service(BlockSync).tree
        assert tree.is_invalid(greedy.hash) and tree.is_invalid(fourth.hash)
        assert not tree.is_invalid(first.hash)
        with pytest.raises(InvalidBlock, match="coinbase pays 1000"):  # the node's own call says so too
            honest.runtime.call(honest.reorganize, 0, [first, greedy], None)
        assert honest.ledger.tip_hash == tip_before
    finally:
        honest.stop()
        server.stop()


def test_a_miner_finds_blocks_while_the_node_keeps_answering(runtime):
    a = pow_node("A", runtime)
    b = Node("B", rules=COURSE_POW, services=[Relay, BlockSync, Miner], runtime=runtime, limits=FAST)
    b.start()
    try:
        a.connect(b)
        miner = b.service(Miner)
        miner.start()
        miner.start()  # a state, not a toggle
        a.wait_until(lambda: a.height >= 3, timeout=20, what="A has three of B's blocks")
        a.ping("B", timeout=5)  # answered while B mines
        miner.stop()
        a.wait_until(tips_agree(a, b), timeout=10, what="A and B agree")
        assert miner.blocks_found >= 3 and miner.hashes >= miner.blocks_found
        assert [e.kind for e in b.events].count("block mined") == miner.blocks_found
    finally:
        a.stop()
        b.stop()


def test_two_capped_miners_converge_on_one_chain(runtime):
    nodes = [Node(name, rules=COURSE_POW, services=[Relay, BlockSync, lambda: Miner(hashrate=5_000)],
                  runtime=runtime, limits=FAST) for name in ("A", "B")]
    for node in nodes:
        node.start()
    try:
        nodes[0].connect(nodes[1])
        for node in nodes:
            node.service(Miner).start()
        nodes[0].wait_until(lambda: min(n.height for n in nodes) >= 6, timeout=30, what="six blocks each")
        for node in nodes:
            node.service(Miner).stop()
        # If they stopped on a tie (two tips of equal work), neither switches: the next block
        # decides, as in Bitcoin. First let each hear of every block the other found.
        trees = [node.service(BlockSync).tree for node in nodes]
        nodes[0].wait_until(lambda: trees[0].work == trees[1].work
                            and all(n.height == t.height for n, t in zip(nodes, trees, strict=True)),
                            timeout=15, what="each has every block it heard of")
        if nodes[0].ledger.tip_hash != nodes[1].ledger.tip_hash:
            nodes[0].seal()
        nodes[0].wait_until(tips_agree(*nodes), timeout=15, what="both on one chain")
        found = sum(n.service(Miner).blocks_found for n in nodes)
        assert found + 1 >= nodes[0].height  # some blocks may have lost a race and been undone
    finally:
        for node in nodes:
            node.stop()


def test_a_real_clock_retargets_a_fast_miner_to_harder_blocks(runtime):
    # Chapter 09's difficulty plot, loosely: a capped miner about 20 times too fast for the easiest
    # target, on a clock in hundredths of a second; the first retarget (at height 2 x interval) makes
    # blocks harder, by the x4 clamp, and every node checks those bits by the same rule.
    import time

    from toycoin.pow import PowRules, block_work

    started = time.monotonic()
    rules = PowRules(spacing=100, retarget_interval=6)  # a block a second, in hundredths

    def clock():
        return 1_231_006_505 + int((time.monotonic() - started) * 100)

    miner = Node("M", rules=rules, clock=clock, services=[Relay, BlockSync, lambda: Miner(hashrate=5_000)],
                 runtime=runtime, limits=FAST)
    follower = Node("F", rules=rules, clock=clock, services=[Relay, BlockSync], runtime=runtime, limits=FAST)
    for node in (miner, follower):
        node.start()
    try:
        follower.connect(miner)
        miner.service(Miner).start()
        follower.wait_until(lambda: follower.height >= 13, timeout=30, what="13 blocks")
        miner.service(Miner).stop()
        works = [block_work(follower.ledger.header_at(h).bits) for h in range(1, 14)]
        assert works[:11] == [256] * 11 and works[11] == works[12] == 1024, works
    finally:
        miner.stop()
        follower.stop()
def test_a_node_that_mines_while_fetching_a_rival_block_still_announces_its_own(runtime):
    # A's frames are slow: B hears of A's block 1 half a second before the block itself arrives,
    # and meanwhile seals blocks 1 and 2 of its own. B's branch has more work: A must hear of it.
    a, b = pow_node("A", runtime), pow_node("B", runtime)
    try:
        a.connect(b)
        a.link_delay = 0.5
        a.seal()
        tree = b.service(BlockSync).tree
        b.wait_until(lambda: a.ledger.tip_hash in tree, timeout=10, what="B has A's header")
        mine_blocks(b, 2)
        a.wait_until(tips_agree(a, b), timeout=10, what="A and B agree")
        assert a.height == 2 and a.ledger.tip_hash == b.ledger.tip_hash
        assert b.service(BlockSync).caught_up
    finally:
        a.stop()
        b.stop()
