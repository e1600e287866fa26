"""Picture: a graphviz graph that draws itself in a notebook, or says why it cannot.

Every diagram of the course (toycoin.diagrams, toycoin.blockdiagrams) returns a
``Picture``: in a notebook it shows as SVG; printed, it is a short text
description of the same graph. When Graphviz's ``dot`` program is missing, the
Picture shows a message saying how to install it instead of a traceback, and
``Picture.svg()`` raises ``DotNotFoundError`` with that message.

What is in here:
    Picture            a graph and its description; .svg(), .save(path)
    DotNotFoundError   dot is needed and is not on the PATH
    new_graph          a graph with the course's fonts and colours
    short, escape      hex shortened for labels; text escaped for HTML-like labels

This is a view: the core never imports it (tests/test_architecture.py).
Reference: https://graphviz.readthedocs.io
"""
from __future__ import annotations

import shutil
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


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
