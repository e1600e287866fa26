"""The classroom's picture and live panel show what a crawl of the room found."""
from __future__ import annotations

import re
import threading

import pytest

from toycoin.picture import Picture
from toycoin.roomview import RoomWatch, draw_room, room_summary, tip_groups
from toycoin.roommap import NodeStatus, RoomMap

MAIN, FORK = "00aa" * 16, "00bb" * 16


def status(name: str, address: str, height: int = 3, tip: str = MAIN, peers: tuple[str, ...] = (),
           mining: bool = False, hashrate: float | None = None) -> NodeStatus:
    """A node's answer as toycoin.room reads it; ``peers`` by address (named "peer" here)."""
    return NodeStatus(address=address, name=name, listen=address, height=height, tip_hex=tip,
                      peers=tuple((peer, "peer") for peer in peers), mining=mining,
                      hashrate=hashrate if mining else None, blocks_found=0)


def hand_built_room(students: int = 5) -> RoomMap:
    """A teacher linked to every student, each student to the next; the last student on a fork."""
    teacher = "192.168.1.10:8333"
    addresses = [f"192.168.1.{11 + i}:8333" for i in range(students)]
    nodes = {teacher: status("teacher", teacher, peers=tuple(addresses), mining=True, hashrate=2000)}
    for i, address in enumerate(addresses):
        neighbours = {teacher} | {addresses[j] for j in (i - 1, i + 1) if 0 <= j < students}
        fork = i == students - 1
        nodes[address] = status(f"s{i:02}", address, height=2 if fork else 3, tip=FORK if fork else MAIN,
                                peers=tuple(sorted(neighbours)), mining=i % 2 == 0)
    return RoomMap(nodes=nodes, unreachable={"192.168.1.99:8333": "connection refused"})


