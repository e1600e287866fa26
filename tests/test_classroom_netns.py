"""A classroom on one machine: six laptops in Linux network namespaces on two switches.

Every laptop is a namespace with its own address on 10.77.0.0/24 and a real
node process (``python -m toycoin node --host 10.77.0.N --port 8333 --mine``),
except laptop 6, where a small script joins the room the way chapter 12 does
(``room.join``). Laptops 1-3 (1 is the teacher's) hang on one switch, 4-6 on
another, and a cable joins the switches. The test watches the room the way the
teacher does, by crawling it (from inside laptop 1, or 4 while the room is cut),
and checks that it joins, discovers, mines, splits when the cable is pulled,
heals onto the most-work chain when it is plugged back, carries on when the
teacher's node is killed with SIGKILL, and shrugs off a hostile laptop (headers
without proof of work, addresses outside the room: nobody dials them).

Where namespaces cannot be made (not root, no ``ip``, not Linux) it is skipped,
saying why. tests/netlab.py builds the LAN.
"""

import re
import signal
import sys
import time

import pytest

from netlab import Lan, remove_stale, why_not
from toycoin.roommap import crawl_until

pytestmark = pytest.mark.timeout(180)

HASHRATE = 40  # hashes a second per laptop; a block takes about 256, so the room finds about one a second
PORT = 8333

JOIN = '''
import sys
from toycoin import room
from toycoin.cli import ConnectionLog

if __name__ == "__main__":  # the miner's worker process imports this file again
    teacher, host, name, hashrate = sys.argv[1:5]
    node = room.join(teacher, host=host, name=name, mine=True, hashrate=float(hashrate))
    node.subscribe(ConnectionLog(lambda line: print(line, file=sys.stderr, flush=True)))
    print("joined", node.address[0], node.address[1], flush=True)
    sys.stdin.read()
    node.stop()
'''

MISTAKES = '''
import sys
from toycoin import room

if __name__ == "__main__":
    teacher, host = sys.argv[1:3]
    for wrong in [dict(host="0.0.0.0"), dict(host="10.77.0.99"), dict(host=host)]:
        try:
            room.join(teacher, name="notebook", timeout=2.0, **wrong)
        except (ValueError, OSError, Exception) as error:
            print(type(error).__name__, error, flush=True)
'''

LIAR = '''
import sys
from dataclasses import replace
from toycoin.msg_control import Addr
from toycoin.msg_data import Headers
from toycoin.node import Node
from toycoin.pow import COURSE_POW, bits_to_target, hash_value


# Outside the room, outside the room, and inside it where nobody listens (to see that addr is read).
ADDRESSES = [("10.78.0.7", 8333), ("8.8.8.8", 8333), ("10.77.0.200", 8333)]


class Liar(Node):
    """Tells a peer of an address (one a connection: a node reads only so many unasked), then
    sends a header with no proof of work, which costs it the connection; it dials again."""

    told = 0

    def on_connected(self, conn):
        super().on_connected(conn)
        conn.send(Addr((ADDRESSES[self.told % len(ADDRESSES)],)))
        self.told += 1
        header = self.block_template().header
        while hash_value(header) <= bits_to_target(header.bits):
            header = replace(header, nonce=header.nonce + 1)
        conn.send(Headers((header,)))


if __name__ == "__main__":
    host, peer = sys.argv[1:3]
    liar = Liar("liar", rules=COURSE_POW, host=host, port=8333)
    liar.start()
    liar.connect((peer, 8333), wait=False)
    print("listening", host, 8333, flush=True)
    sys.stdin.read()
    liar.stop()
'''


@pytest.fixture
def lan():
    reason = why_not()
    if reason is not None:
        print(f"SKIPPED the classroom LAN test: {reason}")
        pytest.skip(reason)
    remove_stale()
    room = Lan("10.77.0")
    try:
        yield room
    finally:
        room.close()


