#!/usr/bin/env python3
"""Set up the course and run it: two commands, and a check.

    python3 course.py lab     set everything up, then open the course in JupyterLab
    python3 course.py test    set everything up, then run every test and notebook
    python3 course.py check   only say what is missing and how to fix it (installs nothing)

Setting up means: a virtual environment in .venv with the pinned packages of
requirements.txt (and toycoin itself, editable), and Graphviz's `dot` program.
The test command also needs Chromium, to run the notebooks in JupyterLab the
way a learner does; `lab` never needs it.
Each step is skipped when it is already done, so the commands are quick the
second time. This script uses only the standard library, so it runs before
anything is installed.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".toycoin-installed"
MIN_PYTHON = (3, 10)
FIRST_CHAPTER = "chapters/00_welcome.ipynb"

DOT_HELP = """Graphviz's `dot` program is needed to draw the diagrams. Install it with:
  Debian/Ubuntu:  sudo apt-get install graphviz
  macOS:          brew install graphviz
  Windows:        winget install graphviz   (then open a new terminal)
and run this command again."""

CHROMIUM_HELP = """Chromium (or Google Chrome) is needed to test the notebooks in JupyterLab
the way a learner sees them. Install it with:
  Debian/Ubuntu:  sudo apt-get install chromium   (older Ubuntu: chromium-browser)
  macOS:          brew install --cask chromium
  Windows:        winget install Google.Chrome
or set TOYCOIN_CHROMIUM to the path of a Chromium or Chrome program you have,
and run this command again."""
CHROMIUM_PATHS = (  # where the installs above put it when it is not on the PATH
    "/usr/bin/chromium",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def say(message: str) -> None:
    print(f"[course] {message}", flush=True)


def fail(message: str) -> NoReturn:
    print(f"[course] cannot continue: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def venv_python() -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return VENV / scripts / ("python.exe" if os.name == "nt" else "python")


def check_python() -> None:
    if sys.version_info < MIN_PYTHON:
        found = ".".join(map(str, sys.version_info[:3]))
        fail(f"the course needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; "
             f"this is Python {found}. Install a newer Python from python.org "
             "(or your package manager) and run this command with it.")


def make_venv() -> None:
    if venv_python().exists():
        return
    say("creating a virtual environment in .venv")
    try:
        venv.EnvBuilder(with_pip=True).create(VENV)
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(VENV, ignore_errors=True)
        fail(f"could not create .venv ({exc}). On Debian/Ubuntu install the venv "
             "module with: sudo apt-get install python3-venv")


def requirements_digest() -> str:
    files = ("requirements.txt", "pyproject.toml")
    return hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in files)).hexdigest()


def install_packages() -> None:
    digest = requirements_digest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    say("installing the pinned packages of requirements.txt (a minute or two the first time)")
    pip = [str(venv_python()), "-m", "pip", "--disable-pip-version-check"]
    result = subprocess.run([*pip, "install", "-q", "-r", "requirements.txt"], check=False, cwd=ROOT)
    if result.returncode != 0:
        fail("pip could not install requirements.txt (see its message above). "
             "Check your internet connection and run this command again.")
    STAMP.write_text(digest)


def can_apt_install() -> bool:
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    return is_root and shutil.which("apt-get") is not None


def apt_install(package: str) -> None:
    """Install a Debian package quietly (only called as root with apt-get present)."""
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    subprocess.run(["apt-get", "update", "-q"], check=False, **quiet)
    subprocess.run(["apt-get", "install", "-y", "-q", package], check=False, **quiet)


def ensure_dot() -> None:
    if shutil.which("dot"):
        return
    if not can_apt_install():
        fail(DOT_HELP)
    say("installing Graphviz with apt-get")
    apt_install("graphviz")
    if not shutil.which("dot"):
        fail(DOT_HELP)


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) program, or None: TOYCOIN_CHROMIUM wins."""
    chosen = os.environ.get("TOYCOIN_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).is_file() else None
    for path in CHROMIUM_PATHS:
        if Path(path).is_file():
            return path
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_chromium() -> str:
    """Find Chromium for the browser tests, installing Debian's package as root."""
    chosen = os.environ.get("TOYCOIN_CHROMIUM")
    if chosen and not Path(chosen).is_file():
        fail(f"TOYCOIN_CHROMIUM is set to {chosen}, but there is no such program: "
             "correct it, or unset it to let this command find or install Chromium.")
    found = find_chromium()
    if found:
        return found
    if not can_apt_install():
        fail(CHROMIUM_HELP)
    say("installing Chromium with apt-get (for the browser tests)")
    apt_install("chromium")
    return find_chromium() or fail(CHROMIUM_HELP)


def set_up() -> None:
    check_python()
    make_venv()
    install_packages()
    ensure_dot()


def run_in_venv(*args: str, env: dict[str, str] | None = None) -> int:
    """Run the venv's python with args (and extra environment); return its exit code."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(venv_python()), *args], check=False, cwd=ROOT, env=full_env).returncode


def lab() -> int:
    say(f"opening JupyterLab at {FIRST_CHAPTER} (stop it with Ctrl+C)")
    # JupyterLab refuses to run as root (common in containers) unless told it may.
    as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return run_in_venv("-m", "jupyter", "lab", *as_root, FIRST_CHAPTER)


def test() -> int:
    chromium = ensure_chromium()
    say("running the unit and integration tests, every notebook with nbval, "
        "then every notebook in JupyterLab in Chromium")
    return run_in_venv(
        "-m", "pytest", "tests", "chapters",
        "--nbval", "--nbval-current-env", "--nbval-sanitize-with", "nbval_sanitize.cfg",
        "--nbval-cell-timeout", "300",
        env={"TOYCOIN_CHROMIUM": chromium},
    )


def check() -> int:
    """The environment report, from .venv if it exists, else from this Python."""
    if venv_python().exists():
        return run_in_venv("-m", "toycoin.envcheck")
    say("no .venv yet: `python3 course.py lab` creates it; this report is for this Python")
    return subprocess.run([sys.executable, "-m", "toycoin.envcheck"], check=False, cwd=ROOT).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["lab", "test", "check"],
                        help="lab: open the course; test: run every test; check: environment report")
    command = parser.parse_args().command
    if command != "check":
        set_up()
    return {"lab": lab, "test": test, "check": check}[command]()


if __name__ == "__main__":
    sys.exit(main())
