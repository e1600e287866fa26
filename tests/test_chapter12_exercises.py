"""Chapter 12's exercise checks: plausible wrong answers are caught, and named as the mistake they are.

Each check cell of the chapter is run (tests/exercise_cells.py) against wrong
answers a learner might write, and against the worked solution.
"""

import ipaddress

import pytest

import exercise_cells

NOTEBOOK = "12_classroom.ipynb"


def run_check(capsys, defines: str, name: str, answer) -> str:
    return exercise_cells.run_check(capsys, NOTEBOOK, defines, name, answer)


def host_of(address):
    return address.rpartition(":")[0]


IN_ROOM_MISTAKES = [
    # text: the network's address without its last ".0", as a prefix
    (lambda address, network: host_of(address).startswith(network.split("/")[0].rsplit(".0", 1)[0]),
     "comparing text"),
    # the first three numbers, whatever the prefix length says
    (lambda address, network: host_of(address).split(".")[:3] == network.split("/")[0].split(".")[:3],
     "read it from the network"),
    (lambda address, network: ipaddress.ip_address(host_of(address)) in ipaddress.ip_network(network), None),
]


@pytest.mark.parametrize(("answer", "named"), IN_ROOM_MISTAKES)
def test_in_room_exercise_names_each_mistake(capsys, answer, named):
    out = run_check(capsys, "room_cases", "in_room", answer)
    exercise_cells.assert_verdict(out, named, cases=4)


def depth_first(peers, start):
    order, seen = [], set()

    def visit(name):
        if name in seen or name not in peers:
            return
        seen.add(name)
        order.append(name)
        for peer in peers[name]:
            visit(peer)

    visit(start)
    return order


def marks_when_asked(peers, start):
    """Breadth first, but a name is marked only when it is asked: queued twice, asked twice."""
    queue, asked, order = [start], set(), []
    while queue:
        name = queue.pop(0)
        if name not in peers:
            continue
        asked.add(name)
        order.append(name)
        queue += [peer for peer in peers[name] if peer not in asked]
    return order


def keeps_the_unreachable(peers, start):
    queue, queued, order = [start], {start}, []
    while queue:
        name = queue.pop(0)
        order.append(name)
        for peer in peers.get(name, []):
            if peer not in queued:
                queued.add(peer)
                queue.append(peer)
    return order


def breadth_first(peers, start):
    queue, queued, order = [start], {start}, []
    while queue:
        name = queue.pop(0)
        if name in peers:
            order.append(name)
            new = [peer for peer in peers[name] if peer not in queued]
            queued.update(new)
            queue += new
    return order


CRAWL_MISTAKES = [
    (depth_first, "depth first"),
    (marks_when_asked, "asked once"),
    (keeps_the_unreachable, "does not answer"),
    (breadth_first, None),
]


@pytest.mark.parametrize(("answer", "named"), CRAWL_MISTAKES)
def test_crawl_exercise_names_each_mistake(capsys, answer, named):
    out = run_check(capsys, "crawl_cases", "crawl_order", answer)
    exercise_cells.assert_verdict(out, named, cases=3)


def test_the_crawl_exercise_matches_a_real_crawl():
    # The exercise's breadth-first order names the same nodes as toycoin.roommap.crawl of a room.
    from toycoin.room import local_room

    with local_room(3) as laptops:
        found = laptops.crawl_until(lambda m: len(m.links()) == 3, timeout=30, what="a mesh of three")
        peers = {status.name: [name for _, name in status.peers] for status in found.nodes.values()}
        assert sorted(breadth_first(peers, "teacher")) == sorted(found.names().values())
