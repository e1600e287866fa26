"""Process: a node as its own operating-system process, which can be killed for real.

A node inside the notebook's process dies only as far as Python lets it. A
node in a process of its own dies the way a server does: ``kill -9`` and its
sockets are gone, its memory with them. ``NodeProcess`` starts one with the
command line of toycoin.cli (``python -m toycoin node ...``), waits for its
``listening HOST PORT`` line, and stops, kills or restarts it:

    NodeProcess        start, stop, kill and restart such a process from Python
      .start(), .stop(), .kill(), .restart(), .address, .pid, .is_running, .returncode
      .log             the lines the process wrote on stderr (the last MAX_EVENTS of them)
      .on_line         None, or called with every stderr line (on the thread that reads them)
      .snapshot(names, peer_names)    asked over the wire, like a wallet would

Without ``data_dir`` the ledger lives in the process's memory, so a restarted
process starts again from the genesis block; with it the process resumes from
its last stored block (toycoin.store). ``networks`` (CIDR text) become
``--network`` flags: where the process may dial (default: loopback).
"""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network
from pathlib import Path
from typing import IO

from toycoin import params
from toycoin.addrman import Address, format_address, parse_networks
from toycoin.cli import READY_PREFIX
from toycoin.client import WalletClient
from toycoin.errors import NodeError
from toycoin.events import NodeSnapshot
from toycoin.keys import PrivateKey
from toycoin.connman import check_name
from toycoin.runtime import Runtime


class NodeProcess:
    """A node running as ``python -m toycoin node ...`` in a child process."""

    is_process = True

    def __init__(self, name: str = "node", host: str = "127.0.0.1", port: int = 0,
                 peers: Sequence[Address] = (), startup_timeout: float = 15.0,
                 runtime: Runtime | None = None, sync: bool = False,
                 data_dir: str | Path | None = None, seal_every: float | None = None,
                 pow: bool = False, mine: bool = False, hashrate: float | None = None,
                 networks: Sequence[str | IPv4Network] | str = ()) -> None:
        self.name = check_name(name)
        self.host, self._port = host, port
        self.peers_to_dial = list(peers)
        self.startup_timeout = startup_timeout
        self.sync = sync or data_dir is not None
        self.data_dir = data_dir
        self.pow, self.mine, self.hashrate = pow or mine, mine, hashrate  # the proof-of-work network
        self.seal_every = seal_every  # seconds between blocks sealed from its mempool (--seal-every)
        # Where it may dial (--network), checked here as Node checks its own; none: its default.
        self.networks = [str(n) for n in parse_networks(networks, host)] if networks else []
        self.runtime = runtime  # for snapshot(), which asks the node over TCP
        self._proc: subprocess.Popen | None = None
        self._log: deque[str] = deque(maxlen=params.MAX_EVENTS)
        self._log_reader: threading.Thread | None = None
        self.on_line: Callable[[str], None] | None = None  # sees every line; .log keeps the last

    def _line(self, line: str) -> None:
        self._log.append(line)
        if self.on_line is not None:
            self.on_line(line)

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
        if self.pow:
            command.append("--pow")
        if self.mine:
            command.append("--mine")
        if self.hashrate is not None:
            command += ["--hashrate", str(self.hashrate)]
        if self.seal_every is not None:
            command += ["--seal-every", f"{self.seal_every:g}"]
        for network in self.networks:
            command += ["--network", network]
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
        self._log_reader = threading.Thread(target=_read_lines, args=(self._proc.stderr, self._line),
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


def _read_lines(pipe: IO[bytes], take: Callable[[str], None]) -> None:
    """Hand each line of ``pipe`` to ``take`` until the writer is gone, then close it."""
    with pipe:
        for raw in pipe:
            take(raw.decode(errors="replace").rstrip("\n"))
