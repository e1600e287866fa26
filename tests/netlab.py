"""A classroom LAN on one machine: Linux network namespaces on bridges, one namespace per laptop.

Each laptop is a network namespace with one veth cable to a switch (a Linux
bridge in the root namespace) and its own address on 10.77.0.0/24; two
switches can be joined by a cable of their own (an uplink), which a test takes
down to cut the room in two. Programs run in a laptop with ``ip netns exec``;
the test itself can look at the room from inside a laptop through a Runtime
whose network thread has entered that namespace (``observer``).

    why_not()                  None if namespaces can be made here, else the reason (skip with it)
    Lan(subnet)                the room; every name carries this process's pid, so runs never collide
      .switch(name)            a bridge
      .laptop(n, switch)       namespace n with address SUBNET.n/24 on ``switch``
      .uplink(a, b)            a cable between two switches; .cable_up(name, up) plugs or pulls it
      .start(laptop, argv, log)   a program in the laptop (``python -m toycoin ...``): LanProcess
      .observer(laptop)        a toycoin Runtime whose sockets live in that laptop
      .close()                 every process in the laptops killed, every namespace and link deleted
    remove_stale()             what runs that died without closing left behind

Used by tests/test_classroom_netns.py and benchmarks/bench_classroom.py.
"""

from __future__ import annotations

import ctypes
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from toycoin.runtime import Runtime

REPO = Path(__file__).resolve().parent.parent
CLONE_NEWNET = 0x40000000
PREFIX = "tc"  # every namespace, bridge and cable of these rooms: tc<pid>...


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def why_not() -> str | None:
    """Why namespaces cannot be made on this machine, or None if they can (probed for real)."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces are Linux only (this is {sys.platform})"
    if os.geteuid() != 0:
        return "network namespaces need root (run the tests as root, or in a container that is)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing: apt-get install iproute2"
    probe = f"{PREFIX}{os.getpid()}probe"
    result = ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"`ip netns add` failed: {result.stderr.strip() or result.returncode}"
    ip("netns", "del", probe, check=False)
    bridge = f"{PREFIX}{os.getpid()}pb"
    result = ip("link", "add", bridge, "type", "bridge", check=False)
    if result.returncode != 0:
        return f"`ip link add ... type bridge` failed: {result.stderr.strip() or result.returncode}"
    ip("link", "del", bridge, check=False)
    cable = f"{PREFIX}{os.getpid()}pv"
    result = ip("link", "add", cable, "type", "veth", "peer", "name", cable + "x", check=False)
    if result.returncode != 0:
        return f"`ip link add ... type veth` failed: {result.stderr.strip() or result.returncode}"
    ip("link", "del", cable, check=False)
    return None


def remove_stale() -> None:
    """Delete namespaces and links of earlier runs whose process is gone (a run killed mid-way)."""
    def dead(name: str) -> bool:
        match = re.match(rf"{PREFIX}(\d+)[a-z]", name)
        return match is not None and not Path(f"/proc/{match.group(1)}").exists()

    for line in ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if dead(name):
            _kill_all_in(name)
            ip("netns", "del", name, check=False)
    for line in ip("-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if dead(name):
            ip("link", "del", name, check=False)


def _kill_all_in(namespace: str) -> None:
    for pid in ip("netns", "pids", namespace, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


@dataclass(frozen=True)
class Laptop:
    n: int
    namespace: str
    host: str  # its address on the LAN
    cable: str  # the root-namespace end of its veth pair


class LanProcess:
    """A program running in a laptop; its stderr goes to ``log`` (a file: nothing blocks on it)."""

    def __init__(self, laptop: Laptop, argv: list[str], log: Path) -> None:
        self.laptop, self.log_path = laptop, log
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        with open(log, "wb") as err:
            self.popen = subprocess.Popen(["ip", "netns", "exec", laptop.namespace, *argv],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env)
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            self._lines.put(raw.decode(errors="replace").strip())

    def ready(self, timeout: float = 30.0) -> str:
        """Its first line on stdout (``listening HOST PORT``, or ``joined ...``)."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"{self.laptop.namespace}: no line within {timeout:g}s; "
                               f"log:\n{self.log()}") from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)


class Lan:
    """A room of laptops on switches (state inside this object; close() undoes all of it)."""

    def __init__(self, subnet: str = "10.77.0") -> None:
        self.subnet = subnet
        self.tag = f"{PREFIX}{os.getpid()}"
        self.laptops: dict[int, Laptop] = {}
        self.switches: list[str] = []
        self.cables: list[str] = []
        self.processes: list[LanProcess] = []
        self.runtimes: list[Runtime] = []

    def switch(self, name: str) -> str:
        bridge = f"{self.tag}b{name}"
        ip("link", "add", bridge, "type", "bridge")
        self.switches.append(bridge)
        ip("link", "set", bridge, "up")
        return bridge

    def laptop(self, n: int, switch: str) -> Laptop:
        namespace, cable, inner = f"{self.tag}n{n}", f"{self.tag}v{n}", f"{self.tag}p{n}"
        ip("netns", "add", namespace)
        self.laptops[n] = laptop = Laptop(n, namespace, f"{self.subnet}.{n}", cable)
        ip("link", "add", cable, "type", "veth", "peer", "name", inner)
        self.cables.append(cable)
        ip("link", "set", inner, "netns", namespace)
        ip("link", "set", cable, "master", switch)
        ip("link", "set", cable, "up")
        ip("-n", namespace, "addr", "add", f"{laptop.host}/24", "dev", inner)
        ip("-n", namespace, "link", "set", inner, "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        return laptop

    def uplink(self, a: str, b: str) -> str:
        cable = f"{self.tag}u{len(self.cables)}"
        ip("link", "add", cable, "type", "veth", "peer", "name", cable + "x")
        self.cables.append(cable)
        for end, switch in ((cable, a), (cable + "x", b)):
            ip("link", "set", end, "master", switch)
            ip("link", "set", end, "up")
        return cable

    def cable_up(self, cable: str, up: bool) -> None:
        """Plug a cable in (True) or pull it out (False): a state, setting it twice is once."""
        ip("link", "set", cable, "up" if up else "down")

    def start(self, laptop: Laptop, argv: list[str], log: Path) -> LanProcess:
        process = LanProcess(laptop, argv, log)
        self.processes.append(process)
        return process

    def observer(self, laptop: Laptop) -> Runtime:
        """A Runtime whose network thread lives in ``laptop``'s namespace (setns is per thread)."""
        runtime = Runtime(f"observer-{laptop.n}")
        self.runtimes.append(runtime)
        runtime.call(_enter_namespace, laptop.namespace)
        return runtime

    def close(self) -> None:
        for process in self.processes:
            try:
                process.kill()
            except subprocess.TimeoutExpired:
                pass
        for runtime in self.runtimes:
            runtime.close()
        for laptop in self.laptops.values():
            _kill_all_in(laptop.namespace)  # miners' worker processes too
            ip("netns", "del", laptop.namespace, check=False)
        for cable in self.cables:
            ip("link", "del", cable, check=False)
        for bridge in self.switches:
            ip("link", "del", bridge, check=False)


def _enter_namespace(namespace: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns into {namespace}: {os.strerror(error)}")
    finally:
        os.close(fd)
