"""CLI: ``python -m toycoin node`` (a full node as a program) and ``wallet`` (pay, balances).

    python -m toycoin node --name A --port 0 --peer 127.0.0.1:8333 [--sync] [--data-dir DIR]
                           [--seal-every SECONDS] [--pow] [--mine [--hashrate N]]
                           [--network CIDR ...]
    python -m toycoin wallet --node 127.0.0.1:8333 balance alice bob
    python -m toycoin wallet --node 127.0.0.1:8333 pay alice bob 5
    python -m toycoin room 192.168.1.10:8333            (toycoin.room: every node of a classroom)

With no command it prints the list of commands. A command defined above this
module (``room``) is handed to ``main`` as a ``Command`` by toycoin/__main__.py,
so imports still point down only.

prints one line on stdout once it listens, ``listening 127.0.0.1 43121``,
then runs until SIGTERM or Ctrl-C (a clean stop), or SIGKILL (no goodbye).
While it runs it writes one line on stderr for each connection made, lost
or failed (``A: connected to B (outbound full node)``); a peer that cannot be
reached is reported once, not at every retry. A bad argument or a port in
use is one line on stderr and exit code 2.

With a ``--peer`` on a LAN, ``--host`` is this laptop's LAN address: without
it the node would listen on 127.0.0.1, where no other laptop can reach it,
so that is refused, naming the address this machine reaches that peer from
(an explicit ``--host 127.0.0.1`` is a choice: a node that only dials out).
``--host 0.0.0.0`` is refused: it would listen on every network the laptop is on.

A node dials only inside its networks: 127.0.0.0/8 when it listens on
loopback, the /24 around ``--host`` otherwise; a classroom's LAN is given
with ``--network 192.168.1.0/24`` (repeatable), and addresses outside are
neither dialled nor kept, whoever advertises them (toycoin.addrman).

With ``--data-dir DIR`` the node keeps its ledger in DIR (toycoin.store), so a
process killed with SIGKILL and started again resumes from its last block and
syncs only what it missed; without it the ledger lives in memory. With
``--seal-every SECONDS`` (chapter 07's nodes, which keep payments in a
mempool) it seals the payments waiting in its mempool into a block every so
often, and says so on stderr: the terminal's way of calling ``node.seal()``.

``wallet`` is chapter 03's WalletClient from a terminal: one short session
with the node given by ``--node``. People are named by the course's readable
seeds (``alice`` is ``PrivateKey.from_seed("alice")``), or the payee by an
address. Seeds anybody can guess are for a course, never for real money.

    main(argv, extra)  the command line (toycoin/__main__.py calls it, with extra Commands)
    Command            a command defined in a module above this one
    run_node(...)      start a node in this process and serve until told to stop
    run_wallet(...)    ask a node for balances, or pay through it
    check_host(host, towards)   may a node listen on ``host``? (an address of this machine, not
                       0.0.0.0, not loopback when its peer is on a LAN); toycoin.room uses it too
    address_towards(address)    the address this machine reaches ``address`` from
    ConnectionLog      turns a node's connection events into those stderr lines

Simplifications: it cannot be told to connect elsewhere once started: other
nodes connect to it, or it is given its peers with --peer. Peers are IPv4
addresses, never host names, because an addr message carries IPv4 only
(Bitcoin Core also resolves names, and its addr messages carry IPv6 too).
"""
from __future__ import annotations

import argparse
import errno
import ipaddress
import signal
import socket
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import NoReturn

from toycoin.addrman import Address, format_address, is_ipv4, parse_networks, undialable
from toycoin.client import WalletClient
from toycoin.errors import NodeError, ParseError, ValidationError
from toycoin.events import Event
from toycoin.connman import check_name
from toycoin.keys import PrivateKey, address_to_pubkey_hash
from toycoin.mining import Miner
from toycoin.node import Node
from toycoin.pow import COURSE_POW, NO_POW, PowRules
from toycoin.relay import Relay
from toycoin.roommap import ask_status
from toycoin.runtime import Runtime
from toycoin.service import ServiceFactory
from toycoin.sync import BlockSync