def node_argv(name, host, teacher):
    peers = ["--peer", f"{teacher}:{PORT}"] if teacher else []
    return [sys.executable, "-m", "toycoin", "node", "--name", name, "--host", host, "--port", str(PORT),
            "--mine", "--hashrate", str(HASHRATE), "--stop-on-eof", *peers]


def heights(room_map):
    return sorted(status.height for status in room_map.nodes.values())


def test_a_classroom_lan_joins_mines_splits_heals_and_survives_its_teacher(lan, tmp_path):
    started = time.monotonic()
    left, right = lan.switch("L"), lan.switch("R")
    cable = lan.uplink(left, right)
    laptops = {n: lan.laptop(n, left if n <= 3 else right) for n in range(1, 8)}
    teacher = laptops[1].host
    everyone = [f"{laptops[n].host}:{PORT}" for n in range(1, 7)]

    # Mistakes a student makes, and a firewall that drops the port (the teacher's cable is out).
    lan.cable_up(laptops[1].cable, False)
    (tmp_path / "mistakes.py").write_text(MISTAKES)
    mistakes = lan.start(laptops[6], [sys.executable, str(tmp_path / "mistakes.py"), f"{teacher}:{PORT}",
                                      laptops[6].host], tmp_path / "mistakes.log")
    said = [mistakes.ready(), mistakes.ready(), mistakes.ready()]
    assert said[0].startswith("ValueError host 0.0.0.0 would listen on every network"), said
    assert said[1].startswith("ValueError 10.77.0.99 is not an address of this machine (this machine "
                              f"reaches {teacher} from {laptops[6].host}"), said
    assert said[2].startswith(f"NodeError cannot join the room: cannot reach the node at {teacher}:{PORT}: "
                              "timed out"), said
    assert said[2].endswith(f"its firewall may block TCP port {PORT}: open that port"), said
    lan.cable_up(laptops[1].cable, True)

    # Join: the teacher first, then each student, given nothing but the teacher's address.
    processes = {1: lan.start(laptops[1], node_argv("teacher", teacher, None), tmp_path / "1.log")}
    assert processes[1].ready() == f"listening {teacher} {PORT}"
    for n in range(2, 6):
        argv = node_argv(f"student{n}", laptops[n].host, teacher)
        processes[n] = lan.start(laptops[n], argv, tmp_path / f"{n}.log")
        assert processes[n].ready() == f"listening {laptops[n].host} {PORT}"
    (tmp_path / "join.py").write_text(JOIN)
    processes[6] = lan.start(laptops[6], [sys.executable, str(tmp_path / "join.py"), f"{teacher}:{PORT}",
                                          laptops[6].host, "notebook", str(HASHRATE)], tmp_path / "6.log")
    assert processes[6].ready() == f"joined {laptops[6].host} {PORT}"
    near, far = lan.observer(laptops[1]), lan.observer(laptops[4])

    # Discover: every laptop reached by a crawl from the teacher's, each with peers it was never told
    # of, and the students connected to each other without the teacher.
    def discovered(m):
        students = {a for a in m.nodes if a != everyone[0]}
        links = {link for link in m.links() if link <= students}
        return set(m.nodes) == set(everyone) and _connected(students, links) and \
            all(len(m.nodes[a].peers) >= 2 for a in students)

    room = crawl_until(everyone[0], discovered, timeout=30, what="six laptops found each other", runtime=near)
    assert room.names()[everyone[5]] == "notebook"
    assert not room.skipped and not room.unreachable

    # A name another laptop has is refused from a terminal too (laptop 7 is free until the liar).
    twin = lan.start(laptops[7], node_argv("student2", laptops[7].host, teacher), tmp_path / "twin.log")
    assert twin.popen.wait(20) == 2
    assert f"the room already has a node named 'student2' (at {everyone[1]})" in twin.log(), twin.log()

    # Mine: blocks from several laptops, and the whole room on one tip.
    room = crawl_until(everyone[0], lambda m: len(m.nodes) == 6 and m.converged and min(heights(m)) >= 3,
                       timeout=40, what="the room mined 3 blocks and agrees", runtime=near)
    assert all(s.mining and s.hashrate == HASHRATE for s in room.nodes.values())
    assert sum(1 for s in room.nodes.values() if s.blocks_found) >= 2
    cut_height = max(heights(room))

    # Split: pull the cable between the switches; each half mines a branch of its own.
    lan.cable_up(cable, False)

    def grown(m, names):
        return set(m.nodes) >= names and min(m.nodes[a].height for a in names) >= cut_height + 2 and \
            len({m.nodes[a].tip_hex for a in names}) == 1

    left_side, right_side = set(everyone[:3]), set(everyone[3:])
    left_map = crawl_until(everyone[0], lambda m: grown(m, left_side), timeout=40,
                           what="the left half mined on", runtime=near, node_timeout=1.0)
    right_map = crawl_until(everyone[3], lambda m: grown(m, right_side), timeout=40,
                            what="the right half mined on", runtime=far, node_timeout=1.0)
    assert set(left_map.unreachable) <= right_side and set(right_map.unreachable) <= left_side
    assert left_map.nodes[everyone[0]].tip_hex != right_map.nodes[everyone[3]].tip_hex  # two branches
    split_best = max(heights(left_map) + heights(right_map))

    # Heal: plug the cable back; the whole room ends on one chain, at least as long as the longer branch.
    # Both branches grew past the cut, so one half (at least) gave its branch up: a reorganisation.
    lan.cable_up(cable, True)
    room = crawl_until(everyone[0],
                       lambda m: len(m.nodes) == 6 and m.converged and min(heights(m)) >= split_best,
                       timeout=60, what="the healed room agrees on the most-work chain", runtime=near)

    # The teacher's node is killed for real: the students keep mining and keep agreeing.
    processes[1].popen.send_signal(signal.SIGKILL)
    processes[1].popen.wait(10)
    killed_at = max(heights(room))
    students = everyone[1:6]
    room = crawl_until(students, lambda m: set(m.nodes) == set(students) and m.converged and
                       min(heights(m)) >= killed_at + 2 and all(everyone[0] not in s.peer_addresses
                                                               for s in m.nodes.values()),
                       timeout=60, what="five students mined on without the teacher", runtime=near)

    # A hostile laptop: addresses outside the room, a header without proof of work.
    (tmp_path / "liar.py").write_text(LIAR)
    argv = [sys.executable, str(tmp_path / "liar.py"), laptops[7].host, laptops[2].host]
    liar = lan.start(laptops[7], argv, tmp_path / "7.log")
    assert liar.ready() == f"listening {laptops[7].host} {PORT}"
    deadline = time.monotonic() + 30
    victim = processes[2]
    while not ("10.77.0.200" in victim.log()
               and re.search(r"disconnected from liar .*invalid header", victim.log())):
        assert time.monotonic() < deadline, f"student2 never refused the liar; its log:\n{victim.log()}"
        time.sleep(0.2)
    logs = {n: p.log() for n, p in processes.items()}
    for n, log in logs.items():
        assert "10.78.0.7" not in log and "8.8.8.8" not in log, f"laptop {n} dialled outside the room:\n{log}"
    room = crawl_until(students, lambda m: m.converged and set(m.nodes) >= set(students), timeout=30,
                       what="the room agrees after the liar", runtime=near)
    for status in room.nodes.values():
        assert all(address.startswith("10.77.0.") for address in status.peer_addresses)
    print(f"classroom LAN test: {time.monotonic() - started:.1f}s, final heights {heights(room)}")


def _connected(nodes, links):
    """Whether ``links`` join every one of ``nodes``."""
    if not nodes:
        return False
    seen, todo = set(), [next(iter(nodes))]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo += [b for link in links if node in link for b in link if b != node]
    return seen == set(nodes)
