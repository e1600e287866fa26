"""The course as a learner meets it: every chapter in JupyterLab, in Chromium.

* Every notebook in chapters/ runs with Run All and no cell shows an error
  (except the cells tagged ``raises-exception``, which are there to fail).
* Every chapter with a node-failure widget panel: run the cells down to the
  panel, click a node's stop button and see the node shown as down and the
  diagram change; click start and see it come back; then run the rest of the
  chapter, which must still show no error. (Run All alone leaves nothing to
  click: a chapter closes its panel and network at the end.) A screenshot of
  the panel with the node down is the chapter's demo picture:
  images/demo_<chapter>.png when TOYCOIN_UPDATE_IMAGES=1.
* The learner does what the prose says before the cell does it: click the
  stop button of the node the chapter stops (once, or twice: stop then start)
  and only then run the rest. A cell that stops or starts a node sets a state
  (``panel.stop("A")``), so no cell may show an error and every line the
  cells print after the panel must be the one stored in the notebook (with
  nbval's sanitizing), exercise verdicts included.
* Every chapter with a miner's start/stop switch (chapter 09 on): run the
  cells down to the switch, click stop, start and stop again, and see the
  button and the status line follow; then run the rest, whose next cell
  stops the miner too (a state, so stopping twice is fine) and must show no
  error. The screenshot of the stopped switch is images/demo_<chapter>.png
  when the chapter has no node panel.
* Every chapter with a partition switch (chapter 10: ``split`` and ``heal``
  buttons in the panel) and the cells that set the same states
  (``panel.split()``, ``panel.heal()``): click split before the cell that splits, and
  heal before the cell that heals; the status and the diagram must follow each
  click, the cells must leave the network as the click did, and the chapter
  must still show no error.
* The harness itself is tested on a small notebook it writes: a hand-built
  panel, a cell tagged raises-exception and a cell that really fails.

The panel is found by its CSS classes (see toycoin/widgets.py):
``toycoin-panel`` around it all, ``toycoin-toggle-<NAME>`` on each node's
button ("stop NAME" / "start NAME"), ``toycoin-status`` with one line per node
("NAME: up, ..." or "NAME: down") and ``toycoin-diagram`` holding the SVG.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jupyterlab_harness import (
    CELLS, Notebooks, chapter_notebooks, miner_chapters, miner_switch_cell, panel_cell, panel_chapters,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
CLICK_TIMEOUT_MS = 60_000  # stopping or starting a node, then redrawing with Graphviz


def chapter_params(paths: list[Path]) -> list:
    return [pytest.param(path.stem, id=path.stem) for path in paths]


@pytest.mark.parametrize("chapter", chapter_params(chapter_notebooks()))
def test_run_all_shows_no_error(notebooks: Notebooks, chapter: str) -> None:
    run = notebooks.run_all(f"chapters/{chapter}.ipynb")
    run.check("after Run All")


@pytest.mark.parametrize("chapter", chapter_params(panel_chapters())
                         or [pytest.param("", id="none-yet", marks=pytest.mark.skip(
                             reason="no chapter has a node-failure widget panel yet"))])
def test_stop_and_start_a_node_from_the_panel(notebooks: Notebooks, chapter: str, screenshots: Path) -> None:
    run = notebooks.open(f"chapters/{chapter}.ipynb")
    at = panel_cell({"cells": run.cells})
    run.run_through(at)
    run.check("run down to the panel")
    stop_and_start_first_node(run.page.locator(CELLS).nth(at), screenshots / f"demo_{chapter}.png",
                              prefer=node_the_chapter_clicks(run.cells))
    run.run_after(at)
    run.check("run to the end after the clicks")


@pytest.mark.parametrize("chapter", chapter_params(miner_chapters())
                         or [pytest.param("", id="none-yet", marks=pytest.mark.skip(
                             reason="no chapter has a miner switch yet"))])
def test_stop_and_start_a_miner_from_its_button(notebooks: Notebooks, chapter: str,
                                                screenshots: Path) -> None:
    run = notebooks.open(f"chapters/{chapter}.ipynb")
    at = miner_switch_cell({"cells": run.cells})
    run.run_through(at)
    run.check("run down to the miner switch")
    picture = screenshots / f"demo_{chapter}.png"
    if panel_cell({"cells": run.cells}) is not None:  # the node panel's screenshot is the demo then
        picture = picture.with_name(f"miner_{chapter}.png")
    click_the_miner_switch(run.page.locator(CELLS).nth(at), picture)
    run.run_after(at)
    run.check("run to the end after the clicks")


def click_the_miner_switch(cell, picture: Path) -> str:
    """Stop the mining node's miner, start it, stop it again; the button and status follow each click.

    Returns the node's name (from the button's ``toycoin-miner-toggle-NAME`` class).
    """
    from playwright.sync_api import expect

    switch = cell.locator(".toycoin-miner").first
    expect(switch).to_be_visible()
    button = switch.locator("button[class*='toycoin-miner-toggle-']").first
    name = re.search(r"toycoin-miner-toggle-(\S+)", button.get_attribute("class")).group(1)
    status = switch.locator(".toycoin-miner-status")
    expect(button).to_have_text(f"stop mining {name}")
    expect(status).to_have_text(f"{name}: mining")
    for then_mining in (False, True, False):
        button.click()
        word = "stop" if then_mining else "start"
        expect(button).to_have_text(f"{word} mining {name}", timeout=CLICK_TIMEOUT_MS)
        expect(status).to_have_text(f"{name}: {'mining' if then_mining else 'not mining'}")
    switch.screenshot(path=str(picture))
    return name


SET_STATE_SPLIT = re.compile(r"^panel\.split\(\)$", re.M)
SET_STATE_HEAL = re.compile(r"^panel\.heal\(\)$", re.M)


def switch_cells(cells: list[dict]) -> tuple[int, int] | None:
    """(index of the cell that splits, index of the cell that heals), or None."""
    def first(pattern: re.Pattern) -> int | None:
        return next((i for i, cell in enumerate(cells) if cell.get("cell_type") == "code"
                     and pattern.search("".join(cell.get("source", "")))), None)

    split, heal = first(SET_STATE_SPLIT), first(SET_STATE_HEAL)
    return None if split is None or heal is None else (split, heal)


def switch_chapters() -> list[Path]:
    return [path for path in panel_chapters() if switch_cells(json.loads(path.read_text())["cells"])]


@pytest.mark.parametrize("chapter", chapter_params(switch_chapters())
                         or [pytest.param("", id="none-yet", marks=pytest.mark.skip(
                             reason="no chapter has a partition switch yet"))])
def test_split_and_heal_clicks_before_the_cells_that_set_them(notebooks: Notebooks, chapter: str) -> None:
    from playwright.sync_api import expect

    run = notebooks.open(f"chapters/{chapter}.ipynb")
    at = panel_cell({"cells": run.cells})
    split, heal = switch_cells(run.cells)
    assert at is not None and at < split < heal, "the panel comes before the cells that split and heal"
    run.run_through(split - 1)
    run.check("run down to the cell that splits")
    panel = run.page.locator(CELLS).nth(at).locator(".toycoin-panel").first
    status, diagram = panel.locator(".toycoin-status"), panel.locator(".toycoin-diagram svg")
    panel.locator("button[class~='toycoin-split']").click()
    expect(status).to_contain_text(re.compile(r"^split: .+ \| .+$", re.M), timeout=CLICK_TIMEOUT_MS)
    expect(diagram).to_contain_text("cut", timeout=CLICK_TIMEOUT_MS)
    run.run_range(split, heal - 1)
    run.check("run to the cell that heals after a split click")
    assert re.search(r"^groups: \(\(", run.page.locator(CELLS).nth(split).inner_text(), re.M), \
        "the cell that splits shows the groups the click made"
    panel.locator("button[class~='toycoin-heal']").click()
    expect(status).not_to_contain_text("split:", timeout=CLICK_TIMEOUT_MS)
    run.run_after(heal - 1)
    run.check("run to the end after a heal click before the cell that heals")


def node_the_chapter_clicks(cells: list[dict]) -> str | None:
    """The node the chapter's own cells stop first (``panel.stop("C")``)."""
    for cell in cells:
        if cell.get("cell_type") == "code":
            found = re.search(r'panel\.stop\("([^"]+)"\)', "".join(cell.get("source", "")))
            if found:
                return found.group(1)
    return None


