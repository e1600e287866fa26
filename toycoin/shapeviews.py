"""Shape views: pictures of small random graphs, DHT lookups and chunk maps, and a kill-a-share panel.

Chapter 11 measures networks of 500 nodes and more, and draws them at 10 to
30 (a picture of 500 nodes helps nobody). Each drawing is a
toycoin.picture.Picture: SVG in a notebook, a short description when printed.

    graph_diagram(names, links, down, reached, holders, origin)
                       an unstructured network: who a flood reached, who holds the item
    dht_diagram(nodes, asker, rounds, holders)
                       DHT nodes on a ring in id order; a lookup's questions, round by round
    chunk_map(holdings, chunk_count)
                       a swarm: which peer holds which chunk, one row per peer
    SharePanel(crowds, measure, shares)
                       buttons that set a share of each crowd's nodes down (really killed) and
                       show what ``measure()`` says then; ``choose(share)`` does the same from a cell

CSS classes for the browser: ``toycoin-share-panel``, ``toycoin-share-buttons``,
``toycoin-share-status``. This is a view: the core never imports it.
"""
from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import ipywidgets as w

from toycoin.picture import ACCENT, DOWN, MUTED, UP, Picture, new_graph

HOLDER = "#f9a825"


def graph_diagram(names: Sequence[str], links: Iterable[tuple[str, str]], *, down: Iterable[str] = (),
                  reached: Iterable[str] = (), holders: Iterable[str] = (), origin: str | None = None,
                  title: str = "", layout: str = "neato") -> Picture:
    """Nodes and links; the origin of a search, the nodes it reached, the holders, the dead."""
    down, reached, holders = set(down), set(reached), set(holders)
    graph = new_graph(directed=False, label=title, labelloc="t", layout=layout, overlap="false",
                      splines="true", start="7", pad="0.2")
    for name in names:
        style = {"shape": "circle", "style": "filled", "fontsize": "9", "width": "0.45", "margin": "0.02"}
        if name in down:
            style.update(fillcolor=MUTED, color=DOWN, fontcolor=DOWN, style="filled,dashed")
        elif name == origin:
            style.update(fillcolor=ACCENT, fontcolor="white", color=ACCENT)
        elif name in holders:
            style.update(fillcolor=HOLDER, color=HOLDER)
        elif name in reached:
            style.update(fillcolor="#c8e6c9", color=UP)
        else:
            style.update(fillcolor="white", color=DOWN)
        graph.node(name, name, **style)
    links = sorted(links)
    for a, b in links:
        dead = a in down or b in down
        graph.edge(a, b, color=MUTED if dead else DOWN, style="dashed" if dead else "solid", len="1.1")
    lines = [f"{len(names)} nodes, {len(links)} links"]
    if origin:
        found = ", ".join(sorted(holders)) or "none"
        lines.append(f"search from {origin}: reached {len(reached)}, holders {found}")
    if down:
        lines.append(f"down: {', '.join(sorted(down))}")
    return Picture(graph, "\n".join(lines))


def dht_diagram(nodes: Sequence[tuple[str, bytes]], asker: str, rounds: Sequence[Sequence[str]],
                holders: Iterable[str] = (), title: str = "") -> Picture:
    """The nodes on a ring, sorted by id; arrows from ``asker`` to the nodes asked in each round."""
    holders = set(holders)
    graph = new_graph(directed=True, label=title, labelloc="t", layout="circo", pad="0.2")
    ordered = sorted(nodes, key=lambda item: item[1])
    asked = {name: r for r, names in enumerate(rounds, start=1) for name in names}
    for name, node_id in ordered:
        fill = (ACCENT if name == asker else HOLDER if name in holders
                else "#c8e6c9" if name in asked else "white")
        graph.node(name, f"{name}\n{node_id.hex()[:4]}", shape="circle", style="filled", fillcolor=fill,
                   fontcolor="white" if name == asker else "black", fontsize="8", width="0.55", margin="0.02")
    for (a, _), (b, _) in zip(ordered, ordered[1:] + ordered[:1], strict=True):
        graph.edge(a, b, dir="none", color=MUTED)  # the ring of ids
    for name, r in sorted(asked.items(), key=lambda item: (item[1], item[0])):
        graph.edge(asker, name, color=ACCENT, label=str(r), fontcolor=ACCENT, constraint="false")
    lines = [f"{len(nodes)} nodes on the id ring; {asker} asks"]
    lines += [f"round {r}: {', '.join(names)}" for r, names in enumerate(rounds, start=1)]
    if holders:
        lines.append(f"holders: {', '.join(sorted(holders))}")
    return Picture(graph, "\n".join(lines))


