"""Every exercise of every chapter rejects the plausible wrong answers, and says which mistake it is.

Each chapter runs once in a fresh kernel, top to bottom. Right after an
exercise's check cell has run, each wrong answer below is defined in its
place and the check cell runs again: it must not say "Correct", and it must
print the words that name that mistake. Then the learner's empty answer
cell runs again, and the chapter goes on (its worked solution follows).

A wrong answer is what a learner plausibly writes first: a list kept by the
wrong test, a whole transaction counted as spent, a hash taken once instead
of twice, a node that is down counted all the same.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"

# chapter -> the function an exercise asks for -> [(a wrong answer, words its check must print)]
WRONG = {
    "00_welcome": {
        "missing": [
            ("return [c.name for c in checks if c.fix]", "test `ok`, not `fix`"),
            ("return [c for c in checks if not c.ok]", "not the Check objects"),
            ("return [c.name for c in checks if c.ok]", "those are the checks that passed"),
        ],
        "fingerprint": [
            ("return hashlib.sha256(text.encode('utf-8')).hexdigest()", "keep only the first 8"),
            ("return hashlib.sha256(text.encode('utf-8')).hexdigest()[-8:]", "those are the last 8"),
            ("return hashlib.sha256(text.encode('utf-8')).digest()[:8]", "not bytes"),
        ],
    },
    "01_keys_and_signatures": {
        "is_authentic": [
            ("return public_key.verify(sha256(sha256(message)), signature)", "hashed once"),
            ("return alice.public_key.verify(sha256(message), signature)", "the `public_key` you are given"),
            ("return public_key.verify(message, signature)", "sha256"),
        ],
        "signed_by": [
            ("for i, m in enumerate(messages):\n        if public_key.verify(sha256(m), signature):\n"
             "            return i", "not its position"),
            ("for m in messages:\n        if public_key.verify(m, signature):\n            return m",
             "did you hash each one"),
            ("for m in messages:\n        if public_key.verify(sha256(m), signature):\n            return m\n"
             "    return False", "not False"),
        ],
    },
    "02_transactions_and_utxo": {
        "balance_of": [
            ("return sum(output.amount for output in ledger.unspent_for(address))", "unpack it"),
            ("return len(ledger.unspent_for(address))", "how many unspent outputs"),
        ],
        "unspent_outputs": [
            ("spent = {txin.outpoint.txid for tx in txs for txin in tx.inputs}\n"
             "    return sorted((o.amount, names[o.address]) for tx in txs if tx.txid not in spent "
             "for o in tx.outputs)", "not spent as a whole"),
            ("return sorted((o.amount, names[o.address]) for tx in txs for o in tx.outputs)",
             "(100, 'alice') was spent"),
            ("spent = {txin.outpoint for tx in txs for txin in tx.inputs}\n"
             "    return [(o.amount, names[o.address]) for tx in txs for i, o in enumerate(tx.outputs)\n"
             "            if OutPoint(tx.txid, i) not in spent]", "return them sorted"),
        ],
    },
    "03_one_node": {
        "port_is_open": [
            ("with socket.create_connection(address, timeout=5):\n        return True",
             "catch it and return False"),
            ("try:\n        with socket.create_connection(address, timeout=5):\n            return True\n"
             "    except OSError:\n        pass", "return False"),
            ("return socket.create_connection(address, timeout=5)", "not the connection itself"),
        ],
        "stranded": [
            ("return sorted(wallet for wallet, node in snapshot.wallets)",
             "whether or not its node is alive"),
            ("return [node.name for node in snapshot.nodes if not node.alive]",
             "that is the node that is down"),
        ],
    },
    "04_two_nodes": {
        "frame_checksum": [
            ("return hashlib.sha256(payload).digest()[:4]", "a single SHA-256"),
            ("return hashlib.sha256(hashlib.sha256(payload).digest()).hexdigest()[:8]",
             "not hexadecimal text"),
            ("return hashlib.sha256(hashlib.sha256(payload).digest()).digest()", "first 4 bytes"),
        ],
        "views_of": [
            ("return {node.name: dict(node.balances).get(who, 0) for node in snapshot.nodes}",
             "B is down: its snapshot still shows"),
            ("return {node.name: dict(node.balances)['alice'] for node in snapshot.nodes if node.alive}",
             "those are Alice's balances"),
            ("return {node.name: dict(node.balances)[who] for node in snapshot.nodes}",
             "leave out nodes whose `alive` is False"),
        ],
    },
    "05_three_nodes": {
        "mesh_connections": [
            ("return n * (n - 1)", "counted each connection twice"),
            ("return n - 1", "one node's connections"),
            ("return n * n // 2", "does not connect to itself"),
        ],
        "in_one_piece": [
            ("names = {node.name for node in snapshot.nodes}\n"
             "    neighbours = {name: set() for name in names}\n"
             "    for a, b in snapshot.links:\n        neighbours[a].add(b)\n        neighbours[b].add(a)\n"
             "    start = min(names)\n    seen, frontier = {start}, [start]\n    while frontier:\n"
             "        frontier = [n for x in frontier for n in neighbours[x] if n not in seen]\n"
             "        seen.update(frontier)\n    return seen == names", "m1 is down"),
            ("alive = {node.name for node in snapshot.nodes if node.alive}\n"
             "    linked = {name for link in snapshot.links for name in link}\n"
             "    return bool(snapshot.links) and linked == alive", "m4 cannot be reached from m2"),
        ],
    },
    "06_spv_light_client": {
        "proof_length": [
            ("import math\n    return int(math.log2(tx_count))", "rounding down"),
            ("return tx_count.bit_length()", "already the root"),
        ],
        "leads_to_root": [
            ("node = txid\n    for sibling in branch:\n        node = merkle_parent(node, sibling)\n"
             "    return node == root", "(sibling, yours)"),
            ("node = txid\n    for sibling in branch:\n"
             "        node = (merkle_parent(node, sibling) if index % 2 == 0\n"
             "                else merkle_parent(sibling, node))\n"
             "    return node == root", "halve it"),
            ("node, position = txid, index\n    for sibling in branch:\n"
             "        node = (merkle_parent(node, sibling) if position % 2 == 0\n"
             "                else merkle_parent(sibling, node))\n"
             "        position //= 2\n    return node", "not the hash"),
        ],
    },
    "07_ledger_sync": {
        "locator_heights": [
            ("heights, height, step = [], tip, 1\n    while height > 0:\n        heights.append(height)\n"
             "        if len(heights) >= 10:\n            step *= 2\n        height -= step\n"
             "    return heights + [0]", "one height early"),
            ("return list(range(tip, -1, -1))", "every height is too many"),
            ("heights, height, step = [], tip, 1\n    while height > 0:\n        heights.append(height)\n"
             "        height -= step\n        step *= 2\n    return heights + [0]",
             "the first ones come one by one"),
        ],
        "applicable": [
            ("return sorted(h for h in downloaded if h > tip)", "stop at the first gap"),
            ("ready, height = [], tip\n    while height in downloaded:\n        ready.append(height)\n"
             "        height += 1\n    return ready", "start right after the tip"),
        ],
    },
}

ANSWER_CELL = re.compile(r"^def (\w+)\((.*)\):\n    # your code here\n    raise NotImplementedError", re.M)


def run_with_wrong_answers(chapter: str) -> dict[tuple[str, str], str]:
    """Run the chapter; after each check cell, try each wrong answer. (function, answer) -> output."""
    notebook = nbformat.read(CHAPTERS / f"{chapter}.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(CHAPTERS)}})
    printed: dict[tuple[str, str], str] = {}
    answer = None  # (cell, function name, parameters) of the last empty answer cell
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)
            found = ANSWER_CELL.search(cell.source)
            if found:
                answer = (cell, found.group(1), found.group(2))
                continue
            if answer is None or "check(" not in cell.source:
                continue
            stub, name, parameters = answer
            for body in WRONG[chapter].get(name, []):
                wrong = nbformat.v4.new_code_cell(f"def {name}({parameters}):\n    {body[0]}")
                client.execute_cell(wrong, index)
                again = nbformat.v4.new_code_cell(cell.source)
                client.execute_cell(again, index)
                printed[(name, body[0])] = "".join(out.get("text", "") for out in again.outputs)
            client.execute_cell(stub, index)  # unanswered again, as the learner left it
            answer = None
    return printed


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dict[tuple[str, str], str]]:
    return {}


def wrong_answers() -> list:
    return [pytest.param(chapter, name, body, words, id=f"{chapter}-{name}-{number}")
            for chapter, exercises in WRONG.items() for name, answers in exercises.items()
            for number, (body, words) in enumerate(answers, start=1)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("chapter,name,body,words", wrong_answers())
def test_a_wrong_answer_fails_and_names_its_mistake(verdicts, chapter, name, body, words):
    if chapter not in verdicts:
        verdicts[chapter] = run_with_wrong_answers(chapter)
    assert (name, body) in verdicts[chapter], f"{chapter} has no exercise `{name}` with a check cell"
    out = verdicts[chapter][(name, body)]
    assert "Correct" not in out, f"{chapter}: this wrong answer to `{name}` passes:\n{body}\n{out}"
    assert words in out, f"{chapter}: the check of `{name}` does not name the mistake " \
        f"({words!r}) of:\n{body}\nit says:\n{out}"


def test_every_exercise_has_at_least_two_wrong_answers_kept_here():
    # Chapters 00-07; a later chapter joins by adding its wrong answers to WRONG.
    for path in [CHAPTERS / f"{chapter}.ipynb" for chapter in WRONG]:
        notebook = nbformat.read(path, as_version=4)
        names = [m.group(1) for cell in notebook.cells if cell.cell_type == "code"
                 for m in ANSWER_CELL.finditer(cell.source)]
        for name in names:
            kept = WRONG.get(path.stem, {}).get(name, [])
            assert len(kept) >= 2, f"{path.stem}: `{name}` needs wrong answers"
