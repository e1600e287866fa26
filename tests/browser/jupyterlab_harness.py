"""The pieces of the browser tests: a JupyterLab server, and notebooks run in a page.

* ``start_lab`` starts JupyterLab from this project's own environment on
  127.0.0.1 with a random token, in a folder the caller gives it (the tests
  give it a temporary copy of ``chapters/``: JupyterLab autosaves a notebook
  after Run All, and the repository's notebooks must never change under a
  test), with its own empty config, data, runtime, settings and workspace
  folders so nothing from the user's set-up leaks in. ``Lab.stop`` shuts its
  kernels and the server down.
* ``Notebooks.open`` opens a notebook in a fresh page as a learner does and
  clears its outputs (opening the next one closes it and shuts its kernel
  down); ``NotebookRun`` runs its cells from the Run menu (all of them, or up
  to a cell and then the rest), waits until the run is over, and reads what
  every cell shows: its execution count and any error or stderr output.
* ``panel_cell`` finds the cell of a chapter that shows a node-failure
  widget panel; ``miner_switch_cell`` the cell that shows a miner's
  start/stop button (toycoin.widgets.MinerSwitch).

Everything waits on conditions in the page (Playwright's ``expect`` and
``wait_for_function``), never on sleeps.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = ROOT / "chapters"
RUN_TIMEOUT_MS = 240_000  # a whole notebook, nodes and all, on a slow CI machine
SERVER_START_TIMEOUT = 90  # seconds
LAB_SETTINGS = {  # user settings of the test server: no news, no update checks, every cell in the page
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PANEL_MARKERS = ("toycoin-panel", "NetworkPanel")  # in the stored output of a widget (see panel_cell)
PANEL_TAG = "widget-demo"  # or a cell carrying this tag, or a "# widget-demo" comment
MINER_MARKER = "MinerSwitch"  # the text form of a miner switch's stored output


def load_course():
    """course.py as a module: the set-up's own way of finding Chromium and the venv."""
    spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- which notebooks ---------------------------------------------------------


def chapter_notebooks() -> list[Path]:
    return sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def panel_cell(notebook: dict) -> int | None:
    """The index of the first cell that shows a node-failure widget panel, or None.

    That is a code cell tagged widget-demo or with a "# widget-demo" comment,
    or one whose stored output is a widget and names the panel (its text form
    says "NetworkPanel", or "toycoin-panel" for a panel built by hand).
    """
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        outputs = json.dumps(cell.get("outputs", []))
        if PANEL_TAG in cell.get("metadata", {}).get("tags", []) or f"# {PANEL_TAG}" in source:
            return index
        if WIDGET_VIEW in outputs and any(marker in outputs for marker in PANEL_MARKERS):
            return index
    return None


def panel_chapters() -> list[Path]:
    return [path for path in chapter_notebooks() if panel_cell(json.loads(path.read_text())) is not None]


def miner_switch_cell(notebook: dict) -> int | None:
    """The index of the first code cell whose stored output is a miner's start/stop switch, or None."""
    for index, cell in enumerate(notebook["cells"]):
        outputs = json.dumps(cell.get("outputs", [])) if cell["cell_type"] == "code" else ""
        if WIDGET_VIEW in outputs and MINER_MARKER in outputs:
            return index
    return None


def miner_chapters() -> list[Path]:
    return [path for path in chapter_notebooks()
            if miner_switch_cell(json.loads(path.read_text())) is not None]


# --- the server --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab server: where it is, and a small client for its REST API."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen
    log: Path

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def page_url(self, relative: str) -> str:
        # ?reset: start from an empty layout, never reopen the previous page's notebooks
        return f"{self.url}/lab/tree/{relative}?reset&token={self.token}"

    def shut_down_kernels(self) -> None:
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}")
        for kernel in self.api("GET", "kernels"):
            self.api("DELETE", f"kernels/{kernel['id']}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Shut the kernels and the server down: politely, then terminate, then kill."""
        try:
            self.shut_down_kernels()
            self.api("POST", "shutdown")
            self.process.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def _isolated_env(home: Path) -> dict[str, str]:
    dirs = {name: home / name.lower() for name in (
        "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
        "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR")}
    for path in dirs.values():
        path.mkdir(parents=True)
    for plugin, values in LAB_SETTINGS.items():
        settings = dirs["JUPYTERLAB_SETTINGS_DIR"] / f"{plugin}.jupyterlab-settings"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(values))
    # PYTHONNOUSERSITE: no kernels, extensions or packages from the user's ~/.local either
    return {**os.environ, **{name: str(path) for name, path in dirs.items()}, "PYTHONNOUSERSITE": "1"}


