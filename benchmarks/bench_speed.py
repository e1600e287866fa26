"""Speed: the figures of issue 17, as ratios from one run on this machine.

Run it with ``python benchmarks/bench_speed.py`` (a few minutes; ``--quick``
for smaller networks). Each line is a ratio of two times (or a size) measured
in the same run, so a busy machine moves both sides alike:

1. validate and apply      1,000 one-payment blocks, parsed from bytes, into a
                           ledger without a signature cache; against the same
                           signatures checked by a bare PublicKey.verify, with
                           python-ecdsa and with the library in use (keys.VERIFIER)
2. signature cache         one block of 1,000 payments applied after they were
                           accepted into the mempool, against applying it cold
3. gossip                  a payment reaching every node of a 200-node mesh
                           (each node dials 4 others: about 8 peers each),
                           against one hop between two nodes
4. ping                    node.ping through the synchronous facade, against a
                           raw TCP round trip to an echo thread, and against the
                           least an event-loop thread can do for a round trip
5. stop                    closing a network of 50 nodes that discover peers,
                           20 times: the slowest close, and what was left behind
6. memory                  Python memory per node of 1,000 running nodes in a
                           ring, once every node's event log is full

This is a script, not a test: timings vary with the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import os
import random
import resource
import socket
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from chains import MINER, PAYEES, grow  # noqa: E402  (the tests' chain of signed payments)

from toycoin import keys, params, secp  # noqa: E402
from toycoin.block import Block, make_block, make_genesis  # noqa: E402
from toycoin.keys import LIBSECP256K1, PYTHON_ECDSA, PrivateKey, PublicKey  # noqa: E402
from toycoin.ledger import Ledger  # noqa: E402
from toycoin.mempool import Mempool  # noqa: E402
from toycoin.msg_control import Ping, Pong  # noqa: E402
from toycoin.msg_data import MSG_TX, GetData, Inv, InvItem  # noqa: E402
from toycoin.network import Network  # noqa: E402
from toycoin.node import Node, course_genesis  # noqa: E402
from toycoin.relay import Relay  # noqa: E402
from toycoin.runtime import Runtime  # noqa: E402
from toycoin.sigcache import SigCache  # noqa: E402
from toycoin.sync import BlockSync  # noqa: E402
from toycoin.tx import OutPoint, Tx, TxIn, TxOut, make_coinbase  # noqa: E402
from toycoin.wallet import Wallet  # noqa: E402

T0 = 1_700_000_000


def best_of(repeat: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(repeat))


# --- 1. validate and apply ------------------------------------------------------------

def one_payment_blocks(count: int) -> list[bytes]:
    """Genesis and ``count`` blocks, each with one signed payment, as bytes."""
    ledger = Ledger(course_genesis())
    wallet = Wallet(MINER)
    for height in range(1, count + 1):
        coins = ledger.unspent_for(MINER.address)
        txs = [wallet.make_payment(coins[:1], PAYEES[height % len(PAYEES)], 1)] if coins else []
        ledger.seal_block(txs, MINER.address, params.GENESIS_TIMESTAMP + 600 * height)
    return [block.serialize() for block in ledger.blocks]


def time_apply(raw: list[bytes]) -> float:
    blocks = [Block.parse(data) for data in raw]  # parsed first: no txid or digest cached yet
    ledger = Ledger(blocks[0])
    started = time.perf_counter()
    for block in blocks[1:]:
        ledger.apply_block(block)
    return time.perf_counter() - started


def time_parse_and_apply(raw: list[bytes]) -> float:
    started = time.perf_counter()
    ledger = Ledger(Block.parse(raw[0]))
    for data in raw[1:]:
        ledger.apply_block(Block.parse(data))
    return time.perf_counter() - started


def time_bare_verify(verifier: str, raw: list[bytes]) -> float:
    """PublicKey.verify of the same signatures: keys parsed and digests computed beforehand."""
    keys.VERIFIER = verifier
    ledger, work, parsed = Ledger(Block.parse(raw[0])), [], {}
    for data in raw[1:]:
        block = Block.parse(data)
        for tx in block.txs[1:]:
            for i, txin in enumerate(tx.inputs):
                spent = ledger.utxo(txin.outpoint)
                key = parsed.setdefault(txin.public_key, PublicKey(txin.public_key))
                work.append((key, tx.sighash(i, spent), txin.signature))
        ledger.apply_block(block)
    started = time.perf_counter()
    for key, digest, signature in work:
        if not key.verify(digest, signature):
            raise AssertionError("a valid signature failed")
    return time.perf_counter() - started


def bench_validate(repeat: int) -> None:
    raw = one_payment_blocks(1000)
    in_use = keys.VERIFIER
    verifiers = [PYTHON_ECDSA, LIBSECP256K1] if secp.INSTALLED else [PYTHON_ECDSA]
    bare = {v: best_of(repeat, lambda v=v: time_bare_verify(v, raw)) for v in verifiers}
    keys.VERIFIER = in_use
    apply = best_of(repeat, lambda: time_apply(raw))
    parse_apply = best_of(repeat, lambda: time_parse_and_apply(raw))
    print(f"1. validate and apply 1,000 one-payment blocks (verifier in use: {in_use})")
    for v in verifiers:
        print(f"   bare verify, {v:13s}  {bare[v] * 1e3:8.1f} ms")
    print(f"   apply_block                  {apply * 1e3:8.1f} ms")
    print(f"   parse + apply_block          {parse_apply * 1e3:8.1f} ms")
    print(f"   apply / bare {PYTHON_ECDSA:13s}   {apply / bare[PYTHON_ECDSA]:8.3f}   (goal: 0.35 or less)")
    print(f"   parse+apply / bare {PYTHON_ECDSA}  {parse_apply / bare[PYTHON_ECDSA]:6.3f}")
    print(f"   apply / bare {in_use:13s}   {apply / bare[in_use]:8.3f}  (the ledger around its checks)")


# --- 2. the signature cache ----------------------------------------------------------

def many_payments(count: int) -> tuple[Block, Block, list[Tx]]:
    """Genesis, a block fanning coins out to 50 wallets, and ``count`` signed payments."""
    alice = Wallet(PrivateKey.from_seed("alice"))
    wallets = [Wallet(PrivateKey.from_seed(f"payer {k}")) for k in range(50)]
    genesis = make_genesis(alice.address, count, T0)
    ledger = Ledger(genesis)
    coins = ledger.unspent_for(alice.address)
    fan_out = alice.sign(Tx([TxIn(op) for op, _ in coins],
                            [TxOut(1, wallets[i % 50].address) for i in range(count)]),
                         [out for _, out in coins])
    funding = ledger.seal_block([fan_out], alice.address, T0 + 1)
    payee = PrivateKey.from_seed("payee").address
    payments = [wallets[i % 50].sign(Tx([TxIn(OutPoint(fan_out.txid, i))], [TxOut(1, payee)]), [out])
                for i, out in enumerate(fan_out.outputs)]
    return genesis, funding, payments


def time_block(genesis: Block, funding: Block, payments: list[Tx], warm: bool) -> float:
    ledger = Ledger(genesis, sigcache=SigCache())
    ledger.apply_block(funding)
    if warm:  # the payments arrived one by one first, as gossip brings them
        pool = Mempool(max_size=len(payments))
        for tx in payments:
            pool.add(Tx.parse(tx.serialize()), ledger)
    coinbase = make_coinbase(2, genesis.txs[0].outputs[0].address, params.BLOCK_REWARD)
    block = Block.parse(make_block(ledger.tip_hash, [coinbase, *payments], T0 + 2).serialize())
    started = time.perf_counter()
    ledger.apply_block(block)
    return time.perf_counter() - started


def bench_sigcache(repeat: int) -> None:
    genesis, funding, payments = many_payments(1000)
    cold = best_of(repeat, lambda: time_block(genesis, funding, payments, warm=False))
    warm = best_of(repeat, lambda: time_block(genesis, funding, payments, warm=True))
    print(f"\n2. a block of 1,000 payments (verifier in use: {keys.VERIFIER})")
    print(f"   applied cold                 {cold * 1e3:8.1f} ms")
    print(f"   applied after the mempool    {warm * 1e3:8.1f} ms")
    print(f"   after the mempool / cold     {warm / cold:8.3f}   (goal: 0.6 or less)")


# --- 3. gossip -------------------------------------------------------------------------

def gossip_seconds(size: int, runtime: Runtime, rounds: int) -> float:
    """Median seconds from submitting a payment to one node until every mempool holds it."""
    names = [f"n{i:03}" for i in range(size)]
    rng = random.Random(17)
    with Network(names, wallet_names=(), runtime=runtime, services=[Relay, BlockSync],
                 miner_address=MINER.address, discover=False) as net:
        net.start_all()
        for i, name in enumerate(names):  # a ring, so it is connected, and 3 random links more
            others = {names[(i + 1) % size]} | set(rng.sample(names, min(3, size - 1)))
            for other in sorted(others - {name}):
                net.connect(name, other, wait=False)
        net.wait_connected(timeout=300)
        origin = net[names[0]]
        grow(origin, rounds + 1)  # coins for the payments below
        net.wait_until(lambda: all(net[n].height == origin.height for n in names), 300, "synced")
        for name in names:  # every announcement of those blocks handled, so none is timed below
            net[name].sync_with_ping()
        times = []
        for coin in origin.ledger.unspent_for(MINER.address)[:rounds]:
            tx = Wallet(MINER).make_payment([coin], PAYEES[0], 1)
            started = time.perf_counter()
            origin.submit_tx(tx)
            net.wait_until(lambda tx=tx: all(tx.txid in net[n].mempool for n in names), 60, "gossip")
            times.append(time.perf_counter() - started)
        return statistics.median(times)


def bench_gossip(size: int, runtime: Runtime) -> None:
    hop = gossip_seconds(2, runtime, rounds=9)
    spread = gossip_seconds(size, runtime, rounds=9)
    print("\n3. gossip (medians of 9 payments)")
    print(f"   one hop, 2 nodes             {hop * 1e3:8.1f} ms")
    print(f"   every node of {size}, degree ~8 {spread * 1e3:6.1f} ms   (goal: 150 ms or less)")
    print(f"   {size} nodes / one hop         {spread / hop:8.1f} hops' worth (was about 108)")


# --- 4. ping ---------------------------------------------------------------------------

def interleaved_medians(round_trips: dict[str, Callable[[], object]], n: int = 2000) -> dict[str, float]:
    """Median seconds of each round trip, their samples taken in turn, so that a busy
    moment of the machine falls on all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in round_trips}
    for _ in range(n):
        for name, round_trip in round_trips.items():
            started = time.perf_counter()
            round_trip()
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def echo_thread() -> tuple[Callable[[], None], Callable[[], None]]:
    """A raw TCP round trip to an echo thread of this process: (once, close)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
    for sock in (client, peer):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def echo() -> None:
        while data := peer.recv(8):
            peer.sendall(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()

    def once() -> None:
        client.sendall(b"ping1234")
        client.recv(8)

    def close() -> None:
        client.close()
        thread.join(5)
        peer.close()

    return once, close


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


class _Asker(asyncio.Protocol):
    waiter: concurrent.futures.Future | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is not None:
            waiter, self.waiter = self.waiter, None
            waiter.set_result(None)


def asyncio_floor(runtime: Runtime) -> tuple[Callable[[], None], Callable[[], None]]:
    """The least any facade over an event-loop thread can do for a round trip: hand a write to
    the loop, echo it back by another endpoint on that loop, hand the answer back; no frames,
    no parsing, no events. (once, close)"""
    loop = runtime.loop

    async def open_pair() -> tuple[asyncio.Server, _Asker]:
        server = await loop.create_server(_Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, asker = await loop.create_connection(_Asker, "127.0.0.1", port)
        return server, asker

    server, asker = runtime.run(open_pair())

    def once() -> None:
        answered: concurrent.futures.Future = concurrent.futures.Future()

        def ask() -> None:
            asker.waiter = answered
            asker.transport.write(b"ping1234")  # type: ignore[attr-defined]

        loop.call_soon_threadsafe(ask)
        answered.result(5)

    def close() -> None:
        runtime.call(asker.transport.close)
        runtime.call(server.close)

    return once, close


def bench_ping(runtime: Runtime) -> None:
    raw, close_raw = echo_thread()
    floor, close_floor = asyncio_floor(runtime)
    a, b = Node("A", runtime=runtime), Node("B", runtime=runtime)
    a.start()
    b.start()
    b.connect(a)
    medians = interleaved_medians({"raw": raw, "call": lambda: runtime.call(lambda: None),
                                   "floor": floor, "ping": lambda: a.ping("B")})
    a.stop()
    b.stop()
    close_raw()
    close_floor()
    raw_s, call_s, floor_s, ping_s = medians["raw"], medians["call"], medians["floor"], medians["ping"]
    print("\n4. ping round trip (medians of 2,000, the four sampled in turn)")
    print(f"   raw TCP, echo thread         {raw_s * 1e6:8.1f} µs")
    print(f"   runtime.call, doing nothing  {call_s * 1e6:8.1f} µs   (the facade's hand-off alone)")
    print(f"   bare asyncio round trip      {floor_s * 1e6:8.1f} µs   (hand-off, echo on the loop, back)")
    print(f"   node.ping through the facade {ping_s * 1e6:8.1f} µs")
    print(f"   bare asyncio / raw echo      {floor_s / raw_s:8.1f}   (the floor of any loop-thread facade)")
    print(f"   facade / raw echo thread     {ping_s / raw_s:8.1f}   (goal: 3 or less)")
    print(f"   facade / bare asyncio        {ping_s / floor_s:8.1f}   (what frames, checks and events add)")


# --- 5. stop -------------------------------------------------------------------------

def bench_stop(runtime: Runtime, runs: int, size: int) -> None:
    closes, left, incomplete = [], 0, 0
    for _ in range(runs):
        names = [f"n{i:02}" for i in range(size)]
        net = Network(names, wallet_names=(), runtime=runtime)  # discover=True, as by default
        net.start_all()
        for name in names[1:]:
            net.connect(name, names[0], wait=False)
        net.wait_until(lambda net=net, names=names: all(len(net[n].peers) >= 3 for n in names), 120,
                       "every node has found peers")
        nodes = [net[name] for name in names]
        started = time.perf_counter()
        net.close()
        closes.append(time.perf_counter() - started)
        left += runtime.call(lambda nodes=nodes: sum(bool(n.connections() or n.tasks()) for n in nodes))
        incomplete += sum(e.kind == "stop incomplete" for e in net.events())
    print(f"\n5. closing a network of {size} discovering nodes, {runs} times")
    print(f"   slowest close                {max(closes) * 1e3:8.1f} ms   (goal: under 500 ms)")
    print(f"   median close                 {statistics.median(closes) * 1e3:8.1f} ms")
    print(f"   nodes left with a connection or a task: {left}; stops incomplete: {incomplete}")


# --- 6. memory -----------------------------------------------------------------------

def fill_log(node: Node, peer: str, count: int) -> None:
    """Events of the kinds a busy node records: small messages sent and received, and text."""
    for k in range(count):
        r, nonce = k % 6, 10**12 + k
        if r == 0:
            node.record("send", peer, Ping(nonce), command="ping", direction="out")
        elif r == 1:
            node.record("receive", peer, Pong(nonce), command="pong", direction="in")
        elif r == 2:
            node.record("send", peer, Inv((InvItem(MSG_TX, os.urandom(32)),)), command="inv", direction="out")
        elif r == 3:
            node.record("receive", peer, GetData((InvItem(MSG_TX, os.urandom(32)),)), command="getdata",
                        direction="in")
        elif r == 4:
            node.record("tx accepted", peer, f"{os.urandom(6).hex()}… into the mempool ({k % 50} waiting)")
        else:
            node.record("block applied", peer, f"height {k} of {k}, block {os.urandom(6).hex()}…")


def bench_memory(size: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 8 * size + 1000))  # a listening socket and two connections a node
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    runtime = Runtime("bench-memory")
    runtime.call(lambda: None)
    Node("warm-up", runtime=runtime)  # import and initialise everything once
    names = [f"n{i:04}" for i in range(size)]
    gc.collect()
    rss_before = resident_kib()
    tracemalloc.start()
    net = Network(names, wallet_names=(), runtime=runtime, discover=False)
    net.start_all()
    for i, name in enumerate(names):
        net.connect(name, names[(i + 1) % size], wait=False)
    net.wait_until(lambda: all(len(net[n].peers) == 2 for n in names), 600, "the ring is up")
    gc.collect()
    running = tracemalloc.get_traced_memory()[0]
    per_event = params.MAX_EVENT_BYTES // 200  # more than enough to fill any log
    runtime.call(lambda: [fill_log(net[n], names[(i + 1) % size], per_event) for i, n in enumerate(names)],
                 timeout=1200)
    gc.collect()
    full = tracemalloc.get_traced_memory()[0]
    tracing_kib = tracemalloc.get_tracemalloc_memory() / 1024  # tracemalloc's own records
    rss_after = resident_kib()
    tracemalloc.stop()
    kept = len(net[names[0]].events)
    net.close()
    runtime.close()
    print(f"\n6. memory of {size} nodes in a ring (Python allocations, tracemalloc)")
    print(f"   per node, running            {running / size / 1024:8.1f} KiB")
    print(f"   per node, event log full     {full / size / 1024:8.1f} KiB   (goal: under 300 KiB; "
          f"{kept} events kept of MAX_EVENT_BYTES {params.MAX_EVENT_BYTES // 1024} KiB)")
    if rss_before is not None and rss_after is not None:
        rss = (rss_after - rss_before - tracing_kib) / size
        print(f"   resident memory per node     {rss:8.1f} KiB   "
              "(growth of the process, less tracemalloc's own records)")


def resident_kib() -> int | None:
    """Resident memory of this process in KiB (Linux only)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller networks and fewer runs")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}; verifier {keys.VERIFIER}")
    bench_validate(args.repeat)
    bench_sigcache(args.repeat)
    runtime = Runtime("bench-speed")
    runtime.call(lambda: None)
    bench_gossip(50 if args.quick else 200, runtime)
    bench_ping(runtime)
    bench_stop(runtime, 5 if args.quick else 20, 50)
    runtime.close()
    bench_memory(200 if args.quick else 1000)


if __name__ == "__main__":
    main()
