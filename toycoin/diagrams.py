"""Diagrams: graphviz pictures of keys, transactions, Merkle trees and live networks.

Every function returns a ``Picture``: in a notebook it shows as SVG; printed, it
is a short text description of the same graph. When Graphviz's ``dot`` program
is missing, the Picture shows a message saying how to install it instead of a
traceback, and ``Picture.svg()`` raises ``DotNotFoundError`` with that message.

What is in here:
    Picture            a graph that renders itself, or explains why it cannot
    key_flow           seed -> private key -> public key -> address, and signing
    tx_graph           transactions as boxes, outputs as slots, spends as arrows
    network_diagram    a NetworkSnapshot: nodes up or down, links, heights, balances,
                       and light wallets with the node each one asks; mempools,
                       and an arrow on each link a node is syncing blocks over
    sequence_diagram   messages between participants, top to bottom (the handshake)
    message_sequence   the same, drawn from the events nodes recorded
    merkle_diagram     a Merkle tree in leaf order, the path of one proof highlighted
    chain_diagram      the last blocks of several nodes' chains: shared blocks once, forks,
                       and a tag on each node's tip

This is a view: the core never imports it (tests/test_architecture.py).
Reference: https://graphviz.org/doc/info/lang.html
"""
from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import graphviz

from toycoin.errors import ToycoinError

DOT_HELP = ("Graphviz's `dot` program is not installed, so this diagram cannot be drawn. "
            "Install it with `sudo apt-get install graphviz` (Debian/Ubuntu), "
            "`brew install graphviz` (macOS) or `winget install graphviz` (Windows), "
            "then restart the kernel.")

UP, DOWN, ACCENT, MUTED = "#2e7d32", "#9e9e9e", "#1565c0", "#eeeeee"
FONT = {"fontname": "Helvetica", "fontsize": "11"}


class DotNotFoundError(ToycoinError):
    """Graphviz's dot program is needed to draw and is not on the PATH."""


class Picture:
    """A graphviz graph plus a plain-text description of what it shows."""

    def __init__(self, graph: graphviz.Digraph | graphviz.Graph, description: str):
        self.graph = graph
        self.description = description

    def svg(self) -> str:
        if shutil.which("dot") is None:
            raise DotNotFoundError(DOT_HELP)
        return self.graph.pipe(format="svg", encoding="utf-8")

    def save(self, path: str, fmt: str = "png") -> None:
        """Write the picture to a file (used for the README's images)."""
        if shutil.which("dot") is None:
            raise DotNotFoundError(DOT_HELP)
        with open(path, "wb") as out:
            out.write(self.graph.pipe(format=fmt))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        if shutil.which("dot") is None:
            return {"text/plain": f"{DOT_HELP}\n\n{self.description}"}
        return {"image/svg+xml": self.svg(), "text/plain": self.description}

    def __repr__(self) -> str:
        return self.description


def new_graph(directed: bool = True, **graph_attr: str) -> graphviz.Digraph | graphviz.Graph:
    cls = graphviz.Digraph if directed else graphviz.Graph
    graph = cls(graph_attr={"bgcolor": "transparent", **FONT, **graph_attr},
                node_attr={**FONT}, edge_attr={"fontname": "Helvetica", "fontsize": "10"})
    return graph


def short(hex_string: str, n: int = 8) -> str:
    return hex_string[:n] + "…"


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
        rows.append(f'<TR><TD PORT="in{n}" COLSPAN="2" ALIGN="LEFT">{_esc(text)}</TD></TR>')
    for n, out in enumerate(tx.outputs):
        unspent = (tx.txid, n) not in spent_keys
        who = names.get(out.address, short(out.address))
        state = f'<FONT COLOR="{UP if unspent else DOWN}">{"unspent" if unspent else "spent"}</FONT>'
        rows.append(f'<TR><TD ALIGN="LEFT">out {n}: <B>{out.amount}</B> to {_esc(who)}</TD>'
                    f'<TD PORT="out{n}">{state}</TD></TR>')
    table = "".join(rows)
    return f'<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4">{table}</TABLE>>'


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- networks ---------------------------------------------------------------