READY_PREFIX = "listening"
PROG = "python -m toycoin"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_address(text: str) -> Address:
    """'127.0.0.1:8333' -> ('127.0.0.1', 8333); argparse shows the error text."""
    host, sep, port = text.rpartition(":")
    if not sep and is_ipv4(text):
        raise argparse.ArgumentTypeError(f"bad address {text!r}: the port is missing, e.g. {text}:8333")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"bad address {text!r}: expected host:port, e.g. 127.0.0.1:8333")
    if not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"bad address {text!r}: port {port} is out of range "
                                         "(1 to 65535), e.g. 127.0.0.1:8333")
    if not is_ipv4(host):
        raise argparse.ArgumentTypeError(f"bad address {text!r}: {host} is not an IPv4 address "
                                         "(host names are not looked up), e.g. 127.0.0.1:8333")
    return host, int(port)


def parse_network(text: str) -> IPv4Network:
    """'192.168.1.0/24' -> IPv4Network; argparse shows the error text."""
    try:
        return parse_networks([text], "127.0.0.1")[0]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def check_host(host: str, towards: Address | None = None, what: str = "host") -> str:
    """``host`` if a node may listen there: an IPv4 address of this machine, never 0.0.0.0, and
    not loopback when ``towards`` (the teacher) is on a LAN. ValueError saying what to give;
    ``what`` names the argument in it (the command line says ``--host``)."""
    hint = _hint(towards)
    if not isinstance(host, str) or not is_ipv4(host):
        raise ValueError(f"{what} {host!r} is not an IPv4 address: give this laptop's LAN address, four "
                         f"numbers such as 192.168.1.23{hint}")
    if ipaddress.IPv4Address(host).is_unspecified:
        raise ValueError(f"{what} {host} would listen on every network this laptop is on (a café's too): "
                         f"give this laptop's LAN address instead{hint}")
    if towards is not None and ipaddress.IPv4Address(host).is_loopback and \
            not ipaddress.IPv4Address(towards[0]).is_loopback:
        raise ValueError(f"{what} {host} can be reached from this machine only, so no other laptop could "
                         f"connect to this node: give this laptop's LAN address{hint}")
    with socket.socket() as probe:
        try:
            probe.bind((host, 0))
        except OSError as error:
            if error.errno == errno.EADDRNOTAVAIL:
                raise ValueError(f"{host} is not an address of this machine{hint}") from None
            raise ValueError(f"cannot listen on {host}: {error.strerror or error}") from None
    return host


def _hint(towards: Address | None) -> str:
    how = "`ip -4 addr` (Linux), `ipconfig getifaddr en0` (macOS) or `ipconfig` (Windows)"
    found = address_towards(towards) if towards else None
    if towards and found:
        return f" (this machine reaches {towards[0]} from {found}; see also {how})"
    return f" (find it with {how})"


def address_towards(address: Address) -> str | None:
    """The local address the system would use to reach ``address`` (a UDP socket's choice: no
    packet is sent); None if there is no route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect(address)
            return str(udp.getsockname()[0])
        except OSError:
            return None


@dataclass(frozen=True)
class Command:
    """A command of ``python -m toycoin`` defined in a module above this one (toycoin.room)."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]  # adds its arguments
    run: Callable[[argparse.Namespace], int]  # the exit code


