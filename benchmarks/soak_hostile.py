"""Soak a node process in every kind of hostile traffic at once, and watch an honest wallet.

Starts a node as its own process (toycoin.process.NodeProcess) with a data
directory, sealing its mempool every second; an honest wallet pays a coin now
and then so the chain grows. The ledger digest is taken, then every hostile
class below runs in a thread of its own, each over its own connections, for
``--seconds`` (three minutes by default), while the honest wallet asks its
balance in a loop. At the end it prints the messages sent per class, the
node's peak resident memory (VmHWM, Linux), the longest wait of the honest
wallet, the digest of the blocks that existed before the attack, before and
after (the chain may grow meanwhile; its old blocks must not change), how
many "socket.send() raised exception." lines the node wrote (of all its
lines, counted as they come: NodeProcess.log keeps only the last ones), and
whether the node is still alive.

    python benchmarks/soak_hostile.py --seconds 180

It is a script, not a test: it takes minutes and one core. The same attacks,
bounded in count and time, are the tests in tests/test_hostile_*.py.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import socket
import struct
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing import Queue

from toycoin import msg_control, params, wire
from toycoin.block import BlockHeader
from toycoin.client import WalletClient
from toycoin.errors import NodeError
from toycoin.keys import PrivateKey
from toycoin.msg_data import MSG_TX, GetHeaders, Headers, Inv, InvItem, TxMessage
from toycoin.node import course_genesis
from toycoin.peerman import PeerMan
from toycoin.process import NodeProcess
from toycoin.runtime import Runtime
from toycoin.tx import OutPoint, Tx, TxIn, TxOut

GENESIS = course_genesis()
ALICE, BOB = PrivateKey.from_seed("alice"), PrivateKey.from_seed("bob")
Address = tuple[str, int]


def frame(command: bytes, payload: bytes = b"", length: int | None = None,
          magic: bytes = params.NETWORK_MAGIC) -> bytes:
    length = len(payload) if length is None else length
    return magic + command.ljust(12, b"\0") + length.to_bytes(4, "little") + wire.checksum(payload) + payload


def version(name: str, nonce: int | None = None, services: int = params.NODE_NETWORK) -> bytes:
    nonce = random.getrandbits(64) if nonce is None else nonce
    return wire.encode_frame(msg_control.Version(name, nonce, 1, 0, services=services))


HELLO_COUNT = 2  # version and verack


def hello(name: str) -> bytes:
    return version(name) + wire.encode_frame(msg_control.Verack())


def fake_header(prev: bytes, timestamp: int, salt: int) -> BlockHeader:
    return BlockHeader(1, prev, salt.to_bytes(32, "little"), timestamp, params.BLOCK_BITS, salt)


# --- the hostile classes: each returns the frames (or raw sends) of one connection ----------------

def junk_frames() -> list[bytes]:
    return [hello("junk"), *(frame(b"junk", os.urandom(50)) for _ in range(150))]


def garbage_bytes() -> list[bytes]:
    return [os.urandom(200).replace(params.NETWORK_MAGIC, b"xxxx")]


def wrong_magic() -> list[bytes]:
    return [frame(b"version", os.urandom(40), magic=b"\xf9\xbe\xb4\xd9")]


def oversized_length() -> list[bytes]:
    return [frame(b"block", length=0xFFFF_FFFF)]


def block_before_handshake() -> list[bytes]:
    return [frame(b"block", os.urandom(params.MAX_BLOCK_SIZE))]


def messages_before_handshake() -> list[bytes]:
    return [frame(b"getutxos", os.urandom(40)) for _ in range(120)]


def unrequested_blocks() -> list[bytes]:
    junk_block = frame(b"block", os.urandom(80) + b"\xfe" + os.urandom(100_000))
    return [hello("pusher"), *([junk_block] * 110)]


def fake_headers() -> list[bytes]:
    # A header on top of genesis whose block is never served (the node asks, and drops us).
    header = fake_header(GENESIS.hash, GENESIS.header.timestamp + 600, random.getrandbits(32))
    return [hello("announcer"), wire.encode_frame(Headers((header,)))]


def header_chain(length: int) -> list[BlockHeader]:
    """``length`` free headers in a chain on top of genesis, 10 minutes apart."""
    chain, prev, timestamp, salt = [], GENESIS.hash, GENESIS.header.timestamp, random.getrandbits(32)
    for i in range(length):
        timestamp += 600
        chain.append(fake_header(prev, timestamp, salt + i))
        prev = chain[-1].hash
    return chain


def fork_header_flood() -> list[bytes]:
    return [hello("forker"), *(wire.encode_frame(Headers(tuple(header_chain(200)))) for _ in range(5))]


def headers_without_end() -> list[bytes]:
    # One chain from genesis, batch after batch, longer than a node keeps ahead of its blocks.
    batch = params.MAX_HEADERS_RESULTS
    chain = header_chain(params.MAX_HEADERS_AHEAD + 3 * batch)
    return [hello("runner"), *(wire.encode_frame(Headers(tuple(chain[i:i + batch])))
                               for i in range(0, len(chain), batch))]


def addr_flood() -> list[bytes]:
    dead = tuple(("127.0.0.1", random.randrange(1, 1024)) for _ in range(params.MAX_ADDR_TO_SEND))
    return [hello("gossip"), *(wire.encode_frame(msg_control.Addr(dead)) for _ in range(5))]


def inv_flood() -> list[bytes]:
    invs = (Inv(tuple(InvItem(MSG_TX, os.urandom(32)) for _ in range(params.MAX_INV_SZ))) for _ in range(10))
    return [hello("announcer"), *(wire.encode_frame(inv) for inv in invs)]


def unconnecting_headers() -> list[bytes]:
    stray = fake_header(os.urandom(32), GENESIS.header.timestamp + 600, 0)
    announcement = wire.encode_frame(Headers((stray,)))
    return [hello("stray"), *([announcement] * params.MAX_UNCONNECTING_HEADERS)]


def future_timestamp() -> list[bytes]:
    header = fake_header(GENESIS.hash, 2**32 - 1, random.getrandbits(32))
    return [hello("timetraveller"), wire.encode_frame(Headers((header,)))]


def sixty_four_byte_tx() -> list[bytes]:
    tx = Tx(inputs=[TxIn(OutPoint(os.urandom(32), 1), os.urandom(16), b"")], outputs=[])
    return [hello("grinder"), *(wire.encode_frame(TxMessage(tx)) for _ in range(20))]


def oversized_tx() -> list[bytes]:
    tx = Tx([TxIn(OutPoint(os.urandom(32), 0))], [TxOut(1, BOB.address)] * 4000)  # about 150 kB
    return [hello("whale"), *(wire.encode_frame(TxMessage(tx)) for _ in range(5))]


def pings_then_reset() -> list[bytes]:
    return [hello("vanisher"), wire.encode_frame(msg_control.Ping(7)) * 200]


CLASSES: dict[str, Callable[[], list[bytes]]] = {
    "junk frames": junk_frames,
    "garbage bytes": garbage_bytes,
    "wrong magic": wrong_magic,
    "oversized lengths": oversized_length,
    "blocks before the handshake": block_before_handshake,
    "messages before the handshake": messages_before_handshake,
    "unrequested blocks": unrequested_blocks,
    "fake headers": fake_headers,
    "fork header floods": fork_header_flood,
    "headers without end": headers_without_end,
    "addr floods": addr_flood,
    "inv floods": inv_flood,
    "unconnecting headers": unconnecting_headers,
    "future timestamps": future_timestamp,
    "64-byte transactions": sixty_four_byte_tx,
    "oversized transactions": oversized_tx,
    "pings, then a reset": pings_then_reset,
}


def frames_in(chunk: bytes) -> int:
    """How many frames one send holds (a send of bytes that are no frame counts as one)."""
    count, at = 0, 0
    while at + 24 <= len(chunk) and chunk[at:at + 4] == params.NETWORK_MAGIC:
        count += 1
        at += 24 + int.from_bytes(chunk[at + 16:at + 20], "little")
    return max(count, 1)


def run_class(name: str, make: Callable[[], list[bytes]], address: Address, stop: threading.Event,
              sent: Counter) -> None:
    """Open a connection, send one round of the class, drain a little, repeat until ``stop``."""
    while not stop.is_set():
        try:
            with socket.create_connection(address, timeout=5) as sock:
                sock.settimeout(2)
                for chunk in make():
                    sock.sendall(chunk)
                    sent[name] += frames_in(chunk)
                if name == "pings, then a reset":  # closed at once, with a reset, not a byte read
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    deadline = time.monotonic() + 1.0
                    while time.monotonic() < deadline and sock.recv(65536):
                        pass
        except OSError:
            pass  # disconnected, reset or timed out: that is the node defending itself
        stop.wait(0.05)


def nonce_squatting(address: Address, stop: threading.Event, sent: Counter) -> None:
    """Read the node's version nonce on one connection and send it back on another."""
    while not stop.is_set():
        try:
            with socket.create_connection(address, timeout=5) as first:
                first.sendall(hello("victim"))
                sent["nonce squatting"] += HELLO_COUNT
                first.settimeout(2)
                data = first.recv(4096)
                if len(data) < 24 + 20 or data[4:11] != b"version":
                    continue
                nonce = int.from_bytes(data[24 + 12:24 + 20], "little")
                with socket.create_connection(address, timeout=5) as second:
                    second.sendall(version("victim", nonce) + wire.encode_frame(msg_control.Verack()))
                    sent["nonce squatting"] += HELLO_COUNT
                    second.settimeout(1)
                    second.recv(4096)
        except OSError:
            pass
        stop.wait(0.2)


