"""Widgets: a panel of buttons that stop and start real nodes, and a live view.

``NetworkPanel(network)`` shows, for a toycoin ``Network``:

* one button per node: "stop A" while node A runs, "start A" while it is down;
  a click really stops the node (its port closes) or starts it again on the
  same port with the same ledger;
* ``stop(name)`` and ``start(name)`` for cells: they set a state rather than
  toggle one, so a cell that stops A leaves A down whether or not the learner
  clicked the button first, or twice (only the button toggles);
* a status line per node ("A: up, height 1, alice 90" or "A: down");
* the network diagram, redrawn whenever a node records an event (a peer
  connects, a connection drops, a block is sealed), not only when a cell runs;
* a progress bar while a node catches up on a long sync (chapter 07), fed
  from the nodes' "sync started", "block applied" and "synced" events;
* with ``split=(["A", "B"], ["C", "D"])`` (chapter 10), a partition switch:
  a "split" button that cuts the network into those groups
  (``Network.partition``) and a "heal" button that mends it
  (``Network.heal``). Each sets a state: "split" on a split network changes
  nothing, so a cell calls ``panel.split()`` / ``panel.heal()`` whatever the
  learner clicked. The status ends with "split: A, B | C, D" while split.

``MinerSwitch(node)`` is one button for a node's miner (chapter 09): "stop
mining B" while B's toycoin.mining.Miner runs, "start mining B" while it
does not, and a line saying so.

Nodes call back on the network thread; the panel never draws there (drawing
runs Graphviz, a separate program). A small redraw thread of the panel's own
collects bursts of events and redraws once per burst.

CSS classes make the panel easy to find in the page, for the browser tests:
``toycoin-panel`` (the whole panel), ``toycoin-toggle-<name>`` (a node's
button), ``toycoin-status``, ``toycoin-diagram``, ``toycoin-sync-progress``,
``toycoin-split`` / ``toycoin-heal`` (the partition switch); ``toycoin-miner``
around a miner switch, ``toycoin-miner-toggle-<name>`` on its button and
``toycoin-miner-status`` on its line.

This is a view: the core never imports it.
"""
from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from toycoin.diagrams import network_diagram
from toycoin.picture import DotNotFoundError
from toycoin.errors import NodeError
from toycoin.events import Event
from toycoin.mining import Miner
from toycoin.network import Network, NetworkSnapshot
from toycoin.node import Node

REDRAW_SETTLE = 0.05  # seconds to let a burst of events settle before one redraw
LONG_SYNC = 20  # blocks behind from which a sync shows a progress bar
SYNC_EVENTS = ("sync started", "block applied", "synced")


