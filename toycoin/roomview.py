"""Room view: one picture of every node a crawl of the classroom reached, and a live panel of it.

A classroom is one network across a LAN: thirty laptops, each a node, the
teacher's one of them. toycoin.roommap crawls it (each node answers a small
``getstatus`` with its name, height, tip, peers and whether it mines) and
returns a ``RoomMap``; this module draws that map, and keeps drawing it.

    draw_room(room, teacher=None, title="")
                       a Picture: every node labelled with its name and height,
                       miners marked, the teacher in the middle, one colour per
                       tip (a fork shows as two colours), unreachable nodes grey
    room_summary(room) the same in a few lines of text: nodes, tips, heights, miners
    tip_groups(room)   the nodes of each tip, the most common tip first
    RoomWatch(start, every=3.0, ...)
                       a panel that crawls the room again every few seconds in a
                       thread of its own (from every node it reached last time, so
                       it outlives the teacher's node) and redraws; a button stops
                       and resumes it; ``refresh()`` crawls once now, from a cell;
                       ``wait_until(predicate)`` waits for a crawl whose map satisfies it

The layout is pinned, not computed: the teacher (``teacher=``; RoomWatch
passes the address it crawls from) in the middle, everyone else on a ring in the
order of their names. A node that joins takes its place on the ring, and
the others move only a little: a live picture that reshuffled itself at
every redraw could not be followed. Thirty nodes and more stay readable
(the ring grows with the room).

CSS classes for the browser: ``toycoin-room`` (the panel), ``toycoin-room-toggle``
(its button), ``toycoin-room-state``, ``toycoin-room-summary``, ``toycoin-room-diagram``.
This is a view: the core never imports it.
"""
from __future__ import annotations

import html
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w

from toycoin import roommap
from toycoin.errors import NodeError, ToycoinError
from toycoin.picture import ACCENT, DOWN, MUTED, UP, Picture, escape, new_graph, short
from toycoin.roommap import RoomMap

# One pale fill per tip, the most common tip first (the chain most of the room follows).
TIP_FILLS = ("#c8e6c9", "#ffe0b2", "#bbdefb", "#f8bbd0", "#d1c4e9", "#fff9c4", "#b2dfdb", "#ffccbc")
SPACING = 1.6  # inches of ring per node: room for "name / height 12 / mining" in a box


def tip_groups(room: RoomMap) -> list[tuple[str, int, list[str]]]:
    """(tip, height, addresses) for each tip some node reported, the most nodes first (then the
    highest, then by tip): the first is the chain most of the room is on."""
    groups: dict[str, list[str]] = {}
    for address, status in room.nodes.items():
        groups.setdefault(status.tip_hex, []).append(address)
    height = {tip: max(room.nodes[a].height for a in addresses) for tip, addresses in groups.items()}
    return sorted(((tip, height[tip], sorted(addresses)) for tip, addresses in groups.items()),
                  key=lambda group: (-len(group[2]), -group[1], group[0]))


def room_summary(room: RoomMap) -> str:
    """A few lines: how many nodes answered, each tip and who is on it, the miners, the unreachable."""
    nodes = room.nodes
    answered = f"{len(nodes)} node{'s' if len(nodes) != 1 else ''} answered"
    lines = [f"{answered}, {len(room.unreachable)} unreachable"]
    groups = tip_groups(room)
    if len(groups) > 1:
        lines.append(f"{len(groups)} tips: the room is split on a fork")
    for tip, height, addresses in groups:
        names = ", ".join(sorted(nodes[a].name for a in addresses))
        lines.append(f"tip {short(tip, 12)} at height {height}: {names}")
    miners = sorted(status.name for status in nodes.values() if status.mining)
    lines.append(f"mining: {', '.join(miners) if miners else 'nobody'}")
    for address in sorted(room.unreachable):
        lines.append(f"unreachable {address}: {room.unreachable[address]}")
    return "\n".join(lines)


def draw_room(room: RoomMap, teacher: str | None = None, title: str = "",
              show_addresses: bool = True) -> Picture:
    """Draw a RoomMap: nodes by name and height, links, miners, the teacher, forks, the unreachable.

    ``teacher``: the address ("host:port") drawn in the middle and outlined
    (RoomWatch passes the address it crawls from).
    ``show_addresses``: put each laptop's host under its name (the port too
    where several nodes share a host), so the teacher can tell who is where.
    """
    nodes: Mapping[str, Any] = room.nodes
    everyone = sorted(set(nodes) | set(room.unreachable))
    ids = {address: f"n{i}" for i, address in enumerate(_ring_order(room, everyone))}
    positions = _positions([a for a in ids if a != teacher], teacher if teacher in ids else None)
    fills = {tip: TIP_FILLS[i % len(TIP_FILLS)] for i, (tip, _, _) in enumerate(tip_groups(room))}
    hosts = [_split(a)[0] for a in everyone]
    graph = new_graph(directed=False, label=title, labelloc="t", layout="neato", overlap="true",
                      splines="false", outputorder="edgesfirst", pad="0.3")
    for address, node_id in ids.items():
        x, y = positions[address]
        where = _where(address, hosts) if show_addresses else ""
        if address in nodes:
            status = nodes[address]
            style = _style(status, fills[status.tip_hex], address == teacher)
            graph.node(node_id, _label(status, where, address == teacher), pos=f"{x:.2f},{y:.2f}!", **style)
        else:
            graph.node(node_id, f"{where or address}\nunreachable", pos=f"{x:.2f},{y:.2f}!", shape="box",
                       style="rounded,dashed,filled", fillcolor=MUTED, color=DOWN, fontcolor="#616161")
    for a, b in sorted(_links(room)):
        if a in ids and b in ids:
            touches_teacher = teacher in (a, b)
            graph.edge(ids[a], ids[b], color=ACCENT if touches_teacher else "#b0bec5",
                       penwidth="1.4" if touches_teacher else "0.8")
    radius = max([abs(c) for place in positions.values() for c in place] or [2.5])
    _legend(graph, room, fills, radius)
    return Picture(graph, _description(room, teacher))