def idle_squatting(address: Address, stop: threading.Event, sent: Counter, slots: int) -> None:
    """Hold ``slots`` idle, handshaked sockets; reopen any the node closes (eviction, timeouts)."""
    held: list[socket.socket] = []
    while not stop.is_set():
        alive = []
        for sock in held:
            try:
                while sock.recv(65536):
                    pass
                sock.close()  # the node closed it
            except BlockingIOError:
                alive.append(sock)
            except OSError:
                sock.close()
        held = alive
        while len(held) < slots and not stop.is_set():
            try:
                sock = socket.create_connection(address, timeout=5)
                sock.sendall(hello(f"squatter{len(held)}"))
                sock.setblocking(False)
                held.append(sock)
                sent["idle slot squatting"] += HELLO_COUNT
            except OSError:
                break
        stop.wait(0.5)
    for sock in held:
        sock.close()


# --- the honest side -------------------------------------------------------------------------

def chain_hashes(runtime: Runtime, address: Address) -> list[bytes]:
    """The node's chain as block hashes, asked over the wire with getheaders, as a light wallet does."""
    peer = PeerMan("digest", listen=False, service_flags=0, learn_addresses=False, runtime=runtime)
    peer.answers.add(Headers)
    peer.timeout = 10.0

    async def work() -> list[bytes]:
        hashes = [GENESIS.hash]
        async with peer.session(address, "node") as conn:
            while True:
                reply = await peer.ask(conn, GetHeaders((hashes[-1],)), (Headers,))
                hashes += [h.hash for h in reply.headers]
                if len(reply.headers) < params.MAX_HEADERS_RESULTS:
                    return hashes

    return runtime.run(work(), 30.0)


