"""Imports point one way: from primitives up to the network, then to the views.

Each module of toycoin belongs to a layer (the order in the design and in
toycoin/__init__.py). A module may import modules of its own layer or of a lower
one, never of a higher one, so the core can be read, tested and reused without
the network, and nothing but the views needs graphviz or ipywidgets.
"""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "toycoin"

# Lowest first. A module may import only modules in its own layer or the layers before it.
LAYERS: list[tuple[str, ...]] = [
    # toycoin/__init__.py runs before any submodule, so it must import nothing heavy.
    ("__init__", "params", "errors"),
    ("encoding",),
    ("secp",),
    ("keys",),
    ("tx",),
    ("merkle",),
    ("block",),
    ("pow",),
    ("headers",),
    ("sigcache", "utxoset"),
    ("ledger",),
    ("txindex",),
    ("wallet",),
    # messages and their framing
    ("message",),
    ("chunks", "kbucket"),
    ("msg_control", "msg_data", "msg_wallet"),
    ("msg_swarm", "msg_dht", "msg_room"),
    ("wire",),
    # the one connection layer, for every kind of peer
    ("runtime",),
    ("peer",),
    ("listener",),
    ("events",),
    ("addrman",),
    ("dialler",),
    ("eviction",),
    ("connman",),
    ("peerman",),
    # a full node and the services the chapters add to it
    ("mempool", "store"),
    ("service",),
    ("relay", "sync", "mining"),
    ("node",),
    # wallets on the same connection layer, a node that lies to them, one that serves a tampered chain
    ("client", "peergroup"),
    ("spv", "liar", "tamper"),
    ("roommap",),  # a classroom's map, crawled from status messages (the cli checks a name against it)
    # nodes as programs, and many nodes at once
    ("cli",),
    ("process",),
    ("network",),
    ("room",),  # joining a classroom, a room of processes
    # other network shapes on the same connection layer (chapter 11)
    ("crowd", "tracker", "flood", "dht"),
    ("swarm",),
    ("attack",),  # the whitepaper's formula, and races read off block finds (imports nothing)
    ("__main__",),
    # views and course helpers: never imported by anything above
    ("envcheck", "exercises"),
    ("picture",),
    ("diagrams", "blockdiagrams", "shapeviews", "roomview"),
    ("widgets",),
]
VIEWS = {"envcheck", "exercises", "picture", "diagrams", "blockdiagrams", "shapeviews", "roomview", "widgets"}
VIEW_LIBRARIES = {"graphviz", "ipywidgets"}
LAYER_OF = {name: level for level, layer in enumerate(LAYERS) for name in layer}


def modules() -> list[str]:
    return sorted(path.stem for path in PACKAGE.glob("*.py"))


def imports_of(module: str) -> tuple[set[str], set[str]]:
    """(toycoin modules imported, outside top-level packages imported), anywhere in the file."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    ours, outside = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "toycoin":
                    ours.add(parts[1] if len(parts) > 1 else "__init__")
                else:
                    outside.add(parts[0])
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and module.split(".")[0] != "toycoin":
                outside.add(module.split(".")[0])
            elif module in ("", "toycoin"):  # from toycoin import keys; from . import keys
                ours.update(alias.name for alias in node.names)
            else:  # from toycoin.keys import X; from .keys import X
                ours.add(module.split(".")[-1])
    return ours, outside


def test_every_module_has_a_layer():
    unknown = [name for name in modules() if name not in LAYER_OF]
    assert not unknown, (f"toycoin/{unknown[0]}.py is in no layer: add it to LAYERS in "
                         "tests/test_architecture.py, at the place the design gives it")


def test_imports_point_only_downwards():
    problems = []
    for name in modules():
        ours, _ = imports_of(name)
        for imported in sorted(ours):
            if imported in LAYER_OF and LAYER_OF[imported] > LAYER_OF.get(name, -1):
                problems.append(f"toycoin/{name}.py imports {imported}, which is in a higher layer")
    assert not problems, "\n".join(problems)


def test_only_the_views_use_graphviz_or_ipywidgets():
    problems = []
    for name in modules():
        if name in VIEWS:
            continue
        _, outside = imports_of(name)
        problems += [f"toycoin/{name}.py imports {lib}" for lib in sorted(outside & VIEW_LIBRARIES)]
    assert not problems, "the core must not import view libraries:\n" + "\n".join(problems)


def test_the_checker_sees_every_import_form(tmp_path, monkeypatch):
    # The test above is only as good as imports_of: check it on each way to write an import.
    source = ("import graphviz\nimport toycoin.keys\nfrom toycoin import tx, merkle\n"
              "from toycoin.block import Block\nfrom . import ledger\nfrom .wallet import Wallet\n"
              "def lazy():\n    from ipywidgets import Button\n")
    (tmp_path / "sample.py").write_text(source)
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path)
    ours, outside = imports_of("sample")
    assert ours == {"keys", "tx", "merkle", "block", "ledger", "wallet"}
    assert outside == {"graphviz", "ipywidgets"}


def test_no_module_touches_another_objects_private_names():
    # Modules work together through public names: ruff's SLF001 flags obj._name where obj is not self.
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "SLF001", "--no-cache",
                             "--output-format", "concise", str(PACKAGE)],
                            capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, "private names used across objects:\n" + result.stdout


def test_importing_the_core_loads_no_view_library():
    # The same rule, checked at run time, in a fresh interpreter.
    code = ("import sys, toycoin.wallet, toycoin.ledger; "
            "print(sorted(set(sys.modules) & {'graphviz', 'ipywidgets', 'IPython'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=PACKAGE.parent, check=True)
    assert result.stdout.strip() == "[]"