@pytest.mark.parametrize("clicks", [pytest.param(1, id="stop"), pytest.param(2, id="stop-start")])
@pytest.mark.parametrize("chapter", chapter_params([
    path for path in panel_chapters() if node_the_chapter_clicks(json.loads(path.read_text())["cells"])]))
def test_the_learners_click_before_the_cell_changes_nothing(notebooks: Notebooks, chapter: str,
                                                            clicks: int) -> None:
    run = notebooks.open(f"chapters/{chapter}.ipynb")
    at = panel_cell({"cells": run.cells})
    name = node_the_chapter_clicks(run.cells)
    stop = first_cell_that_stops(run.cells, name)  # the learner clicks when the prose asks: just before
    run.run_through(stop - 1)
    run.check("run down to the cell that stops")
    panel = run.page.locator(CELLS).nth(at).locator(".toycoin-panel").first
    button = panel.locator(f"button[class~='toycoin-toggle-{name}']")
    for click in range(clicks):
        state = "down" if click % 2 == 0 else "up"
        button.click()
        expect_status(panel, name, state)
    run.run_after(stop - 1)
    run.check(f"run to the end after {clicks} click(s) on {name}'s button")
    changed = printed_lines_that_differ(run, after=at)
    assert not changed, f"{chapter}: after {clicks} click(s) on {name}'s button, cells print " \
        f"something else than the stored run:\n" + "\n".join(changed)