class NetworkPanel:
    """Buttons, status and diagram for the nodes of a Network."""

    def __init__(self, network: Network, title: str = "", on_change: Callable[[], None] | None = None,
                 split: Sequence[Sequence[str]] = ()):
        self.network = network
        self.title = title
        self.on_change = on_change
        self.split_groups = tuple(tuple(group) for group in split)
        self.log = w.Output(layout={"max_height": "8em", "overflow": "auto"})
        self.status = w.HTML().add_class("toycoin-status")
        self.diagram = w.HTML().add_class("toycoin-diagram")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="sync",
                                      layout={"visibility": "hidden"}).add_class("toycoin-sync-progress")
        self.buttons = {name: self._make_button(name) for name in self._names()}
        switch: list[w.Button] = []
        if self.split_groups:
            shown = " | ".join(" ".join(group) for group in self.split_groups)
            self.split_button = w.Button(description=f"split {shown}", layout={"width": "auto"},
                                         icon="scissors").add_class("toycoin-split")
            self.heal_button = w.Button(description="heal", layout={"width": "auto"})
            self.heal_button.add_class("toycoin-heal")
            self.split_button.on_click(lambda _button: self.split())
            self.heal_button.on_click(lambda _button: self.heal())
            switch = [self.split_button, self.heal_button]
        controls = w.HBox(list(self.buttons.values()) + switch)
        self.widget = w.VBox([controls, self.progress, self.status, self.diagram,
                              self.log]).add_class("toycoin-panel")
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._closed = False
        self._sync_from = 0  # the height a node's current sync started from
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
        """What the button does: stop the node if it runs, start it if it is down."""
        self._set(name, up=not self.network.node(name).is_running)

    def stop(self, name: str) -> None:
        """Make sure node ``name`` is down (nothing to do if the learner already stopped it)."""
        self._set(name, up=False)

    def start(self, name: str) -> None:
        """Make sure node ``name`` is up (nothing to do if the learner already started it)."""
        self._set(name, up=True)

    def _set(self, name: str, up: bool) -> None:
        node = self.network.node(name)
        if node.is_running == up:
            self.log.append_stdout(f"{name} is already {'up' if up else 'down'}\n")
        elif up:
            self.network.start(name)
            self.log.append_stdout(f"started {name} again on the same port\n")
        else:
            node.stop()
            self.log.append_stdout(f"stopped {name}: its port is closed\n")
        try:
            self.network.wait_settled()  # let the peers notice, then draw what they settled on
        except NodeError as error:
            self.log.append_stdout(f"the network has not settled yet: {error}\n")
        self.refresh()

    def status_text(self) -> str:
        """The status lines, from a fresh snapshot (the same text the panel shows)."""
        return status_text(self.network.snapshot())

    # --- the partition switch (chapter 10) ----------------------------------

    def split(self) -> None:
        """Cut the network into the panel's groups (a state: a second click changes nothing)."""
        self.network.partition(*self.split_groups)
        self.log.append_stdout(f"split: {' | '.join(', '.join(g) for g in self.split_groups)}\n")
        self._settle_and_refresh()

    def heal(self) -> None:
        """Mend the network: every node may reach every other again (a state, like split)."""
        self.network.heal()
        self.log.append_stdout("healed: the nodes reconnect\n")
        self._settle_and_refresh()

    def _settle_and_refresh(self) -> None:
        try:
            self.network.wait_settled()  # let the peers notice, then draw what they settled on
        except NodeError as error:
            self.log.append_stdout(f"the network has not settled yet: {error}\n")
        self.refresh()

    # --- drawing ---------------------------------------------------------

    def refresh(self) -> None:
        """Redraw status, buttons and diagram from a fresh snapshot of the network."""
        with self._lock:
            snapshot = self.network.snapshot()
            for node in snapshot.nodes:
                if node.name in self.buttons:
                    self.buttons[node.name].description = f"{'stop' if node.alive else 'start'} {node.name}"
                    self.buttons[node.name].button_style = "" if node.alive else "warning"
            if self.split_groups:
                self.split_button.button_style = "danger" if snapshot.groups else ""
                self.heal_button.button_style = "" if snapshot.groups else "success"
            self.status.value = "<pre>" + html.escape(status_text(snapshot)) + "</pre>"
            try:
                self.diagram.value = network_diagram(snapshot, title=self.title).svg()
            except DotNotFoundError as exc:
                self.diagram.value = f"<p>{html.escape(str(exc))}</p>"
        if self.on_change:
            self.on_change()

    def _on_event(self, event: Event) -> None:
        # Called on the network thread: only set values and flag, never draw here.
        if event.kind in SYNC_EVENTS:
            self._show_sync(event)
        self._dirty.set()

    def _show_sync(self, event: Event) -> None:
        """Move the progress bar: ``sync_status`` reads the node directly on this thread."""
        node = self.network.node(event.node)
        height, best = node.sync_status()
        if event.kind == "sync started":
            self._sync_from = height
        start = self._sync_from
        if best - start < LONG_SYNC:
            return
        step = max(1, (best - start) // 50)  # about 50 updates per sync, not one per block
        if event.kind != "block applied" or height == best or (height - start) % step == 0:
            self.progress.description = f"{event.node} sync"
            self.progress.max = best - start
            self.progress.value = height - start
            self.progress.layout.visibility = "visible"

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


def status_text(snapshot: NetworkSnapshot) -> str:
    """One line per node: "A: up, height 1, alice 90, bob 10" or "A: down"."""
    lines = []
    for node in snapshot.nodes:
        if not node.alive:
            lines.append(f"{node.name}: down")
            continue
        parts = [f"{node.name}: up", "height ?" if node.height < 0 else f"height {node.height}"]
        parts += [f"{who} {amount}" for who, amount in node.balances]
        parts.append(f"{len(node.peers)} peer{'s' if len(node.peers) != 1 else ''}")
        if getattr(node, "mempool_size", 0):
            parts.append(f"mempool {node.mempool_size}")
        if getattr(node, "syncing_from", ()):
            parts.append(f"syncing from {', '.join(node.syncing_from)}")
        lines.append(", ".join(parts))
    for light in getattr(snapshot, "light_wallets", ()):
        proven = "not checked yet" if light.proven_balance is None else f"proven {light.proven_balance}"
        stuck = f"stuck: {light.node or 'no node'} does not answer"
        where = f"asks {light.node}" if light.connected else stuck
        lines.append(f"{light.name} (light wallet): {where}, {light.header_height + 1} headers, {proven}")
    if getattr(snapshot, "groups", ()):
        lines.append("split: " + " | ".join(", ".join(group) for group in snapshot.groups))
    return "\n".join(lines)


class MinerSwitch:
    """A start/stop button for one node's miner; the miner's state is what the button says."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.miner = node.service(Miner)
        self.button = w.Button(layout={"width": "auto"}).add_class(f"toycoin-miner-toggle-{node.name}")
        self.status = w.HTML().add_class("toycoin-miner-status")
        self.log = w.Output()
        self.widget = w.VBox([w.HBox([self.button, self.status]), self.log]).add_class("toycoin-miner")
        self.button.on_click(lambda _button: self.toggle())
        self.refresh()

    def toggle(self) -> None:
        """Stop the miner if it mines, start it if not."""
        if self.miner.mining:
            self.miner.stop()
            self.log.append_stdout(f"stopped {self.node.name}'s miner\n")
        else:
            self.miner.start()
            self.log.append_stdout(f"started {self.node.name}'s miner\n")
        self.refresh()

    def status_text(self) -> str:
        """"B: mining" or "B: not mining" (the counts change too fast to be worth a line)."""
        return f"{self.node.name}: {'mining' if self.miner.mining else 'not mining'}"

    def refresh(self) -> None:
        mining = self.miner.mining
        self.button.description = f"{'stop' if mining else 'start'} mining {self.node.name}"
        self.button.button_style = "" if mining else "warning"
        self.status.value = f"<pre>{html.escape(self.status_text())}</pre>"

    def close(self) -> None:
        self.widget.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"MinerSwitch\n{self.status_text()}"
        return bundle
