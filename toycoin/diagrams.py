"""Diagrams: graphviz pictures of keys, transactions and live networks.

Each function returns a toycoin.picture.Picture (SVG in a notebook, a short
description when printed, an install hint when ``dot`` is missing).

What is in here:
    key_flow           seed -> private key -> public key -> address
    tx_graph           transactions as boxes, outputs as slots, spends as arrows
    network_diagram    a NetworkSnapshot: nodes up or down, links, heights, balances,
                       and light wallets with the node each one asks; mempools,
                       an arrow on each link a node is syncing blocks over, and
                       a partition: each group in its own colour, the cut links red
    node_positions     where each node of a network is pinned: one network, one layout
    sequence_diagram   messages between participants, top to bottom (the handshake)
    message_sequence   the same, drawn from the events nodes recorded

Pictures of Merkle trees and chains of blocks are in toycoin.blockdiagrams.
This is a view: the core never imports it (tests/test_architecture.py).
Reference: https://graphviz.org/doc/info/lang.html
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from toycoin.picture import ACCENT, DOWN, MUTED, UP, Picture, escape, new_graph, short

# --- keys -------------------------------------------------------------------

def key_flow(seed: str, private_hex: str, public_hex: str, address: str) -> Picture:
    graph = new_graph(rankdir="LR")
    graph.attr("node", shape="box", style="rounded,filled", fillcolor=MUTED)
    steps = [("seed", f'seed\n"{seed}"'), ("private", f"private key\n{short(private_hex)}"),
             ("public", f"public key\n{short(public_hex)}"), ("address", f"address\n{address}")]
    for name, label in steps:
        graph.node(name, label)
    graph.node("private", fillcolor="#ffcdd2")
    graph.edge("seed", "private", "SHA-256")
    graph.edge("private", "public", "× G on secp256k1\n(one way)")
    graph.edge("public", "address", "hash, base58check")
    text = f"seed {seed!r} -> private key -> public key -> address {address}"
    return Picture(graph, text)


# --- transactions -----------------------------------------------------------

def tx_graph(txs: Sequence[Any], names: Mapping[str, str] | None = None,
             spent: Iterable[Any] = (), title: str = "") -> Picture:
    """Draw transactions and the outputs they spend.

    txs: toycoin Tx objects, in any order. names: address -> label ("alice").
    An output spent by one of txs gets an arrow to its spender; other outputs
    are unspent (drawn green) unless their OutPoint is listed in `spent`.
    """
    names = dict(names or {})
    graph = new_graph(rankdir="LR", label=title, labelloc="t")
    graph.attr("node", shape="plaintext")
    spenders = {(i.outpoint.txid, i.outpoint.index): (tx, n)
                for tx in txs if not tx.is_coinbase for n, i in enumerate(tx.inputs)}
    spent_keys = {(o.txid, o.index) for o in spent} | set(spenders)
    lines = []
    for tx in txs:
        graph.node(tx.txid_hex, _tx_table(tx, names, spent_keys))
        kind = "coinbase" if tx.is_coinbase else f"{len(tx.inputs)} in"
        outs = ", ".join(f"{o.amount} to {names.get(o.address, short(o.address))}"
                         for o in tx.outputs)
        lines.append(f"tx {short(tx.txid_hex)} ({kind}): {outs}")
    drawn = {tx.txid for tx in txs}
    for (txid, index), (tx, n) in sorted(spenders.items()):
        if txid in drawn:
            graph.edge(f"{txid[::-1].hex()}:out{index}:e", f"{tx.txid_hex}:in{n}:w", color=ACCENT)
    return Picture(graph, "\n".join(lines))


def _tx_table(tx: Any, names: Mapping[str, str], spent_keys: set) -> str:
    rows = [f'<TR><TD COLSPAN="2" BGCOLOR="{MUTED}"><B>tx {short(tx.txid_hex)}</B></TD></TR>']
    ins = (["coinbase (new coins)"] if tx.is_coinbase else
           [f"spends {short(i.outpoint.txid[::-1].hex())} out {i.outpoint.index}" for i in tx.inputs])
    for n, text in enumerate(ins):
        rows.append(f'<TR><TD PORT="in{n}" COLSPAN="2" ALIGN="LEFT">{escape(text)}</TD></TR>')
    for n, out in enumerate(tx.outputs):
        unspent = (tx.txid, n) not in spent_keys
        who = names.get(out.address, short(out.address))
        state = f'<FONT COLOR="{UP if unspent else DOWN}">{"unspent" if unspent else "spent"}</FONT>'
        rows.append(f'<TR><TD ALIGN="LEFT">out {n}: <B>{out.amount}</B> to {escape(who)}</TD>'
                    f'<TD PORT="out{n}">{state}</TD></TR>')
    table = "".join(rows)
    return f'<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4">{table}</TABLE>>'


# --- networks ---------------------------------------------------------------

def network_diagram(snapshot: Any, title: str = "", layout: str = "neato",
                    centre: str | None = None) -> Picture:
    """Draw a NetworkSnapshot: each node with its height and balances, live links.

    A node that is down is grey and dashed; a node that runs as its own
    operating-system process is drawn as a double box. Wallets are small
    ellipses attached to the node they talk to; light wallets (chapter 06)
    are notes, with a thick edge to the node they ask and thin ones to the
    other nodes they keep connections to.

    Full nodes are pinned where ``node_positions`` puts them, from their names
    alone, so every picture of one network puts A, B and C in the same places
    whoever is down or connected (``centre``: the hub of a star, in the middle).
    While the network is split
    (``snapshot.groups``), each group's nodes have a colour of their own and
    every pair of running nodes in different groups is joined by a red dotted
    edge (the first labelled "cut"), drawn long so the groups stand apart.
    """
    # Every node is pinned (pos="x,y!"), so neato only routes the edges: no overlap removal,
    # which would scale pictures of one network differently.
    graph = new_graph(directed=False, label=title, labelloc="t", layout=layout,
                      overlap="true", splines="line", pad="0.3")
    lines = []
    groups = getattr(snapshot, "groups", ())
    side = {name: i for i, group in enumerate(groups) for name in group}
    positions = node_positions([node.name for node in snapshot.nodes], centre)
    for node in snapshot.nodes:
        x, y = positions[node.name]
        style = _node_style(node)
        if node.alive and node.name in side:
            style["fillcolor"] = GROUP_FILLS[side[node.name] % len(GROUP_FILLS)]
        graph.node(f"node-{node.name}", _node_label(node), pos=f"{x:.2f},{y:.2f}!", **style)
        lines.append(_node_text(node))
    syncing = {(n.name, peer) for n in snapshot.nodes for peer in getattr(n, "syncing_from", ())}
    for a, b in snapshot.links:
        if (a, b) in syncing or (b, a) in syncing:  # blocks flow from the peer to the node behind
            source, sink = (b, a) if (a, b) in syncing else (a, b)
            graph.edge(f"node-{source}", f"node-{sink}", color=ACCENT, penwidth="3", len="2.2",
                       dir="forward", label="blocks", fontcolor=ACCENT)
            lines.append(f"link {a} -- {b}: {sink} syncs from {source}")
        else:
            graph.edge(f"node-{a}", f"node-{b}", color=UP, penwidth="2", len="2.2")
            lines.append(f"link {a} -- {b}")
    alive = {node.name for node in snapshot.nodes if node.alive}
    attached: dict[str | None, int] = {}  # how many wallets are drawn next to each node so far
    for wallet, node_name in snapshot.wallets:
        graph.node(f"wallet-{wallet}", f"{wallet}'s wallet", shape="ellipse",
                   style="filled", fillcolor="#fff8e1", fontsize="10",
                   pos=_next_to(positions, node_name, attached))
        reachable = node_name in alive
        graph.edge(f"wallet-{wallet}", f"node-{node_name}", len="1.4",
                   style="dashed" if reachable else "dotted", color=ACCENT if reachable else "#c62828",
                   label="" if reachable else "no answer", fontcolor="#c62828")
        lines.append(f"wallet {wallet} -> {node_name}" + ("" if reachable else " (no answer)"))
    for light in getattr(snapshot, "light_wallets", ()):
        lines.append(_draw_light_wallet(graph, light, _next_to(positions, light.node, attached, 1.6)))
    lines += _draw_cut(graph, snapshot, side)
    return Picture(graph, "\n".join(lines) or "(no nodes)")


# Where the first nodes of a network go (angles in degrees, on a circle): A on the left,
# the way sequence charts put it, then B and C to its right, a fourth node below left.
SLOTS = {1: (None,), 2: (180, 0), 3: (180, 60, -60), 4: (180, 60, -60, -120)}
RADIUS = 1.9  # inches: room for a node's balances and a wallet between two nodes


def node_positions(names: Sequence[str], centre: str | None = None) -> dict[str, tuple[float, float]]:
    """Fixed places (inches) for nodes, from their names alone: the same network, the same picture.

    Names in sorted order take the slots above; from five nodes on, a circle
    (with ``centre``, the hub of a star, in the middle).
    """
    ordered = sorted(name for name in names if name != centre)
    places = {centre: (0.0, 0.0)} if centre in names else {}
    angles = SLOTS.get(len(ordered)) or tuple(180 - 360 * i / len(ordered) for i in range(len(ordered)))
    radius = max(RADIUS, 0.45 * len(ordered))
    for name, angle in zip(ordered, angles, strict=True):
        places[name] = (0.0, 0.0) if angle is None else (round(radius * math.cos(math.radians(angle)), 2),
                                                         round(radius * math.sin(math.radians(angle)), 2))
    return places


def _next_to(positions: dict[str, tuple[float, float]], node: str | None, attached: dict[str | None, int],
             distance: float = 1.15) -> str:
    """A pinned place for the next wallet drawn next to ``node``: outwards, away from the
    other nodes, a fan of them when there are several (below the picture if no node)."""
    k = attached.get(node, 0)
    attached[node] = k + 1
    x, y = positions.get(node, (0.0, -max([RADIUS, *(abs(p[1]) for p in positions.values())])))
    outward = math.atan2(y, x) if (x, y) != (0.0, 0.0) else math.radians(90)
    turn = math.radians(50) * ((k + 1) // 2) * (1 if k % 2 else -1)  # 0, +50, -50, +100 degrees...
    if node not in positions:
        outward = math.radians(-90)
    angle = outward + turn
    return f"{x + distance * math.cos(angle):.2f},{y + distance * math.sin(angle):.2f}!"


GROUP_FILLS = ("#e8f5e9", "#fff3e0", "#e3f2fd", "#f3e5f5")  # one pale colour per group of a partition
CUT = "#c62828"


def _draw_cut(graph: Any, snapshot: Any, side: Mapping[str, int]) -> list[str]:
    """The partition, if any: a red dotted "cut" edge between running nodes of different groups."""
    if not side:
        return []
    alive = sorted(node.name for node in snapshot.nodes if node.alive and node.name in side)
    pairs = [(a, b) for a in alive for b in alive if a < b and side[a] != side[b]]
    for n, (a, b) in enumerate(pairs):  # one label is enough: more overlap in the middle
        graph.edge(f"node-{a}", f"node-{b}", color=CUT, style="dotted", len="3.6",
                   label="cut" if n == 0 else "", fontcolor=CUT)
    groups = " | ".join(", ".join(group) for group in snapshot.groups)
    return [f"split into {groups}: no connection between the groups"]


def _draw_light_wallet(graph: Any, light: Any, pos: str) -> str:
    """A light wallet (toycoin.spv.LightSnapshot): a solid edge to the node it asks,
    thin ones to the other nodes it keeps connections to; red and dotted when stuck."""
    proven = "not yet checked" if light.proven_balance is None else light.proven_balance
    label = f"{light.name}\nlight wallet\n{light.header_height + 1} headers\nproven: {proven}"
    graph.node(f"light-{light.name}", label, shape="note", style="filled", fillcolor="#fff8e1",
               fontsize="10", pos=pos)
    colour = ACCENT if light.connected else "#c62828"
    if light.node is not None:
        graph.edge(f"light-{light.name}", f"node-{light.node}", len="1.4", penwidth="2", color=colour,
                   style="solid" if light.connected else "dotted", fontcolor=colour,
                   label="asks" if light.connected else "no answer")
    for other in light.nodes:
        if other != light.node:
            graph.edge(f"light-{light.name}", f"node-{other}", len="1.8", style="dashed", color=DOWN)
    banned = getattr(light, "banned", ())
    for liar in banned:  # caught lying: cut off, and never dialled again
        graph.edge(f"light-{light.name}", f"node-{liar}", len="1.8", color="#c62828", penwidth="2",
                   style="dashed", dir="forward", arrowhead="tee", label="banned: lied",
                   fontcolor="#c62828")
    cut_off = f"; banned {', '.join(banned)}" if banned else ""
    if not light.connected:
        where = f"{light.node} does not answer" if light.node else "no node yet"
        return f"light wallet {light.name}: stuck, {where}{cut_off}"
    others = [n for n in light.nodes if n != light.node]
    also = f" (also connected to {', '.join(others)})" if others else ""
    return (f"light wallet {light.name} asks {light.node}{also}: "
            f"{light.header_height + 1} headers, proven {proven}{cut_off}")


def _node_label(node: Any) -> str:
    if not node.alive:
        return f"{node.name}\ndown"
    height = "height ?" if node.height < 0 else f"height {node.height}"
    balances = "\n".join(f"{who}: {amount}" for who, amount in node.balances)
    return "\n".join(part for part in (node.name, height, _sync_text(node), balances) if part)


def _sync_text(node: Any) -> str:
    """'syncing to 120, mempool 2': only for nodes that sync (chapter 07 on), else ''."""
    parts = []
    if getattr(node, "best_height", -1) > node.height >= 0:
        parts.append(f"syncing to {node.best_height}")
    if getattr(node, "mempool_size", 0):
        parts.append(f"mempool {node.mempool_size}")
    return ", ".join(parts)


def _node_style(node: Any) -> dict[str, str]:
    shape = "doubleoctagon" if getattr(node, "is_process", False) else "box"
    if node.alive:
        return {"shape": shape, "style": "rounded,filled", "fillcolor": "#e8f5e9", "color": UP}
    return {"shape": shape, "style": "rounded,dashed,filled", "fillcolor": MUTED,
            "color": DOWN, "fontcolor": "#616161"}


def _node_text(node: Any) -> str:
    if not node.alive:
        return f"node {node.name}: down"
    balances = ", ".join(f"{who} {amount}" for who, amount in node.balances)
    height = "?" if node.height < 0 else node.height
    extra = ", ".join(part for part in (_sync_text(node), balances) if part)
    return f"node {node.name}: up, height {height}" + (f", {extra}" if extra else "")


def sequence_diagram(participants: Sequence[str],
                     messages: Sequence[tuple[str, str, str]], title: str = "") -> Picture:
    """A message-sequence chart: one lifeline per participant, time flowing down.

    messages: (sender, receiver, label) in the order they happened.
    Graphviz has no sequence diagrams, so each lifeline is a column of
    invisible points, one per step, and a message is an edge between the two
    points of its step (held on one rank, so it is drawn level).
    """
    graph = new_graph(rankdir="TB", label=title, labelloc="t", nodesep="1.6", ranksep="0.35")
    steps = len(messages) + 1
    for p in participants:
        graph.node(f"{p}-head", p, shape="box", style="rounded,filled", fillcolor="#e3f2fd")
        previous = f"{p}-head"
        for step in range(steps):
            point = f"{p}-{step}"
            graph.node(point, "", shape="point", width="0.01", color=DOWN)
            graph.edge(previous, point, arrowhead="none", style="dashed", color=DOWN, weight="100")
            previous = point
    for step in range(steps):
        with graph.subgraph() as rank:
            rank.attr(rank="same")
            for p in participants:
                rank.node(f"{p}-{step}")
    lines = []
    for step, (sender, receiver, label) in enumerate(messages):
        graph.edge(f"{sender}-{step}", f"{receiver}-{step}", label=f" {label} ",
                   color=ACCENT, constraint="false")
        lines.append(f"{step + 1}. {sender} -> {receiver}: {label}")
    return Picture(graph, "\n".join(lines))


def message_sequence(events: Iterable[Any], participants: Sequence[str], title: str = "") -> Picture:
    """The messages sent between ``participants``, from nodes' recorded events.

    Only "send" events count (each message once, at its sender), in the order
    the events happened.
    """
    messages = [(e.node, e.peer, e.detail) for e in sorted(events, key=lambda e: e.seq)
                if e.kind == "send" and e.node in participants and e.peer in participants]
    return sequence_diagram(participants, messages, title=title)
