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
* Every chapter whose story stops a node with a cell that sets a state
  (``if node.is_running: panel.buttons["M"].click()``): run down to just
  before that cell, click the node's stop button as an eager learner would,
  then run the rest: the cell must leave the node down, not start it again,
  and the chapter must still show no error.
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
from jupyterlab_harness import CELLS, Notebooks, chapter_notebooks, panel_cell, panel_chapters

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


SET_STATE_STOP = re.compile(r'if [\w\[\]"\'.]+\.is_running:\s*\n\s*panel\.buttons\["([^"]+)"\]\.click\(\)')


def stop_cell(cells: list[dict]) -> tuple[int, str] | None:
    """(index, node name) of the first cell that stops a node only if it runs, or None."""
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code":
            found = SET_STATE_STOP.search("".join(cell.get("source", "")))
            if found:
                return index, found.group(1)
    return None


def stop_cell_chapters() -> list[Path]:
    return [path for path in panel_chapters() if stop_cell(json.loads(path.read_text())["cells"])]


@pytest.mark.parametrize("chapter", chapter_params(stop_cell_chapters())
                         or [pytest.param("", id="none-yet", marks=pytest.mark.skip(
                             reason="no chapter stops a node with a set-state cell yet"))])
def test_a_stop_click_before_the_cell_that_stops_changes_nothing(notebooks: Notebooks, chapter: str) -> None:
    from playwright.sync_api import expect

    run = notebooks.open(f"chapters/{chapter}.ipynb")
    at = panel_cell({"cells": run.cells})
    stop, name = stop_cell(run.cells)
    assert at is not None and at < stop, "the panel comes before the cell that stops"
    run.run_through(stop - 1)
    run.check("run down to the cell that stops")
    panel = run.page.locator(CELLS).nth(at).locator(".toycoin-panel").first
    status = panel.locator(".toycoin-status")
    panel.locator(f"button[class~='toycoin-toggle-{name}']").click()
    expect(status).to_contain_text(re.compile(rf"^{re.escape(name)}: down$", re.M), timeout=CLICK_TIMEOUT_MS)
    run.run_after(stop - 1)
    run.check("run to the end after a stop click before the cell that stops")
    shown = run.page.locator(CELLS).nth(stop).inner_text()
    assert re.search(rf"^{re.escape(name)}: down$", shown, re.M), shown


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
    """The node whose button the chapter's own cells click first (``panel.buttons["C"].click()``)."""
    for cell in cells:
        if cell.get("cell_type") == "code":
            found = re.search(r'panel\.buttons\["([^"]+)"\]\.click\(\)', "".join(cell.get("source", "")))
            if found:
                return found.group(1)
    return None


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
