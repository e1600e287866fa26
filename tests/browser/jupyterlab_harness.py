"""The pieces of the browser tests: a JupyterLab server, and notebooks run in a page.

* ``start_lab`` starts JupyterLab from this project's own environment on
  127.0.0.1 with a random token, in a folder the caller gives it (the tests
  give it a temporary copy of ``chapters/``: JupyterLab autosaves a notebook
  after Run All, and the repository's notebooks must never change under a
  test), with its own empty config, data, runtime, settings and workspace
  folders so nothing from the user's set-up leaks in. ``Lab.stop`` shuts its
  kernels and the server down.
* ``Notebooks.run_all`` opens a notebook in a fresh page as a learner does,
  clears its outputs, runs all cells from the menu, waits until the run is
  over and reads what every cell shows (``NotebookRun``). The last notebook
  stays open, so that the next test of the same chapter can use the page;
  opening another one first closes it and shuts its kernel down.
* ``has_node_panel`` tells which chapters show a node-failure widget panel.

Everything waits on conditions in the page (Playwright's ``expect`` and
``wait_for_function``), never on sleeps.
"""
from __future__ import annotations

import importlib.util
import json
import os
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
PANEL_MARKERS = ("toycoin-panel", "NetworkPanel")  # in a code cell's source or stored output
PANEL_TAG = "widget-demo"  # or a cell carrying this tag, or a "# widget-demo" comment


def load_course():
    """course.py as a module: the set-up's own way of finding Chromium and the venv."""
    spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- which notebooks ---------------------------------------------------------


def chapter_notebooks() -> list[Path]:
    return sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def has_node_panel(notebook: dict) -> bool:
    """Does the notebook show a node-failure widget panel?"""
    for cell in notebook["cells"]:
        if PANEL_TAG in cell.get("metadata", {}).get("tags", []):
            return True
        if cell["cell_type"] == "code":
            text = "".join(cell["source"]) + json.dumps(cell.get("outputs", []))
            if any(marker in text for marker in PANEL_MARKERS) or f"# {PANEL_TAG}" in text:
                return True
    return False


def panel_chapters() -> list[Path]:
    return [path for path in chapter_notebooks() if has_node_panel(json.loads(path.read_text()))]


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
    return {**os.environ, **{name: str(path) for name, path in dirs.items()}}


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
# as a cell not tagged raises-exception shows an error: Run All stops there.
RUN_OVER_JS = "([needsRun, mayFail]) => { const cells = (" + READ_CELLS_JS + """)();
    return needsRun.every((needs, i) => !needs || cells[i].count !== null)
        || cells.some((cell, i) => cell.problems.length > 0 && !mayFail[i]);
}"""


@dataclass
class NotebookRun:
    """A notebook open in a page after Run All, and what each of its cells shows."""

    path: Path  # the copy JupyterLab runs
    page: object
    cells: list[dict]  # the .ipynb's cells
    shown: list[dict] = field(default_factory=list)  # per cell: execution count, problem outputs
    finished: bool = False  # Run All is over

    def read(self) -> None:
        self.shown = self.page.evaluate(READ_CELLS_JS)

    def unexpected_problems(self) -> dict[int, list[str]]:
        """Cell index -> error or stderr texts, for cells not tagged raises-exception."""
        return {i: cell["problems"] for i, cell in enumerate(self.shown)
                if cell["problems"] and not may_fail(self.cells[i])}

    def not_run(self) -> list[int]:
        """Indexes of code cells with code that show no execution count."""
        return [i for i, (cell, shown) in enumerate(zip(self.cells, self.shown, strict=True))
                if needs_run(cell) and shown["count"] is None]

    def describe_problems(self) -> str:
        lines = []
        for index, texts in self.unexpected_problems().items():
            lines.append(f"cell {index} shows an error or stderr output:")
            lines += [f"    {text[:800]}" for text in texts]
        if self.not_run():
            lines.append(f"cells that did not run: {self.not_run()}")
        return "\n".join(lines)


def needs_run(cell: dict) -> bool:
    return cell["cell_type"] == "code" and "".join(cell["source"]).strip() != ""


def may_fail(cell: dict) -> bool:
    return "raises-exception" in cell.get("metadata", {}).get("tags", [])


def click_menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-item:visible", has_text=item).first.click()


class Notebooks:
    """Opens notebooks in fresh pages, runs them all, and closes them again."""

    def __init__(self, lab: Lab, context: object) -> None:
        self.lab = lab
        self.context = context
        self.current: NotebookRun | None = None
        self.page_errors: list[str] = []

    def run_all(self, relative: str) -> NotebookRun:
        """Open lab.root/relative in a new page, clear its outputs, Run All, and wait."""
        from playwright.sync_api import TimeoutError, expect

        if self.current and self.current.finished and self.current.path == self.lab.root / relative:
            return self.current
        self.close()
        path = self.lab.root / relative
        cells = json.loads(path.read_text())["cells"]
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.goto(self.lab.page_url(relative))
        expect(page.locator(CELLS)).to_have_count(len(cells), timeout=60_000)
        idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
        expect(idle.first).to_be_attached(timeout=60_000)  # the kernel has started
        click_menu(page, "Edit", "Clear Outputs of All Cells")
        click_menu(page, "Run", "Run All Cells")
        run = NotebookRun(path, page, cells)
        self.current = run
        try:
            flags = [[needs_run(cell) for cell in cells], [may_fail(cell) for cell in cells]]
            page.wait_for_function(RUN_OVER_JS, arg=flags, timeout=RUN_TIMEOUT_MS, polling=250)
        except TimeoutError as exc:
            self.fail_with_picture(f"Run All of {relative} did not finish ({exc})")
        run.read()
        run.finished = True
        return run

    def fail_with_picture(self, message: str) -> None:
        """Fail the test with what the page shows: execution counts, errors, a screenshot."""
        picture = self.lab.root.parent / f"failure-{time.monotonic_ns()}.png"
        self.current.page.screenshot(path=str(picture), full_page=True)
        self.current.read()
        counts = [cell["count"] for cell in self.current.shown]
        pytest.fail(f"{message}\nexecution counts: {counts}\n{self.current.describe_problems()}\n"
                    f"page errors: {self.page_errors}\nscreenshot: {picture}")

    def close(self) -> None:
        """Close the open page and shut its kernel down."""
        if self.current is None:
            return
        page, self.current = self.current.page, None
        page.close()
        self.lab.shut_down_kernels()
