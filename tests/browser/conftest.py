"""Fixtures of the browser tests: one JupyterLab and one Chromium for the whole session.

* ``lab``: JupyterLab (see ``jupyterlab_harness.start_lab``) serving a
  temporary copy of ``chapters/`` and an empty ``harness/`` folder;
* ``browser``: headless Chromium launched by its path, found the way
  ``course.py`` finds it (TOYCOIN_CHROMIUM first); never a browser downloaded
  at test time. Without one the tests skip and say how to get it;
* ``notebooks``: opens and runs notebooks in fresh pages of that browser;
* ``screenshots``: where demo pictures go.

At the end the kernels, the server and the browser are shut down.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyterlab_harness import CHAPTERS, ROOT, Lab, Notebooks, load_course, start_lab

IMAGES = ROOT / "images"
CHROMIUM_ARGS = [  # headless, also as root, on a closed network: no calls home
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    shutil.copytree(CHAPTERS, root / "chapters", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (root / "harness").mkdir()
    server = start_lab(root, base)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = load_course().find_chromium()
    chosen = os.environ.get("TOYCOIN_CHROMIUM")
    if chosen and not found:
        pytest.skip(f"TOYCOIN_CHROMIUM is set to {chosen}, which is not a file")
    if not found:
        pytest.skip("no Chromium found: `python3 course.py test` installs it (or says how), "
                    "or set TOYCOIN_CHROMIUM to a Chromium or Chrome program")
    return found


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: "
                                   "`python3 course.py test` installs requirements.txt")
    playwright = sync_api.sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="session")
def notebooks(browser, lab: Lab) -> Iterator[Notebooks]:  # no server started without a browser
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    opened = Notebooks(lab, context)
    try:
        yield opened
    finally:
        opened.close()
        context.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where demo pictures go: images/ with TOYCOIN_UPDATE_IMAGES=1, else a temporary folder."""
    if os.environ.get("TOYCOIN_UPDATE_IMAGES") == "1":
        IMAGES.mkdir(exist_ok=True)
        return IMAGES
    return tmp_path
