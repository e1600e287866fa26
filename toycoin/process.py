"""Process: a node as its own operating-system process, which can be killed for real.

A node inside the notebook's process dies only as far as Python lets it. A
node in a process of its own dies the way a server does: ``kill -9`` and its
sockets are gone, its memory with them. This module starts such nodes and
runs them:

    python -m toycoin node --name A --port 0 --peer 127.0.0.1:8333 [--sync] [--data-dir DIR]

prints one line on stdout once it listens, ``listening 127.0.0.1 43121``,
then runs until SIGTERM or Ctrl-C (a clean stop), or SIGKILL (no goodbye).
While it runs it writes one line on stderr for each connection made, lost
or failed (``A: connected to B (outbound full node)``); a peer that cannot be
reached is reported once, not at every retry. A bad argument or a port in
use is one line on stderr and exit code 2.

    main(argv)         the command line (toycoin/__main__.py calls it)
    run_node(...)      start a node in this process and serve until told to stop
    ConnectionLog      turns a node's connection events into those stderr lines
    NodeProcess        start, stop, kill and restart such a process from Python
      .start(), .stop(), .kill(), .restart(), .address, .pid, .is_running, .returncode
      .log             the lines the process wrote on stderr
      .snapshot(names, peer_names)    asked over the wire, like a wallet would

With ``--data-dir DIR`` the node keeps its ledger in DIR (toycoin.store), so a
process killed with SIGKILL and started again resumes from its last block and
syncs only what it missed; without it the ledger lives in memory and a
restarted process starts again from the genesis block.

Simplifications: it cannot be told to connect elsewhere once started: other
nodes connect to it, or it is given its peers with --peer. Peers are IPv4
addresses, never host names, because an addr message carries IPv4 only
(Bitcoin Core also resolves names, and its addr messages carry IPv6 too).
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import IO
from pathlib import Path
from typing import NoReturn

from toycoin import params
from toycoin.addrman import Address, format_address, is_ipv4
from toycoin.client import WalletClient
from toycoin.errors import NodeError
from toycoin.events import Event, NodeSnapshot
from toycoin.keys import PrivateKey
from toycoin.node import Node, check_name
from toycoin.runtime import Runtime

READY_PREFIX = "listening"
PROG = "python -m toycoin"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_address(text: str) -> Address:
    """'127.0.0.1:8333' -> ('127.0.0.1', 8333); argparse shows the error text."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"bad address {text!r}: expected host:port, e.g. 127.0.0.1:8333")
    if not is_ipv4(host):
        raise argparse.ArgumentTypeError(f"bad address {text!r}: {host} is not an IPv4 address "
                                         "(host names are not looked up), e.g. 127.0.0.1:8333")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="toycoin from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    node = commands.add_parser("node", help="run a full node until SIGTERM or Ctrl-C",
                               description="Run a toycoin full node. Prints 'listening HOST PORT' "
                                           "on stdout once it accepts connections, then one line "
                                           "on stderr for each connection made, lost or failed.")
    node.add_argument("--name", default="node", help="name sent to peers (default: node)")
    node.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default: 127.0.0.1; another only for a classroom LAN)")
    node.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, any free port)")
    node.add_argument("--peer", type=parse_address, action="append", default=[], metavar="HOST:PORT",
                      help="a node to connect to and keep connected to (repeatable); HOST is an "
                           "IPv4 address, not a name, as in toycoin's addr messages")
    node.add_argument("--sync", action="store_true",
                      help="gossip payments and sync blocks with peers (chapter 07); off: chapters 03-05")
    node.add_argument("--data-dir", metavar="DIR", default=None,
                      help="keep the ledger in DIR (sqlite3) and resume from it on restart; implies --sync")
    node.add_argument("--stop-on-eof", action="store_true",
                      help="also stop cleanly when stdin closes (used by NodeProcess)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_name(args.name)
        if not 0 <= args.port < 65536:
            raise ValueError(f"port {args.port} is not in 0..65535")
    except ValueError as error:
        return _fail(error)
    return run_node(args.name, args.host, args.port, args.peer, args.stop_on_eof,
                    sync=args.sync or args.data_dir is not None, data_dir=args.data_dir)


def run_node(name: str, host: str, port: int, peers: Sequence[Address], stop_on_eof: bool = False,
             sync: bool = False, data_dir: str | None = None) -> int:
    """Run one node in this process until a signal (or stdin's end) says stop."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if stop_on_eof:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    runtime = Runtime(f"toycoin-node-{name}")
    try:
        node = Node(name, host=host, port=port, runtime=runtime, sync=sync, data_dir=data_dir)
        node.subscribe(ConnectionLog(lambda line: print(line, file=sys.stderr, flush=True)))
        node.start()
    except NodeError as error:
        return _fail(error)
    for peer in peers:
        node.connect(peer, wait=False)
    print(f"{READY_PREFIX} {node.address[0]} {node.address[1]}", flush=True)
    stop.wait()
    node.stop()
    runtime.close()
    return 0


def _fail(error: Exception) -> int:
    """The same prefix as argparse's own errors; exit code 2."""
    print(f"{PROG} node: error: {error}", file=sys.stderr)
    return 2


class ConnectionLog:
    """Turns a node's events into one readable line per connection made, lost or failed.

    Subscribe it to a node (``node.subscribe(ConnectionLog(write))``); it
    calls ``write(line)`` on the network thread. Failures are said once per
    address, not at every retry: the node itself records one failed dial per
    address until a dial succeeds (toycoin.addrman), and this log says once
    that a dialled address closed the connection before any handshake, as a
    port where some other program listens does.
    """

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self._connected: Counter[str] = Counter()  # handshaked connections, by peer name
        self._dialled: set[str] = set()  # addresses this node opened a connection to
        self._refusing: set[str] = set()  # dialled addresses that closed before the handshake

    def __call__(self, event: Event) -> None:
        line = self.line(event)
        if line is not None:
            self.write(line)

    def line(self, event: Event) -> str | None:
        """The line to show for ``event``, or None for one to keep quiet about."""
        me, peer, detail = event.node, event.peer or "", event.detail
        if event.kind == "connected":
            self._connected[peer] += 1
            self._refusing.discard(peer)
            return f"{me}: connected to {peer} ({detail})"
        if event.kind == "connect failed":
            self._refusing.discard(peer)
            return f"{me}: cannot connect to {peer}: {detail}"
        if event.kind == "connected to itself":
            return f"{me}: connected to itself ({detail}); that address will not be dialled again"
        if event.kind == "opened" and detail == "outbound":
            self._dialled.add(peer)
        if event.kind != "disconnected":
            return None
        if self._connected[peer] > 0:
            self._connected[peer] -= 1
            return f"{me}: disconnected from {peer} ({detail})"
        # A peer that sent no version keeps the address as its label (toycoin.connman).
        if peer in self._dialled and peer not in self._refusing and detail != "node stopped":
            self._refusing.add(peer)
            return f"{me}: {peer} closed the connection before the handshake ({detail}); " \
                   "is a toycoin node listening there? retrying with backoff"
        return None


class NodeProcess:
    """A node running as ``python -m toycoin node ...`` in a child process."""

    is_process = True

    def __init__(self, name: str = "node", host: str = "127.0.0.1", port: int = 0,
                 peers: Sequence[Address] = (), startup_timeout: float = 15.0,
                 runtime: Runtime | None = None, sync: bool = False,
                 data_dir: str | Path | None = None) -> None:
        self.name = check_name(name)
        self.host, self._port = host, port
        self.peers_to_dial = list(peers)
        self.startup_timeout = startup_timeout
        self.sync = sync or data_dir is not None
        self.data_dir = data_dir
        self.runtime = runtime  # for snapshot(), which asks the node over TCP
        self._proc: subprocess.Popen | None = None
        self._log: deque[str] = deque(maxlen=params.MAX_EVENTS)
        self._log_reader: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"NodeProcess({self.name!r}, {'running' if self.is_running else 'stopped'})"

    def _command(self) -> list[str]:
        command = [sys.executable, "-m", "toycoin", "node", "--name", self.name, "--host", self.host,
                   "--port", str(self._port), "--stop-on-eof"]
        for peer in self.peers_to_dial:
            command += ["--peer", format_address(peer)]
        if self.sync:
            command.append("--sync")
        if self.data_dir is not None:
            command += ["--data-dir", str(self.data_dir)]
        return command

    def start(self) -> None:
        """Spawn the process and wait until it listens; NodeError with its own words if it fails."""
        if self.is_running:
            return
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parent.parent)  # so the child imports this toycoin
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(self._command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=env)
        # Read stderr for as long as the process lives: a full pipe nobody reads would
        # block the child at its next line, with its network thread inside print().
        self._log = deque(maxlen=params.MAX_EVENTS)
        self._log_reader = threading.Thread(target=_read_lines, args=(self._proc.stderr, self._log),
                                            daemon=True)
        self._log_reader.start()
        line = self._read_ready_line()
        parts = line.split()
        if len(parts) != 3 or parts[0] != READY_PREFIX:
            self._reap(5.0)
            error = "\n".join(self._log).strip()
            self._proc = None
            raise NodeError(f"node process {self.name} did not start: {error or line or 'no output'}")
        self._port = int(parts[2])

    def _read_ready_line(self) -> str:
        """The first stdout line, read with a deadline (a pipe read alone could wait for ever).

        A helper thread reads, because select() does not work on pipes on Windows.
        """
        assert self._proc is not None and self._proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self._proc.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            return lines.get(timeout=self.startup_timeout).decode(errors="replace").strip()
        except queue.Empty:
            self.kill()
            raise NodeError(f"node process {self.name} did not listen "
                            f"within {self.startup_timeout:g}s") from None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once the process ended (negative: killed by that signal)."""
        return self._proc.poll() if self._proc else None

    @property
    def log(self) -> list[str]:
        """What the process wrote on stderr since it last started, oldest first (ports and all)."""
        return list(self._log)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def address(self) -> Address:
        if self._port == 0:
            raise NodeError(f"node process {self.name} has no port yet: start it first")
        return (self.host, self._port)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the node to stop cleanly (stdin closed, then SIGTERM); kill it if it will not."""
        if not self.is_running:
            return
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout / 2)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
        self._reap(timeout / 2)

    def kill(self) -> None:
        """SIGKILL (TerminateProcess on Windows): no goodbye, sockets closed by the OS."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._reap(10.0)

    def restart(self) -> None:
        """Stop if running, then start again on the same port (with a fresh ledger)."""
        self.stop()
        self.start()

    def _reap(self, timeout: float) -> None:
        if self._proc is None:
            return
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._log_reader is not None:
            self._log_reader.join(5.0)  # it closes stderr at the end of the output
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                pipe.close()

    def snapshot(self, names: dict[str, str] | None = None,
                 peer_names: dict[Address, str] | None = None) -> NodeSnapshot:
        """Ask the running process over TCP; height -1 and nothing else when it is down."""
        names, peer_names = names or {}, peer_names or {}
        if not self.is_running:
            return NodeSnapshot(self.name, False, -1, "", (), (), is_process=True)
        probe = WalletClient(PrivateKey.from_seed("snapshot probe"), self.address, self.runtime, name="probe")
        try:
            report = probe.probe(list(names))
        except NodeError:
            return NodeSnapshot(self.name, False, -1, "", (), (), is_process=True)
        balances = tuple(sorted((names[a], amount) for a, amount in report.balances))
        peers = tuple(sorted(peer_names.get(a, format_address(a)) for a in report.peers))
        return NodeSnapshot(self.name, True, report.height, report.tip_hex, balances, peers, True)


def _read_lines(pipe: IO[bytes], lines: deque[str]) -> None:
    """Append each line of ``pipe`` to ``lines`` until the writer is gone, then close it."""
    with pipe:
        for raw in pipe:
            lines.append(raw.decode(errors="replace").rstrip("\n"))