def build_parser(extra: Sequence[Command] = ()) -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="toycoin from the command line.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    node = commands.add_parser("node", help="run a full node until SIGTERM or Ctrl-C",
                               description="Run a toycoin full node. Prints 'listening HOST PORT' "
                                           "on stdout once it accepts connections, then one line "
                                           "on stderr for each connection made, lost or failed.")
    node.add_argument("--name", default="node", help="name sent to peers (default: node)")
    node.add_argument("--host", default=None,
                      help="address to listen on (default: 127.0.0.1; another only for a classroom LAN)")
    node.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, any free port)")
    node.add_argument("--peer", type=parse_address, action="append", default=[], metavar="HOST:PORT",
                      help="a node to connect to and keep connected to (repeatable); HOST is an "
                           "IPv4 address, not a name, as in toycoin's addr messages")
    node.add_argument("--network", type=parse_network, action="append", default=[], metavar="CIDR",
                      help="a network it may dial, e.g. 192.168.1.0/24 (repeatable; default: "
                           "127.0.0.0/8 on loopback, else the /24 around --host); addresses "
                           "outside are never dialled, whoever advertises them")
    node.add_argument("--sync", action="store_true",
                      help="gossip payments and sync blocks with peers (chapter 07); off: chapters 03-05")
    node.add_argument("--data-dir", metavar="DIR", default=None,
                      help="keep the ledger in DIR (sqlite3) and resume from it on restart; implies --sync")
    node.add_argument("--seal-every", type=float, default=None, metavar="SECONDS",
                      help="seal the payments of the mempool into a block every SECONDS; implies --sync")
    node.add_argument("--pow", action="store_true",
                      help="join the proof-of-work network (chapters 09 on); implies --sync")
    node.add_argument("--mine", action="store_true",
                      help="mine blocks on the tip from the start; implies --pow")
    node.add_argument("--hashrate", type=float, default=None, metavar="N",
                      help="with --mine: at most N hashes per second (default: as fast as it goes)")
    node.add_argument("--stop-on-eof", action="store_true",
                      help="also stop cleanly when stdin closes (used by NodeProcess)")
    wallet = commands.add_parser("wallet", help="ask a node for balances, or pay through it",
                                 description="A wallet that keeps no ledger: it asks the node given by "
                                             "--node (chapter 03). People are named by the course's "
                                             "seeds (alice, bob, ...): never use such keys for real money.")
    wallet.add_argument("--node", type=parse_address, required=True, metavar="HOST:PORT",
                        help="the node to ask, e.g. 127.0.0.1:8333")
    actions = wallet.add_subparsers(dest="action", required=True, metavar="ACTION")
    balance = actions.add_parser("balance", help="print each person's balance, as the node sees it")
    balance.add_argument("names", nargs="+", metavar="NAME", help="a seed name, e.g. alice")
    pay = actions.add_parser("pay", help="pay AMOUNT from PAYER to PAYEE; the node validates it")
    pay.add_argument("payer", metavar="PAYER", help="the seed name of who pays, e.g. alice")
    pay.add_argument("payee", metavar="PAYEE", help="a seed name (bob) or a toycoin address")
    pay.add_argument("amount", type=int, metavar="AMOUNT", help="whole coins")
    for command in extra:
        command.configure(commands.add_parser(command.name, help=command.help, description=command.help))
    return parser


def main(argv: Sequence[str] | None = None, extra: Sequence[Command] = ()) -> int:
    parser = build_parser(extra)
    args = parser.parse_args(argv)
    if args.command is None:
        print(f"{PROG}: error: choose a command\n", file=sys.stderr)
        parser.print_help(sys.stderr)
        return 2
    for command in extra:
        if args.command == command.name:
            return command.run(args)
    if args.command == "wallet":
        return run_wallet(args.node, args.action, args)
    try:
        check_name(args.name)
        if not 0 <= args.port < 65536:
            raise ValueError(f"port {args.port} is out of range (0 to 65535; 0: any free port)")
        if args.seal_every is not None and not args.seal_every > 0:
            raise ValueError(f"--seal-every needs a number of seconds above 0, not {args.seal_every:g}")
        if args.hashrate is not None and (args.hashrate <= 0 or not args.mine):
            raise ValueError("--hashrate takes a positive number of hashes per second, with --mine")
        _check_classroom_host(args)
    except ValueError as error:
        return _fail(error)
    pow_network = args.pow or args.mine
    return run_node(args.name, args.host or "127.0.0.1", args.port, args.peer, args.stop_on_eof,
                    sync=args.sync or pow_network or args.data_dir is not None or args.seal_every is not None,
                    data_dir=args.data_dir, seal_every=args.seal_every,
                    rules=COURSE_POW if pow_network else NO_POW,
                    miner=Miner(args.hashrate) if args.mine else None, networks=args.network or None)


def _check_classroom_host(args: argparse.Namespace) -> None:
    """With a peer on a LAN, a node needs this laptop's LAN address: no --host (127.0.0.1) is a
    student's slip, refused; an explicit loopback host is a choice (a node that only dials out);
    0.0.0.0 is refused always. ValueError from check_host, naming the address to give."""
    anywhere = (IPv4Network("0.0.0.0/0"),)
    lan_peers = [peer for peer in args.peer if undialable(peer, anywhere) is None
                 and not ipaddress.IPv4Address(peer[0]).is_loopback]  # ordinary LAN addresses
    host = args.host or "127.0.0.1"
    if args.host is None and lan_peers:
        check_host(host, lan_peers[0], "the default --host")
    elif args.host == "0.0.0.0" or lan_peers:
        loopback = is_ipv4(host) and ipaddress.IPv4Address(host).is_loopback
        check_host(host, None if loopback or not lan_peers else lan_peers[0], "--host")
    if lan_peers:
        _check_name_free(args.name, host, lan_peers[0])


def _check_name_free(name: str, host: str, peer: Address) -> None:
    """In a room, a name that a node on another laptop has is refused, as toycoin.room.join does
    (the same name on this laptop's address is this node, restarted). A peer that does not answer
    now is no error: the node says so once it runs, and keeps trying."""
    try:
        where = ask_status(peer, timeout=2.0).named_elsewhere(name, host)
    except NodeError:
        return
    if where is not None:
        raise ValueError(f"the room already has a node named {name!r} (at {where}): "
                         "choose another --name, one nobody else has")