def first_cell_that_stops(cells: list[dict], name: str | None) -> int:
    """The index of the first cell that sets ``name`` down (``panel.stop("B")``)."""
    return next(i for i, cell in enumerate(cells) if cell.get("cell_type") == "code"
                and f'panel.stop("{name}")' in "".join(cell.get("source", "")))


def expect_status(panel, name: str, state: str) -> None:
    from playwright.sync_api import expect

    pattern = rf"^{re.escape(name)}: down$" if state == "down" else rf"^{re.escape(name)}: up\b"
    expect(panel.locator(".toycoin-status")).to_contain_text(re.compile(pattern, re.M),
                                                             timeout=CLICK_TIMEOUT_MS)
    expect(panel.locator(f"button[class~='toycoin-toggle-{name}']")).to_have_text(
        f"{'start' if state == 'down' else 'stop'} {name}", timeout=CLICK_TIMEOUT_MS)


def printed_lines_that_differ(run, after: int) -> list[str]:
    """Cells after ``after`` whose printed text (stdout) differs from the stored notebook's."""
    shown = run.page.evaluate(READ_STDOUT_JS)
    changed = []
    for index in range(after + 1, len(run.cells)):
        cell = run.cells[index]
        if cell["cell_type"] != "code" or "NBVAL_IGNORE_OUTPUT" in "".join(cell.get("source", "")):
            continue  # a measurement, different every run: nbval does not compare it either
        stored = "".join("".join(out.get("text", "")) for out in cell.get("outputs", [])
                         if out.get("output_type") == "stream" and out.get("name") == "stdout")
        if sanitize(stored) != sanitize(shown[index]):
            changed.append(f"cell {index}:\n  stored: {stored!r}\n  now:    {shown[index]!r}")
    return changed


# The printed text of every cell, from JupyterLab's own output models.
READ_STDOUT_JS = """() => window.jupyterapp.shell.currentWidget.content.widgets.map(cell => {
    if (cell.model.type !== 'code') return '';
    const outputs = cell.model.outputs.toJSON();
    return outputs.filter(o => o.output_type === 'stream' && o.name === 'stdout')
        .map(o => Array.isArray(o.text) ? o.text.join('') : o.text).join('');
})"""


def sanitize(text: str) -> str:
    """nbval's sanitizing (nbval_sanitize.cfg at the repository's root), applied to printed text."""
    for pattern, replacement in SANITIZERS:
        text = re.sub(pattern, replacement, text)
    return text


def _sanitizers() -> list[tuple[str, str]]:
    import configparser

    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[2] / "nbval_sanitize.cfg")
    return [(config[section]["regex"], config[section]["replace"]) for section in config.sections()]


SANITIZERS = _sanitizers()