def _wait_until_up(lab: Lab) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {lab.process.returncode}:\n{lab.log_tail()}")
        try:
            lab.api("GET", "status")
            return
        except OSError:
            time.sleep(0.2)  # polling the server's port: the condition is "it answers"
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_TIMEOUT} s:\n{lab.log_tail()}")


def start_lab(root: Path, base: Path) -> Lab:
    """Start JupyterLab serving root; keep its settings and log in base. Waits until it answers."""
    env = _isolated_env(base / "home")
    port, token = free_port(), secrets.token_hex(24)
    log = base / "jupyterlab.log"
    command = [
        lab_python(), "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: read cell models in the page
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, process, log)
    try:
        _wait_until_up(lab)
    except BaseException:
        lab.stop()
        raise
    return lab


def lab_python() -> str:
    """The project's own environment (.venv), or this Python when there is none."""
    venv_python = load_course().venv_python()
    return str(venv_python) if venv_python.exists() else sys.executable


# --- a notebook in the page --------------------------------------------------

CELLS = ".jp-Notebook .jp-Cell"
# Read every cell of the open notebook: its execution count, from JupyterLab's
# own cell model (a collapsed cell shows no prompt), and the text of each
# output the page shows as an error or on stderr (an exception's traceback is
# rendered as stderr too), or of a widget that failed to display.
READ_CELLS_JS = """() => {
    const notebook = window.jupyterapp.shell.currentWidget.content;
    return notebook.widgets.map(cell => ({
        count: cell.model.type === 'code' ? cell.model.executionCount : null,
        problems: Array.from(cell.node.querySelectorAll('.jp-OutputArea-output'))
            .filter(out => out.dataset.mimeType === 'application/vnd.jupyter.stderr'
                           || /Error (displaying|rendering) widget/.test(out.textContent))
            .map(out => out.textContent.trim()),
    }));
}"""
# The run is over when every cell with code has an execution count, or as soon
# as a cell not tagged raises-exception shows an error (Run All stops there),
# or a dialog asks something.
RUN_OVER_JS = "([needsRun, mayFail]) => { const cells = (" + READ_CELLS_JS + """)();
    return needsRun.every((needs, i) => !needs || cells[i].count !== null)
        || cells.some((cell, i) => cell.problems.length > 0 && !mayFail[i])
        || document.querySelector('.jp-Dialog') !== null;
}"""
# The notebook is loaded and its kernel has started and is connected: before
# that, Run All would ask which kernel to start.
KERNEL_READY_JS = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
                   && panel.sessionContext.session.kernel;
    return Boolean(panel && panel.context && panel.context.isReady && kernel
                   && kernel.connectionStatus === 'connected' && kernel.status === 'idle');
}"""


@dataclass
class NotebookRun:
    """A notebook open in a page, its cells run from the Run menu, and what each cell shows."""

    path: Path  # the copy JupyterLab runs
    page: object
    cells: list[dict]  # the .ipynb's cells
    pictures: Path  # where a failing run leaves a screenshot
    shown: list[dict] = field(default_factory=list)  # per cell: execution count, problem outputs
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page's JavaScript
    asked: set[int] = field(default_factory=set)  # the cells asked to run so far

    def run_all(self) -> None:
        self._run("Run All Cells", range(len(self.cells)))

    def run_through(self, last: int) -> None:
        """Run the cells from the first one to the one numbered last (counting from 0)."""
        if last + 1 == len(self.cells):
            return self.run_all()
        self.select(last + 1)
        self._run("Run All Above Selected Cell", range(last + 1))

    def run_after(self, last: int) -> None:
        """Run the cells after the one numbered last, to the end."""
        self.select(last + 1)
        self._run("Run Selected Cell and All Below", range(last + 1, len(self.cells)))

    def run_range(self, first: int, last: int) -> None:
        """Run the cells numbered first to last (counting from 0), as if selected and run together."""
        self.page.evaluate("([a, b]) => { const notebook = window.jupyterapp.shell.currentWidget.content;"
                           " notebook.activeCellIndex = a; notebook.extendContiguousSelectionTo(b); }",
                           [first, last])
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
        self._wait(f"running cells {first} to {last}", range(first, last + 1))

    def select(self, index: int) -> None:
        self.page.evaluate("i => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = i; }",
                           index)

    def _run(self, menu_item: str, indexes: range) -> None:
        click_menu(self.page, "Run", menu_item)
        self._wait(menu_item, indexes)

    def _wait(self, menu_item: str, indexes: range) -> None:
        from playwright.sync_api import TimeoutError

        self.asked.update(indexes)
        needs = [needs_run(cell) and i in indexes for i, cell in enumerate(self.cells)]
        try:
            self.page.wait_for_function(RUN_OVER_JS, arg=[needs, [may_fail(cell) for cell in self.cells]],
                                        timeout=RUN_TIMEOUT_MS, polling=250)
        except TimeoutError as exc:
            self.fail_with_picture(f"{menu_item} in {self.path.name} did not finish ({exc})")
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count():
            self.fail_with_picture(f"{menu_item} in {self.path.name} stopped at a dialog: "
                                   f"{dialog.first.inner_text()}")
        self.read()

    def read(self) -> None:
        self.shown = self.page.evaluate(READ_CELLS_JS)

    def unexpected_problems(self) -> dict[int, list[str]]:
        """Cell index -> error or stderr texts, for cells not tagged raises-exception."""
        return {i: cell["problems"] for i, cell in enumerate(self.shown)
                if cell["problems"] and not may_fail(self.cells[i])}

    def not_run(self) -> list[int]:
        """Indexes of code cells asked to run, with code, that show no execution count and no error."""
        return [i for i, (cell, shown) in enumerate(zip(self.cells, self.shown, strict=True))
                if i in self.asked and needs_run(cell) and shown["count"] is None and not shown["problems"]]

    def describe_problems(self) -> str:
        lines = []
        for index, texts in self.unexpected_problems().items():
            lines.append(f"cell {index} shows an error or stderr output:")
            # the start and the end of each: a traceback's last line says what went wrong
            lines += ["    " + (text if len(text) <= 2000 else f"{text[:800]} ... {text[-1200:]}")
                      for text in texts]
        if self.not_run():
            lines.append(f"cells without an execution count (they did not run, or were still waiting "
                         f"when an error appeared): {self.not_run()}")
        return "\n".join(lines)

    def check(self, when: str) -> None:
        """Fail the test, saying which cells show what, if any cell shows an unexpected error."""
        problems = self.describe_problems()
        if problems:
            pytest.fail(f"{self.path.name} {when}:\n{problems}", pytrace=False)

    def fail_with_picture(self, message: str) -> None:
        """Fail the test with what the page shows: execution counts, errors, a screenshot."""
        picture = self.pictures / f"failure-{self.path.stem}-{time.monotonic_ns()}.png"
        self.page.screenshot(path=str(picture))
        self.read()
        counts = [cell["count"] for cell in self.shown]
        pytest.fail(f"{message}\nexecution counts: {counts}\n{self.describe_problems()}\n"
                    f"page errors: {self.page_errors}\nscreenshot: {picture}")


def needs_run(cell: dict) -> bool:
    return cell["cell_type"] == "code" and "".join(cell["source"]).strip() != ""


def may_fail(cell: dict) -> bool:
    return "raises-exception" in cell.get("metadata", {}).get("tags", [])


def click_menu(page, menu: str, item: str) -> None:
    """Click an item of a menu of the menu bar, both named by their exact labels."""
    page.locator(".lm-MenuBar-item").filter(has=exact_label(page, ".lm-MenuBar-itemLabel", menu)).click()
    page.locator(".lm-Menu-item:visible").filter(has=exact_label(page, ".lm-Menu-itemLabel", item)).click()


def exact_label(page, selector: str, label: str):
    return page.locator(selector, has_text=re.compile(rf"^{re.escape(label)}$"))


class Notebooks:
    """Opens notebooks in fresh pages, one at a time, and closes them again with their kernels."""

    def __init__(self, lab: Lab, context: object) -> None:
        self.lab = lab
        self.context = context
        self.current: NotebookRun | None = None

    def open(self, relative: str) -> NotebookRun:
        """Open lab.root/relative in a new page, wait for its kernel, and clear its outputs."""
        from playwright.sync_api import expect

        self.close()
        path = self.lab.root / relative
        cells = json.loads(path.read_text())["cells"]
        page = self.context.new_page()
        self.current = NotebookRun(path, page, cells, self.lab.root.parent)
        page.on("pageerror", lambda error: self.current.page_errors.append(str(error)))
        page.goto(self.lab.page_url(relative))
        expect(page.locator(CELLS)).to_have_count(len(cells), timeout=60_000)
        page.wait_for_function(KERNEL_READY_JS, timeout=60_000, polling=250)
        click_menu(page, "Edit", "Clear Outputs of All Cells")
        return self.current

    def run_all(self, relative: str) -> NotebookRun:
        run = self.open(relative)
        run.run_all()
        return run

    def close(self) -> None:
        """Close the open page and shut its kernel down."""
        if self.current is None:
            return
        page, self.current = self.current.page, None
        page.close()
        self.lab.shut_down_kernels()