def network_diagram(snapshot: Any, title: str = "", layout: str = "neato") -> Picture:
    """Draw a NetworkSnapshot: each node with its height and balances, live links.

    A node that is down is grey and dashed; a node that runs as its own
    operating-system process is drawn as a double box. Wallets are small
    ellipses attached to the node they talk to; light wallets (chapter 06)
    are notes, with a thick edge to the node they ask and thin ones to the
    other nodes they keep connections to.
    """
    graph = new_graph(directed=False, label=title, labelloc="t", layout=layout,
                      overlap="false", splines="true", pad="0.3", sep="+12", start="7")
    lines = []
    for node in snapshot.nodes:
        graph.node(f"node-{node.name}", _node_label(node), **_node_style(node))
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
    for wallet, node_name in snapshot.wallets:
        graph.node(f"wallet-{wallet}", f"{wallet}'s wallet", shape="ellipse",
                   style="filled", fillcolor="#fff8e1", fontsize="10")
        reachable = node_name in alive
        graph.edge(f"wallet-{wallet}", f"node-{node_name}", len="1.4",
                   style="dashed" if reachable else "dotted", color=ACCENT if reachable else "#c62828",
                   label="" if reachable else "no answer", fontcolor="#c62828")
        lines.append(f"wallet {wallet} -> {node_name}" + ("" if reachable else " (no answer)"))
    for light in getattr(snapshot, "light_wallets", ()):
        lines.append(_draw_light_wallet(graph, light))
    return Picture(graph, "\n".join(lines) or "(no nodes)")


def _draw_light_wallet(graph: Any, light: Any) -> str:
    """A light wallet (toycoin.spv.LightSnapshot): a solid edge to the node it asks,
    thin ones to the other nodes it keeps connections to; red and dotted when stuck."""
    proven = "not yet checked" if light.proven_balance is None else light.proven_balance
    label = f"{light.name}\nlight wallet\n{light.header_height + 1} headers\nproven: {proven}"
    graph.node(f"light-{light.name}", label, shape="note", style="filled", fillcolor="#fff8e1",
               fontsize="10")
    colour = ACCENT if light.connected else "#c62828"
    if light.node is not None:
        graph.edge(f"light-{light.name}", f"node-{light.node}", len="1.4", penwidth="2", color=colour,
                   style="solid" if light.connected else "dotted", fontcolor=colour,
                   label="asks" if light.connected else "no answer")
    for other in light.nodes:
        if other != light.node:
            graph.edge(f"light-{light.name}", f"node-{other}", len="1.8", style="dashed", color=DOWN)
    if not light.connected:
        where = f"{light.node} does not answer" if light.node else "no node yet"
        return f"light wallet {light.name}: stuck, {where}"
    others = [n for n in light.nodes if n != light.node]
    also = f" (also connected to {', '.join(others)})" if others else ""
    return (f"light wallet {light.name} asks {light.node}{also}: "
            f"{light.header_height + 1} headers, proven {proven}")


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


# --- Merkle trees -----------------------------------------------------------

def merkle_diagram(levels: Sequence[Sequence[bytes]], labels: Sequence[str] = (),
                   proof_index: int | None = None) -> Picture:
    """Draw a Merkle tree from its levels (leaves first, root last), left to right in order.

    With proof_index, the leaf being proved and its path to the root are blue
    and the sibling hashes a proof must carry are orange. On a level with an
    odd count, the last hash is paired with a copy of itself (Bitcoin's rule):
    the copy is drawn dashed.
    """
    graph = new_graph(rankdir="BT", nodesep="0.25")
    graph.attr("node", shape="box", style="rounded,filled", fillcolor=MUTED, fontsize="10")
    path, siblings = _proof_marks(levels, proof_index)
    for depth, level in enumerate(levels):
        kind = "root" if depth == len(levels) - 1 else ("tx" if depth == 0 else "hash")
        paired = list(level) + ([level[-1]] if len(level) % 2 and kind != "root" else [])
        with graph.subgraph() as row:
            row.attr(rank="same")
            for i, digest in enumerate(paired):
                original = min(i, len(level) - 1)  # the copy is named after the hash it copies
                name = labels[original] if depth == 0 and original < len(labels) else ""
                label = f"{name}\n{kind}" if name else kind
                if i == len(level):
                    label = f"copy of {name or kind}"
                colour = ("#bbdefb" if (depth, i) in path else
                          "#ffe0b2" if (depth, i) in siblings else MUTED)
                row.node(f"{depth}-{i}", f"{label}\n{digest[::-1].hex()[:8]}…", fillcolor=colour,
                         style="rounded,filled" if i < len(level) else "rounded,filled,dashed")
            # Graphviz orders a rank as it likes; parent(a, b) != parent(b, a), so chain
            # each rank left to right with invisible edges.
            for i in range(1, len(paired)):
                row.edge(f"{depth}-{i - 1}", f"{depth}-{i}", style="invis")
        if kind != "root":
            for i in range(len(paired)):
                graph.edge(f"{depth}-{i}", f"{depth + 1}-{i // 2}", arrowhead="none")
    text = " / ".join(f"level {d}: {len(level)} {'hash' if len(level) == 1 else 'hashes'}"
                      for d, level in enumerate(levels))
    if proof_index is not None:
        text += f"; proof for leaf {proof_index} carries {len(siblings)} sibling hashes"
    return Picture(graph, text)