def chunk_map(holdings: Mapping[str, Iterable[int]], chunk_count: int, title: str = "") -> Picture:
    """One row per peer, one cell per chunk: filled where the peer holds that chunk."""
    graph = new_graph(directed=False, label=title, labelloc="t")
    head = "".join(f'<TD WIDTH="14"><FONT POINT-SIZE="8">{i}</FONT></TD>' for i in range(chunk_count))
    rows = [f"<TR><TD></TD>{head}<TD></TD></TR>"]
    lines = []
    for peer, held in holdings.items():
        held = set(held)
        cells = "".join(f'<TD WIDTH="14" HEIGHT="12" BGCOLOR="{UP if i in held else "white"}"></TD>'
                        for i in range(chunk_count))
        rows.append(f'<TR><TD ALIGN="RIGHT">{html.escape(peer)}</TD>{cells}'
                    f'<TD ALIGN="LEFT"><FONT POINT-SIZE="8">{len(held)}/{chunk_count}</FONT></TD></TR>')
        lines.append(f"{peer}: {len(held)}/{chunk_count} chunks")
    table = f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="1" CELLPADDING="0">{"".join(rows)}</TABLE>>'
    graph.node("map", table, shape="plaintext")
    return Picture(graph, "\n".join(lines))


class SharePanel:
    """Buttons that set a share of each crowd's nodes down (toycoin.crowd.Crowd.set_down), and
    what a measurement says then."""

    def __init__(self, crowds: Sequence[Any], measure: Callable[[], str],
                 shares: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.5), title: str = "nodes down") -> None:
        self.crowds, self.measure = list(crowds), measure
        self.buttons = w.ToggleButtons(options=[(f"{share:.0%}", share) for share in shares], value=None,
                                       description=title, style={"description_width": "initial"})
        self.buttons.add_class("toycoin-share-buttons")
        self.status = w.HTML("<pre>choose a share of nodes to kill</pre>").add_class("toycoin-share-status")
        self.log = w.Output(layout=w.Layout(max_height="8em", overflow="auto"))
        self.box = w.VBox([self.buttons, self.status, self.log]).add_class("toycoin-share-panel")
        self.buttons.observe(self._on_choice, names="value")

    def choose(self, share: float) -> str:
        """Set ``share`` of the nodes down (as a click would) and return what the measurement says."""
        if self.buttons.value == share:
            return self._apply(share)
        self.buttons.value = share  # the observer applies it
        return self.text

    @property
    def text(self) -> str:
        return html.unescape(self.status.value.removeprefix("<pre>").removesuffix("</pre>"))

    def _on_choice(self, change: dict) -> None:
        if change["new"] is not None:
            self._apply(change["new"])

    def _apply(self, share: float) -> str:
        down = sum(len(crowd.set_down(share)) for crowd in self.crowds)
        total = sum(len(crowd.peers) for crowd in self.crowds)
        text = f"{down} of {total} nodes down\n{self.measure()}"
        self.status.value = f"<pre>{html.escape(text)}</pre>"
        self.log.append_stdout(f"set {share:.0%} of the nodes down: {down} of {total}\n")
        return text

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = self.box._repr_mimebundle_(**kwargs)  # noqa: SLF001 - ipywidgets' own display hook
        bundle["text/plain"] = f"SharePanel\n{self.text}"  # stable, unlike the widgets' own repr
        return bundle