def node_labels(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_the_picture_names_every_node_with_its_height_and_greys_the_unreachable():
    room = hand_built_room()
    picture = draw_room(room, teacher="192.168.1.10:8333", title="the room")
    assert isinstance(picture, Picture)
    svg = picture.svg()
    labels = node_labels(svg)
    for name in ["teacher", "s00", "s04"]:
        assert name in labels
    assert "height 2" in labels and "height 3" in labels
    assert "unreachable" in labels and "192.168.1.99" in labels  # the host alone: one node per laptop
    assert "mining 2,000 H/s" in labels
    assert svg.count("<g id=\"node") == 8  # 6 nodes, 1 unreachable, the legend
    assert svg.count("<g id=\"edge") == 9  # 5 to the teacher, 4 between neighbours


def test_a_fork_is_two_colours_and_the_summary_says_who_is_on_each_tip():
    room = hand_built_room()
    groups = tip_groups(room)
    assert [(tip, height, len(members)) for tip, height, members in groups] == [(MAIN, 3, 5), (FORK, 2, 1)]
    svg = draw_room(room).svg()
    assert "#c8e6c9" in svg and "#ffe0b2" in svg  # the main tip's colour and the fork's
    summary = room_summary(room)
    assert summary.splitlines() == [
        "6 nodes answered, 1 unreachable",
        "2 tips: the room is split on a fork",
        "tip 00aa00aa00aa… at height 3: s00, s01, s02, s03, teacher",
        "tip 00bb00bb00bb… at height 2: s04",
        "mining: s00, s02, s04, teacher",
        "unreachable 192.168.1.99:8333: connection refused",
    ]


def test_the_layout_is_pinned_so_a_redraw_does_not_move_anyone():
    room = hand_built_room()
    first = draw_room(room, teacher="192.168.1.10:8333").graph.source
    again = draw_room(hand_built_room(), teacher="192.168.1.10:8333").graph.source
    assert first == again
    teacher = re.search(r'label="teacher[^\]]*?pos="([^"]+)"', first)
    assert teacher is not None and teacher.group(1) == "0.00,0.00!"  # the teacher in the middle


def test_nodes_sharing_a_host_show_their_ports():
    a, b = "127.0.0.1:40001", "127.0.0.1:40002"
    room = RoomMap(nodes={a: status("A", a, peers=(b,)), b: status("B", b, peers=(a,))}, unreachable={})
    labels = node_labels(draw_room(room).svg())
    assert a in labels and b in labels


def test_thirty_laptops_stay_apart():
    room = hand_built_room(students=32)
    source = draw_room(room, teacher="192.168.1.10:8333").graph.source
    places = [tuple(map(float, p.split(","))) for p in re.findall(r'pos="([-\d.]+,[-\d.]+)!"', source)]
    nodes = places[:-1]  # the legend last
    closest = min(((x1 - x2) ** 2 + (y1 - y2) ** 2) ** 0.5 for i, (x1, y1) in enumerate(nodes)
                  for (x2, y2) in nodes[i + 1:])
    assert closest > 1.4  # inches: a box of name, host, height and "mining" is about 1.3 wide


class FakeCrawl:
    """A crawl that returns the hand-built room, counting calls; ``gate`` holds the second one."""

    def __init__(self) -> None:
        self.calls = 0
        self.changed = threading.Event()

    def __call__(self, start: str, **options: object) -> RoomMap:
        self.calls += 1
        self.changed.set()
        return hand_built_room()


@pytest.mark.timeout(30)
def test_the_watch_crawls_again_in_the_background_until_stopped():
    crawl = FakeCrawl()
    watch = RoomWatch("192.168.1.10:8333", every=0.05, crawl=crawl)
    try:
        assert crawl.calls >= 1 and "s04" in watch.summary.value and "<svg" in watch.diagram.value
        bundle = watch._repr_mimebundle_()
        assert bundle["text/plain"].startswith("RoomWatch\n6 nodes answered, 1 unreachable")
        before = crawl.calls
        crawl.changed.clear()
        assert crawl.changed.wait(10) and crawl.calls > before  # no cell asked: the thread did
        watch.button.click()
        assert not watch.watching and watch.button.description == "watch again"
        stopped_at = watch.crawls
        threading.Event().wait(0.3)  # several periods of the watch: none may crawl now
        assert watch.crawls <= stopped_at + 1  # at most the crawl under way when the button was clicked
        watch.stop()  # a state: stopping twice is stopping once
        assert not watch.watching
        watch.button.click()
        assert watch.watching and watch.button.description == "stop watching"
    finally:
        watch.close()
    assert not watch.watching


@pytest.mark.timeout(30)
def test_wait_until_returns_the_first_crawl_that_satisfies_the_condition_and_names_what_timed_out():
    from toycoin.errors import NodeError

    crawl = FakeCrawl()
    watch = RoomWatch("192.168.1.10:8333", every=0.05, crawl=crawl)
    try:
        room = watch.wait_until(lambda _room: crawl.calls >= 3, timeout=10, what="three crawls")
        assert len(room.nodes) == 6 and crawl.calls >= 3
        watch.stop()  # stopped, it crawls by itself while a cell waits
        calls = crawl.calls
        watch.wait_until(lambda _room: crawl.calls >= calls + 2, timeout=10)
        assert not watch.watching
        with pytest.raises(NodeError, match="waiting until a seventh laptop joins; the last crawl found:"):
            watch.wait_until(lambda room: len(room.nodes) == 7, timeout=0.2, what="a seventh laptop joins")
    finally:
        watch.close()


@pytest.mark.timeout(90)
def test_the_watch_draws_a_real_room_of_node_processes_and_sees_a_laptop_leave():
    from toycoin.room import local_room

    with local_room(3) as laptops:
        teacher = laptops.teacher_address
        watch = RoomWatch(teacher, every=0.5)
        try:
            room = watch.wait_until(lambda r: len(r.nodes) == 3 and len(r.links()) == 3, timeout=30,
                                    what="three laptops in a mesh")
            assert sorted(s.name for s in room.nodes.values()) == ["laptop1", "laptop2", "teacher"]
            assert room_summary(room).splitlines()[0] == "3 nodes answered, 0 unreachable"
            labels = node_labels(watch.diagram.value)
            assert {"teacher", "127.0.0.2", "laptop1", "laptop2", "height 0"} <= set(labels)
            laptops["laptop2"].kill()
            room = watch.wait_until(lambda r: len(r.nodes) == 2, timeout=30, what="laptop2 is gone")
            assert sorted(s.name for s in room.nodes.values()) == ["laptop1", "teacher"]
            laptops["teacher"].kill()  # the address the watch started from: it goes on from laptop1
            room = watch.wait_until(lambda r: len(r.nodes) == 1, timeout=30, what="the teacher is gone")
            assert [s.name for s in room.nodes.values()] == ["laptop1"] and teacher in room.unreachable
            assert "unreachable" in node_labels(watch.diagram.value)
        finally:
            watch.close()