def digest(hashes: list[bytes]) -> str:
    return hashlib.sha256(b"".join(hashes)).hexdigest()[:16]


def honest_wallet(address: Address, runtime: Runtime, stop: threading.Event, waits: list[float],
                  failures: list[str]) -> None:
    """Ask the balance in a loop (and pay Bob a coin every fifth time). A wait is the time until
    the answer comes, asking again at once after a failure (each failure is noted too)."""
    wallet = WalletClient(ALICE, address, runtime=runtime, name="honest", timeout=10.0)
    turn = 0
    while not stop.is_set():
        started = time.monotonic()
        while not stop.is_set():
            try:
                wallet.balance()
                break
            except (NodeError, OSError) as error:
                failures.append(str(error))
        waits.append(time.monotonic() - started)
        if turn % 5 == 4:
            try:
                wallet.pay(BOB.address, 1)
            except (NodeError, OSError) as error:
                failures.append(str(error))
        turn += 1
        stop.wait(0.2)


def peak_memory_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return float("nan")


def attack(address: Address, seconds: float, squatters: int, results: Queue) -> None:
    """Every hostile class at once, one thread each, for ``seconds``; put the counts in ``results``."""
    stop, sent = threading.Event(), Counter()
    threads = [threading.Thread(target=run_class, args=(name, make, address, stop, sent))
               for name, make in CLASSES.items()]
    threads.append(threading.Thread(target=nonce_squatting, args=(address, stop, sent)))
    threads.append(threading.Thread(target=idle_squatting, args=(address, stop, sent, squatters)))
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join(30)
    results.put(dict(sent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="how long the attack lasts")
    parser.add_argument("--squatters", type=int, default=params.MAX_CONNECTIONS,
                        help="idle sockets the squatter tries to hold")
    args = parser.parse_args()
    runtime = Runtime("soak")
    with tempfile.TemporaryDirectory() as data_dir:
        node = NodeProcess("victim", data_dir=data_dir, seal_every=1.0, runtime=runtime)
        lines, noise = [0], [0]  # node.log keeps only its last lines: count them all as they come

        def line(text: str) -> None:
            lines[0] += 1
            noise[0] += "socket.send() raised exception" in text

        node.on_line = line
        node.start()
        assert node.pid is not None
        try:
            wallet = WalletClient(ALICE, node.address, runtime=runtime, name="setup")
            for _ in range(3):
                wallet.pay(BOB.address, 1)
                time.sleep(1.2)
            before = chain_hashes(runtime, node.address)
            print(f"node pid {node.pid}, height {len(before) - 1} before the attack, "
                  f"ledger digest {digest(before)}")
            stop = threading.Event()
            waits: list[float] = []
            failures: list[str] = []
            # The attackers in a process of their own, so they do not slow the honest wallet down.
            context = multiprocessing.get_context("spawn")
            results = context.Queue()
            attackers = context.Process(target=attack,
                                        args=(node.address, args.seconds, args.squatters, results))
            wallet_thread = threading.Thread(target=honest_wallet,
                                             args=(node.address, runtime, stop, waits, failures))
            started = time.monotonic()
            attackers.start()
            wallet_thread.start()
            sent = Counter(results.get(timeout=args.seconds + 120))
            attackers.join(30)
            stop.set()
            wallet_thread.join(30)
            elapsed = time.monotonic() - started
            alive = node.is_running
            after = chain_hashes(runtime, node.address) if alive else []
            print(f"\n{elapsed:.0f} s of attack from {len(CLASSES) + 2} threads at once, each over "
                  "connections of its own\n")
            print(f"{'hostile class':32} {'messages sent':>14}")
            for name in [*CLASSES, "nonce squatting", "idle slot squatting"]:
                print(f"{name:32} {sent[name]:>14,}")
            print(f"{'total':32} {sum(sent.values()):>14,}\n")
            print(f"node alive:                   {alive}")
            print(f"node peak resident memory:    {peak_memory_mb(node.pid):.1f} MB (VmHWM)")
            median = sorted(waits)[len(waits) // 2] if waits else 0.0
            longest = max(waits, default=0.0)
            print(f"honest wallet: {len(waits)} balances answered, longest wait {longest:.2f} s, "
                  f"median {median:.3f} s; {len(failures)} calls failed (a balance is asked again at once)")
            for failure in sorted(set(failures))[:5]:
                print(f"  failure: {failure}")
            old = after[:len(before)]
            print(f"ledger digest before:         {digest(before)} (height {len(before) - 1})")
            print(f"same blocks after:            {digest(old)} "
                  f"({'unchanged' if old == before else 'CHANGED'}; height now {len(after) - 1})")
            print(f"'socket.send() raised exception.' lines on the node's stderr: {noise[0]} "
                  f"(of {lines[0]:,} lines)")
        finally:
            node.stop()
            runtime.close()


if __name__ == "__main__":
    main()