def _ring_order(room: Any, addresses: list[str]) -> list[str]:
    """Addresses by name, then address: the order of the ring, whatever order the crawl found them."""
    def key(address: str) -> tuple[str, str]:
        status = room.nodes.get(address)
        return (status.name if status is not None else "~", address)  # the unreachable last
    return sorted(addresses, key=key)


def _positions(ring: list[str], centre: str | None) -> dict[str, tuple[float, float]]:
    """The centre node at (0, 0); the others evenly on a ring that grows with their number."""
    places = {centre: (0.0, 0.0)} if centre is not None else {}
    radius = max(2.5, SPACING * len(ring) / (2 * math.pi))
    for i, address in enumerate(ring):
        angle = math.pi / 2 - 2 * math.pi * i / max(1, len(ring))  # from the top, clockwise
        places[address] = (round(radius * math.cos(angle), 2), round(radius * math.sin(angle), 2))
    return places


def _split(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host, port


def _where(address: str, hosts: list[str]) -> str:
    """The host alone when it is this node's only, else host:port (several nodes on one machine)."""
    host, _ = _split(address)
    return host if hosts.count(host) == 1 else address


def _label(status: Any, where: str, is_teacher: bool) -> str:
    first = f"{status.name} (teacher)" if is_teacher and "teacher" not in status.name else status.name
    mining = "mining" + (f" {status.hashrate:,.0f} H/s" if status.hashrate else "")
    lines = [first, where, f"height {status.height}", mining if status.mining else ""]
    return "\n".join(line for line in lines if line)


def _style(status: Any, fill: str, is_teacher: bool) -> dict[str, str]:
    style = {"shape": "box", "style": "rounded,filled", "fillcolor": fill, "color": UP, "fontsize": "10"}
    if status.mining:
        style["style"] = "rounded,filled,bold"
    if is_teacher:
        style.update(color=ACCENT, penwidth="3", shape="box", fontsize="11")
    return style


def _legend(graph: Any, room: Any, fills: Mapping[str, str], radius: float) -> None:
    """A key in the corner: one row per tip, in its colour, with how many nodes are on it."""
    groups = tip_groups(room)
    if not groups:
        return
    rows = "".join(f'<TR><TD BGCOLOR="{fills[tip]}" WIDTH="14"></TD><TD ALIGN="LEFT">'
                   f'tip {escape(short(tip))} height {height}: '
                   f'{len(addresses)} node{"s" if len(addresses) != 1 else ""}</TD></TR>'
                   for tip, height, addresses in groups)
    if room.unreachable:
        rows += (f'<TR><TD BGCOLOR="{MUTED}" WIDTH="14"></TD><TD ALIGN="LEFT">unreachable: '
                 f'{len(room.unreachable)}</TD></TR>')
    if any(status.mining for status in room.nodes.values()):
        rows += '<TR><TD></TD><TD ALIGN="LEFT">bold border: mining</TD></TR>'
    graph.node("legend", f'<<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="2">{rows}</TABLE>>',
               shape="plaintext", fontsize="9", pos=f"{radius + 2.6:.2f},{-radius:.2f}!")


def _links(room: Any) -> set[tuple[str, str]]:
    """Each link once, as a sorted pair of addresses (RoomMap.links() gives frozensets)."""
    return {tuple(sorted(pair)) for pair in room.links()}  # type: ignore[misc]


def _description(room: Any, teacher: str | None) -> str:
    lines = [room_summary(room)]
    if teacher in room.nodes:
        lines.append(f"teacher: {room.nodes[teacher].name}")
    return "\n".join(lines)


class RoomWatch:
    """A live picture of the room: crawled again every ``every`` seconds in a thread, and redrawn.

    Each crawl starts from ``start`` and from every node the last crawl reached, so the
    picture outlives the teacher's node: when it dies, it turns grey (unreachable) and the rest
    of the room is still drawn. ``crawl`` is called with that list and ``options`` (default:
    toycoin.roommap.crawl), and returns a RoomMap. The button stops the watching and resumes
    it; ``close()`` ends it.
    """

    def __init__(self, start: str, every: float = 3.0, *, title: str = "the room",
                 teacher: str | None = None, crawl: Callable[..., Any] | None = None, **options: Any) -> None:
        self.start, self.every, self.title = start, every, title
        self.teacher = teacher if teacher is not None else start
        self.options, self._crawl = options, crawl or roommap.crawl
        self.room: Any = None
        self.crawls = 0  # how many crawls the panel has drawn
        self.button = w.Button(description="stop watching", icon="pause", layout={"width": "auto"})
        self.button.add_class("toycoin-room-toggle")
        self.button.on_click(lambda _button: self.toggle())
        self.status = w.HTML().add_class("toycoin-room-state")
        self.summary = w.HTML().add_class("toycoin-room-summary")
        self.diagram = w.HTML().add_class("toycoin-room-diagram")
        self.widget = w.VBox([w.HBox([self.button, self.status]), self.summary,
                              self.diagram]).add_class("toycoin-room")
        self._lock = threading.Lock()
        self._crawled = threading.Condition()  # notified after every crawl
        self._watching = threading.Event()
        self._wake = threading.Event()
        self._closed = False
        self.refresh()
        self._watching.set()
        self._show_state()
        self._thread = threading.Thread(target=self._loop, name="toycoin-room-watch", daemon=True)
        self._thread.start()

    # --- actions ---------------------------------------------------------

    @property
    def watching(self) -> bool:
        return self._watching.is_set() and not self._closed

    def refresh(self) -> Any:
        """Crawl the room now, redraw, and return the RoomMap."""
        known = sorted(self.room.nodes) if self.room is not None else []
        room = self._crawl([self.start, *(a for a in known if a != self.start)], **self.options)
        with self._lock:
            self.room = room
            self.crawls += 1
            self.summary.value = f"<pre>{html.escape(room_summary(room))}</pre>"
            try:
                self.diagram.value = draw_room(room, teacher=self.teacher, title=self.title).svg()
            except ToycoinError as error:  # dot is missing: say how to install it
                self.diagram.value = f"<p>{html.escape(str(error))}</p>"
        with self._crawled:
            self._crawled.notify_all()
        return room

    def wait_until(self, predicate: Callable[[Any], bool], timeout: float = 30.0, what: str = "") -> Any:
        """Wait for a crawl whose RoomMap satisfies ``predicate`` and return that map: the watch's
        own crawls while it watches, crawls made here while it is stopped. NodeError("timed out
        after ...") naming ``what`` and what the last crawl found, if none does in time."""
        end = time.monotonic() + timeout
        with self._crawled:
            while not predicate(self.room):
                left = end - time.monotonic()
                if left <= 0:
                    raise NodeError(f"timed out after {timeout:g}s waiting until "
                                    f"{what or 'the room looks as asked'}; the last crawl found:\n"
                                    f"{room_summary(self.room)}")
                if self.watching:
                    self._crawled.wait(left)  # woken by the watch's next crawl
                else:
                    self.refresh()
            return self.room

    def stop(self) -> None:
        """Stop crawling (a state: stopping twice is stopping once); the last picture stays."""
        self._watching.clear()
        self._show_state()

    def resume(self) -> None:
        """Crawl again every ``every`` seconds (a state, like stop)."""
        self._watching.set()
        self._wake.set()
        self._show_state()

    def toggle(self) -> None:
        """What the button does."""
        if self.watching:
            self.stop()
        else:
            self.resume()

    def close(self) -> None:
        """End the watching thread and close the widgets."""
        self._closed = True
        self._watching.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.summary.value = self.diagram.value = ""  # a closed panel keeps no picture of the room
        for widget in (self.widget, *self.widget.children, self.button, self.status, self.summary,
                       self.diagram):
            widget.close()  # each one: closing a box leaves its children open (and in the notebook)

    # --- the thread ------------------------------------------------------

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.every)  # a pace between crawls, not a condition anyone waits on
            self._wake.clear()
            self._watching.wait()
            if self._closed:
                return
            try:
                self.refresh()
            except Exception as error:  # noqa: BLE001 - a crawl that fails must not end the watching
                self.status.value = f"<pre>last crawl failed: {html.escape(str(error))}</pre>"

    def _show_state(self) -> None:
        watching = self.watching
        self.button.description = "stop watching" if watching else "watch again"
        self.button.icon = "pause" if watching else "play"
        self.button.button_style = "" if watching else "warning"
        every = f"{self.every:g} s"
        self.status.value = (f"<pre>crawling the room every {every}</pre>" if watching
                             else "<pre>stopped: the picture shows the last crawl</pre>")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs)  # noqa: SLF001 - ipywidgets' own display hook
        # The widget's own text repr embeds the SVG; the first crawl's summary reads better.
        bundle["text/plain"] = f"RoomWatch\n{room_summary(self.room)}"
        return bundle