def run_node(name: str, host: str, port: int, peers: Sequence[Address], stop_on_eof: bool = False,
             sync: bool = False, data_dir: str | None = None, seal_every: float | None = None,
             rules: PowRules = NO_POW, miner: Miner | None = None,
             networks: Sequence[IPv4Network] | None = None) -> int:
    """Run one node in this process until a signal (or stdin's end) says stop."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if stop_on_eof:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    runtime = Runtime(f"toycoin-node-{name}")
    node: Node | None = None
    try:
        services: list[ServiceFactory] = [Relay, BlockSync] if sync else []
        if miner is not None:
            services.append(lambda: miner)
        node = Node(name, host=host, port=port, runtime=runtime, services=services, data_dir=data_dir,
                    rules=rules, networks=networks)
        node.subscribe(ConnectionLog(lambda line: print(line, file=sys.stderr, flush=True)))
        node.start()
        for peer in peers:
            node.connect(peer, wait=False)
    except NodeError as error:
        if node is not None:
            node.stop()
        runtime.close()
        return _fail(error)
    if miner is not None:
        miner.start()
    print(f"{READY_PREFIX} {node.address[0]} {node.address[1]}", flush=True)
    while not stop.wait(seal_every):  # without --seal-every: wait for the signal only
        if node.snapshot().mempool_size:
            block = node.seal()
            print(f"{name}: sealed block {node.height} with {len(block.txs) - 1} payment(s)",
                  file=sys.stderr, flush=True)
    node.stop()
    runtime.close()
    return 0


def run_wallet(node: Address, action: str, args: argparse.Namespace) -> int:
    """``balance NAME...`` or ``pay PAYER PAYEE AMOUNT``, through the node at ``node``."""
    where = f"node at {format_address(node)}"
    try:
        if action == "balance":
            for name in args.names:
                client = WalletClient(PrivateKey.from_seed(name), node, name=name)
                print(f"{name} {client.balance()}")
            return 0
        payee = payee_address(args.payee)
        client = WalletClient(PrivateKey.from_seed(args.payer), node, name=args.payer)
        txid = client.pay(payee, args.amount)
        print(f"{args.payer} paid {args.payee} {args.amount}: txid {txid}, accepted by the {where}")
        print("balances change once a block holds the payment: at once on a node without --sync, "
              "else when a miner mines it (--mine) or a node with --seal-every seals its mempool")
        return 0
    except (NodeError, ValidationError) as error:
        print(f"{PROG} wallet: error: {error}", file=sys.stderr)
        return 1


def payee_address(text: str) -> str:
    """A toycoin address as given, else the address of the seed ``text`` (bob -> Bob's address)."""
    try:
        address_to_pubkey_hash(text)
        return text
    except ParseError:
        return PrivateKey.from_seed(text).address


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
    port where some other program listens does. A wallet's short session (a
    balance, a payment, a teacher's crawl of the room every second or so) is
    not a peer, and is not shown.
    """

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self._connected: Counter[str] = Counter()  # handshaked connections, by peer name
        self._wallets: Counter[str] = Counter()  # handshaked wallet sessions, by name
        self._dialled: set[str] = set()  # addresses this node opened a connection to
        self._refusing: set[str] = set()  # dialled addresses that closed before the handshake

    def __call__(self, event: Event) -> None:
        line = self.line(event)
        if line is not None:
            self.write(line)

    def line(self, event: Event) -> str | None:
        """The line to show for ``event``, or None for one to keep quiet about."""
        me, peer, detail = event.node, event.peer or "", event.detail
        if event.kind == "connected" and str(detail).endswith("wallet"):
            self._wallets[peer] += 1
            return None
        if event.kind == "connected":
            self._connected[peer] += 1
            self._refusing.discard(peer)
            return f"{me}: connected to {peer} ({detail})"
        if event.kind == "connect failed":
            self._refusing.discard(peer)
            return f"{me}: cannot connect to {peer}: {detail}"
        if event.kind == "connected to itself":
            return f"{me}: connected to itself ({detail}); that address will not be dialled again"
        if event.kind == "opened" and event.direction == "out":
            self._dialled.add(peer)
        if event.kind != "disconnected":
            return None
        if self._wallets[peer] > 0:
            self._wallets[peer] -= 1
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
