"""Block diagrams: Merkle trees and chains of blocks, drawn with graphviz.

Each function returns a toycoin.picture.Picture.

What is in here:
    merkle_diagram     a Merkle tree in leaf order, the path of one proof highlighted
    chain_diagram      the last blocks of several nodes' chains: shared blocks once, forks,
                       and a tag on each node's tip
    link_diagram       each node's whole chain on a row, each block's link to its parent:
                       broken links, headers that do not match, blocks cut off from genesis

This is a view: the core never imports it (tests/test_architecture.py).
Reference: https://developer.bitcoin.org/reference/block_chain.html#merkle-trees
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from toycoin.block import check_merkle_root
from toycoin.errors import ValidationError
from toycoin.picture import ACCENT, MUTED, Picture, new_graph, short

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


# --- each block's link to its parent ----------------------------------------

BROKEN, CUT_OFF, CHANGED = "#ffcdd2", "#ffe0b2", "#bbdefb"


def link_diagram(chains: Mapping[str, Any], title: str = "", reference: str | None = None) -> Picture:
    """Draw each node's whole chain on a row of its own, each block linked to its parent.

    chains: node name -> anything with ``height`` and ``block_at(h)`` (a Ledger,
    or a toycoin.tamper.ChainCopy, which need not be valid). A link holds when
    the block's ``prev_block_hash`` is the hash of the block below it: a grey
    arrow; a broken link is a red dashed arrow that says which hash it names.
    Red: a header whose merkle root does not match the block's transactions;
    orange: blocks above a broken link, cut off from genesis; blue: a block
    that differs from the ``reference`` chain's block at that height (by
    default the first chain by name). Rows are in name order, top to bottom.
    """
    graph = new_graph(rankdir="RL", label=title, labelloc="t", nodesep="0.15", ranksep="0.35")
    graph.attr("node", shape="box", style="rounded,filled", fillcolor=MUTED, fontsize="9")
    names = sorted(chains)
    base = chains[reference or names[0]] if names else None
    lines = []
    for name in reversed(names):  # graphviz stacks clusters bottom up in this layout
        chain = chains[name]
        rows = _link_rows(chain)
        with graph.subgraph(name=f"cluster_{name}") as row:
            row.attr(label=f"node {name}", labeljust="l", style="rounded", color=MUTED, fontsize="10")
            for height, block, mismatch, linked, cut in rows:
                differs = height > base.height or base.block_at(height).hash != block.hash
                fill = BROKEN if mismatch else CUT_OFF if cut else CHANGED if differs else MUTED
                note = "\nroot ≠ txs" if mismatch else ""
                row.node(f"{name}-{height}", f"{height}\n{short(block.hash_hex, 6)}{note}", fillcolor=fill)
                if height == 0:
                    continue
                if linked:
                    row.edge(f"{name}-{height}", f"{name}-{height - 1}", arrowsize="0.5")
                else:
                    named = short(block.header.prev_block_hash[::-1].hex(), 6)
                    row.edge(f"{name}-{height}", f"{name}-{height - 1}", color="#c62828", style="dashed",
                             label=f"✗ {named}", fontsize="8", fontcolor="#c62828", arrowsize="0.5")
        lines.append(_link_summary(name, rows))
    return Picture(graph, "\n".join(reversed(lines)) or "(no chains)")


def _link_rows(chain: Any) -> list[tuple[int, Any, bool, bool, bool]]:
    """(height, block, merkle root mismatched, link to parent holds, cut off from genesis) per block."""
    rows, cut = [], False
    for height in range(chain.height + 1):
        block = chain.block_at(height)
        try:
            check_merkle_root(block)
            mismatch = False
        except ValidationError:
            mismatch = True
        linked = height == 0 or block.header.prev_block_hash == chain.block_at(height - 1).hash
        cut = cut or not linked
        rows.append((height, block, mismatch, linked, cut))
    return rows


def _link_summary(name: str, rows: list[tuple[int, Any, bool, bool, bool]]) -> str:
    chain = " ".join(("" if height == 0 else "<- " if linked else "x- ") + f"{height}:{short(b.hash_hex, 6)}"
                     for height, b, _, linked, _ in rows)
    problems = [f"block {h}'s root does not match its transactions" for h, _, bad, _, _ in rows if bad]
    problems += [f"block {h}'s link is broken" for h, _, _, linked, _ in rows if not linked]
    cut = [h for h, _, _, _, c in rows if c]
    if cut:
        problems.append(f"blocks {cut[0]}-{cut[-1]} are cut off from genesis" if len(cut) > 1
                        else f"block {cut[0]} is cut off from genesis")
    return f"{name}: {chain}: " + ("; ".join(problems) if problems else "every link holds")