def _proof_marks(levels: Sequence[Sequence[bytes]],
                 index: int | None) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(level, position) of the proved path, and of the siblings its proof carries."""
    if index is None:
        return set(), set()
    path, siblings = set(), set()
    for depth in range(len(levels)):
        path.add((depth, index))
        if depth + 1 < len(levels):
            # On an odd level the last hash is paired with a copy of itself (Bitcoin's
            # rule); merkle_diagram draws the copy at position len(level), which is index ^ 1.
            siblings.add((depth, index ^ 1))
        index //= 2
    return path, siblings


# --- chains of blocks -------------------------------------------------------

def chain_diagram(chains: Mapping[str, Any], depth: int = 3, title: str = "",
                  names: Mapping[str, str] | None = None) -> Picture:
    """Draw the last ``depth`` blocks of each node's chain, oldest on the left.

    chains: node name -> its toycoin Ledger (anything with ``height``,
    ``block_at(h)`` and ``tip_hash``). A block two chains share is drawn once,
    so a fork shows as two blocks on the same parent. Each block points to its
    parent and says who sealed it: ``names`` maps the address its coinbase
    pays (a miner's) to a label such as "A's miner". Each node's name is a tag
    on its tip. Blocks that not every chain holds are blue.
    """
    names = dict(names or {})
    graph = new_graph(rankdir="RL", label=title, labelloc="t", nodesep="0.3", ranksep="0.4")
    graph.attr("node", shape="box", style="rounded,filled", fillcolor=MUTED, fontsize="10")
    blocks = _blocks_to_draw(chains, depth)  # hash_hex -> (height, block, names of chains holding it)
    lines = []
    # Oldest first; at a fork, the branch of the first node by name first (then by hash).
    order = sorted(blocks, key=lambda h: (blocks[h][0], blocks[h][2], h))
    for hash_hex in order:
        height, block, holders = blocks[hash_hex]
        sealer = _sealer(block, height, names)
        everyone = len(holders) == len(chains)
        graph.node(f"block-{hash_hex}", f"height {height}\nhash {short(hash_hex)}\n{sealer}",
                   fillcolor=MUTED if everyone else "#bbdefb")
        parent = block.header.prev_block_hash[::-1].hex()
        if parent in blocks:
            graph.edge(f"block-{hash_hex}", f"block-{parent}")
        elif height > 0:  # its parent is older than the picture goes back
            graph.node(f"earlier-{parent}", "…", shape="plaintext", style="")
            graph.edge(f"block-{hash_hex}", f"earlier-{parent}", style="dashed")
        lines.append(f"block {height} {short(hash_hex)} {sealer}: on {', '.join(holders)}")
    for name in sorted(chains):
        ledger = chains[name]
        tip = ledger.tip_hash[::-1].hex()
        graph.node(f"tip-{name}", name, shape="cds", fillcolor="#fff8e1", color=ACCENT, fontsize="9")
        graph.edge(f"tip-{name}", f"block-{tip}", color=ACCENT, arrowsize="0.6")
        lines.append(f"tip of {name}: height {ledger.height}, block {short(tip)}")
    return Picture(graph, "\n".join(lines) or "(no chains)")


def _blocks_to_draw(chains: Mapping[str, Any], depth: int) -> dict[str, tuple[int, Any, list[str]]]:
    """Every block within ``depth`` of some tip, with the sorted names of the chains holding it."""
    blocks: dict[str, tuple[int, Any, list[str]]] = {}
    for name in sorted(chains):
        ledger = chains[name]
        for height in range(max(0, ledger.height - depth + 1), ledger.height + 1):
            block = ledger.block_at(height)
            blocks[block.hash_hex] = (height, block, [])
    for hash_hex, (height, _, holders) in blocks.items():
        holders.extend(name for name in sorted(chains) if chains[name].height >= height
                       and chains[name].block_at(height).hash_hex == hash_hex)
    return blocks


def _sealer(block: Any, height: int, names: Mapping[str, str]) -> str:
    if height == 0:
        return "genesis"
    address = block.txs[0].outputs[0].address  # the coinbase pays whoever sealed the block
    return f"sealed by {names.get(address, short(address))}"