def stop_and_start_first_node(cell, picture: Path, prefer: str | None = None) -> str:
    """In the first panel in this cell, stop a running node and start it again; return its name.

    The node is ``prefer`` (the one the chapter's story stops) when given, else
    the first running one.

    Stopped, the status must say "NAME: down", the button "start NAME" and the
    diagram must differ from before; started, "NAME: up" and "stop NAME".
    """
    from playwright.sync_api import expect

    panel = cell.locator(".toycoin-panel").first
    expect(panel).to_be_visible()
    if prefer is None:
        running = panel.locator("button[class*='toycoin-toggle-']", has_text=re.compile(r"^stop ")).first
        name = re.search(r"toycoin-toggle-(\S+)", running.get_attribute("class")).group(1)
    else:
        name = prefer
    button = panel.locator(f"button[class~='toycoin-toggle-{name}']")  # whatever its text says
    status = panel.locator(".toycoin-status")
    diagram = panel.locator(".toycoin-diagram svg")
    expect(button).to_have_text(f"stop {name}")
    expect(status).to_contain_text(re.compile(rf"^{re.escape(name)}: up\b", re.M))
    expect(diagram).to_be_visible()
    before = diagram.evaluate("svg => svg.outerHTML")

    button.click()
    expect(status).to_contain_text(re.compile(rf"^{re.escape(name)}: down$", re.M), timeout=CLICK_TIMEOUT_MS)
    cell.page.wait_for_function(
        "([panel, before]) => { const svg = panel.querySelector('.toycoin-diagram svg');"
        " return svg !== null && svg.outerHTML !== before; }",
        arg=[panel.element_handle(), before], timeout=CLICK_TIMEOUT_MS)
    expect(button).to_have_text(f"start {name}")
    panel.screenshot(path=str(picture))

    button.click()
    expect(status).to_contain_text(re.compile(rf"^{re.escape(name)}: up\b", re.M), timeout=CLICK_TIMEOUT_MS)
    expect(button).to_have_text(f"stop {name}")
    return name


# --- the harness, tested on a notebook it writes -----------------------------

HAND_BUILT_PANEL = """\
import threading

import ipywidgets as w


def drawing(colour):
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="160" height="60">'
            f'<circle cx="30" cy="30" r="20" fill="{colour}"/><text x="60" y="35">alpha</text></svg>')


def show(up):
    button.description = ("stop" if up else "start") + " alpha"
    status.value = "<pre>" + ("alpha: up, height 0" if up else "alpha: down") + "\\nbeta: up, height 0</pre>"
    diagram.value = drawing("palegreen" if up else "lightgrey")


button = w.Button().add_class("toycoin-toggle-alpha")
status = w.HTML().add_class("toycoin-status")
diagram = w.HTML().add_class("toycoin-diagram")
show(True)
# The view changes a moment after the click, from another thread, as a real node's would.
button.on_click(lambda _: threading.Timer(0.3, show, [button.description.startswith("start")]).start())
w.VBox([w.HBox([button]), status, diagram]).add_class("toycoin-panel")
"""


def code_cell(number: int, source: str, tags: tuple[str, ...] = (), outputs: tuple[dict, ...] = ()) -> dict:
    metadata = {"tags": list(tags)} if tags else {}
    return {"cell_type": "code", "id": f"cell-{number}", "execution_count": None, "metadata": metadata,
            "outputs": list(outputs), "source": source}


# What a run stores for the panel cell: a widget view and the widget's text form.
STORED_PANEL = {
    "output_type": "execute_result", "execution_count": 1, "metadata": {},
    "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "0" * 32, "version_major": 2,
                                                           "version_minor": 0},
             "text/plain": "VBox(children=(...), _dom_classes=('toycoin-panel',))"},
}


def write_harness_notebook(path: Path) -> None:
    cells = [
        code_cell(0, HAND_BUILT_PANEL, outputs=(STORED_PANEL,)),
        code_cell(1, 'raise ValueError("this cell is meant to fail")', tags=("raises-exception",)),
        code_cell(2, 'print("Run All goes on after a cell tagged raises-exception")'),
        code_cell(3, "1 / 0"),
        code_cell(4, 'print("never runs: Run All stops at an error")'),
    ]
    kernel = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook = {"cells": cells, "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook, indent=1))


def test_the_harness_finds_errors_and_drives_a_panel(notebooks: Notebooks, tmp_path: Path) -> None:
    notebook = notebooks.lab.root / "harness" / "panel.ipynb"
    write_harness_notebook(notebook)
    assert panel_cell(json.loads(notebook.read_text())) == 0
    run = notebooks.run_all("harness/panel.ipynb")
    assert "ValueError: this cell is meant to fail" in "".join(run.shown[1]["problems"])
    unexpected = run.unexpected_problems()
    assert list(unexpected) == [3] and "ZeroDivisionError" in "".join(unexpected[3]), unexpected
    assert run.not_run() == [4]
    assert stop_and_start_first_node(run.page.locator(CELLS).first, tmp_path / "demo.png") == "alpha"
    assert (tmp_path / "demo.png").read_bytes().startswith(b"\x89PNG")
