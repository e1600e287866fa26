"""Widgets: a panel of buttons that stop and start real nodes, and a live view.

``NetworkPanel(network)`` shows, for a toycoin ``Network``:

* one button per node: "stop A" while node A runs, "start A" while it is down;
  a click really stops the node (its port closes) or starts it again on the
  same port with the same ledger;
* a status line per node ("A: up, height 1, alice 90" or "A: down");
* the network diagram, redrawn whenever a node records an event (a peer
  connects, a connection drops, a block is sealed), not only when a cell runs.

Nodes call back on the network thread; the panel never draws there (drawing
runs Graphviz, a separate program). A small redraw thread of the panel's own
collects bursts of events and redraws once per burst.

CSS classes make the panel easy to find in the page, for the browser tests:
``toycoin-panel`` (the whole panel), ``toycoin-toggle-<name>`` (a node's
button), ``toycoin-status`` and ``toycoin-diagram``.

This is a view: the core never imports it.
"""
from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from toycoin.diagrams import DotNotFoundError, network_diagram
from toycoin.errors import NodeError

REDRAW_SETTLE = 0.05  # seconds to let a burst of events settle before one redraw


class NetworkPanel:
    """Buttons, status and diagram for the nodes of a Network."""

    def __init__(self, network: Any, title: str = "", on_change: Callable[[], None] | None = None):
        self.network = network
        self.title = title
        self.on_change = on_change
        self.log = w.Output(layout={"max_height": "8em", "overflow": "auto"})
        self.status = w.HTML().add_class("toycoin-status")
        self.diagram = w.HTML().add_class("toycoin-diagram")
        self.buttons = {name: self._make_button(name) for name in self._names()}
        controls = w.HBox(list(self.buttons.values()))
        self.widget = w.VBox([controls, self.status, self.diagram, self.log]).add_class("toycoin-panel")
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._closed = False
        self.refresh()
        network.subscribe(self._on_event)
        threading.Thread(target=self._redraw_loop, name="toycoin-panel", daemon=True).start()

    def _names(self) -> list[str]:
        return [node.name for node in self.network.snapshot().nodes]

    def _make_button(self, name: str) -> w.Button:
        button = w.Button(description=f"stop {name}", layout={"width": "auto"})
        button.add_class(f"toycoin-toggle-{name}")
        button.on_click(lambda _button, name=name: self.toggle(name))
        return button

    # --- actions ---------------------------------------------------------

    def toggle(self, name: str) -> None:
        """Stop the node if it runs, start it if it is down; then redraw."""
        node = self.network.node(name)
        if node.is_running:
            node.stop()
            self.log.append_stdout(f"stopped {name}: its port is closed\n")
        else:
            node.start()
            self.log.append_stdout(f"started {name} again on the same port\n")
        try:
            self.network.wait_settled()  # let the peers notice, then draw what they settled on
        except NodeError as error:
            self.log.append_stdout(f"the network has not settled yet: {error}\n")
        self.refresh()

    def status_text(self) -> str:
        """The status lines, from a fresh snapshot (the same text the panel shows)."""
        return status_text(self.network.snapshot())

    # --- drawing ---------------------------------------------------------

    def refresh(self) -> None:
        """Redraw status, buttons and diagram from a fresh snapshot of the network."""
        with self._lock:
            snapshot = self.network.snapshot()
            for node in snapshot.nodes:
                if node.name in self.buttons:
                    self.buttons[node.name].description = f"{'stop' if node.alive else 'start'} {node.name}"
                    self.buttons[node.name].button_style = "" if node.alive else "warning"
            self.status.value = "<pre>" + html.escape(status_text(snapshot)) + "</pre>"
            try:
                self.diagram.value = network_diagram(snapshot, title=self.title).svg()
            except DotNotFoundError as exc:
                self.diagram.value = f"<p>{html.escape(str(exc))}</p>"
        if self.on_change:
            self.on_change()

    def _on_event(self, _event: Any) -> None:
        self._dirty.set()  # called on the network thread: only flag, never draw here

    def _redraw_loop(self) -> None:
        while not self._closed:
            self._dirty.wait()
            if self._closed:
                return
            # Let the rest of a burst (handshake, several peers dropping) arrive.
            threading.Event().wait(REDRAW_SETTLE)
            self._dirty.clear()
            self.refresh()

    def close(self) -> None:
        self._closed = True
        self._dirty.set()
        self.network.unsubscribe(self._on_event)
        self.widget.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # The widget's own text repr embeds the SVG; a summary reads better and is stable.
        bundle["text/plain"] = f"NetworkPanel\n{status_text(self.network.snapshot())}"
        return bundle


def status_text(snapshot: Any) -> str:
    """One line per node: "A: up, height 1, alice 90, bob 10" or "A: down"."""
    lines = []
    for node in snapshot.nodes:
        if not node.alive:
            lines.append(f"{node.name}: down")
            continue
        parts = [f"{node.name}: up", "height ?" if node.height < 0 else f"height {node.height}"]
        parts += [f"{who} {amount}" for who, amount in node.balances]
        parts.append(f"{len(node.peers)} peer{'s' if len(node.peers) != 1 else ''}")
        lines.append(", ".join(parts))
    for light in getattr(snapshot, "light_wallets", ()):
        proven = "not checked yet" if light.proven_balance is None else f"proven {light.proven_balance}"
        stuck = f"stuck: {light.node or 'no node'} does not answer"
        where = f"asks {light.node}" if light.connected else stuck
        lines.append(f"{light.name} (light wallet): {where}, {light.header_height + 1} headers, {proven}")
    return "\n".join(lines)
