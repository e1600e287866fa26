#!/usr/bin/env python3
"""Set up the course and run it: the only two commands a learner needs.

    python3 course.py lab     set everything up, then open the course in JupyterLab
    python3 course.py test    set everything up, then run every test and notebook
    python3 course.py check   only say what is missing and how to fix it

Setting up means: a virtual environment in .venv with the pinned packages of
requirements.txt (and toycoin itself, editable), and Graphviz's `dot` program.
Each step is skipped when it is already done, so the commands are quick the
second time. This script uses only the standard library, so it runs before
anything is installed.
"""
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


def ensure_dot() -> None:
    if shutil.which("dot"):
        return
    if not can_apt_install():
        fail(DOT_HELP)
    say("installing Graphviz with apt-get")
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    subprocess.run(["apt-get", "update", "-q"], check=False, **quiet)
    subprocess.run(["apt-get", "install", "-y", "-q", "graphviz"], check=False, **quiet)
    if not shutil.which("dot"):
        fail(DOT_HELP)


def set_up() -> None:
    check_python()
    make_venv()
    install_packages()
    ensure_dot()


def run_in_venv(*args: str) -> int:
    """Run the venv's python with args; return its exit code."""
    return subprocess.run([str(venv_python()), *args], check=False, cwd=ROOT).returncode


def lab() -> int:
    say(f"opening JupyterLab at {FIRST_CHAPTER} (stop it with Ctrl+C)")
    return run_in_venv("-m", "jupyter", "lab", FIRST_CHAPTER)


def test() -> int:
    say("running the unit and integration tests, then every notebook with nbval")
    return run_in_venv(
        "-m", "pytest", "tests", "chapters",
        "--nbval", "--nbval-current-env", "--nbval-sanitize-with", "nbval_sanitize.cfg",
        "--nbval-cell-timeout", "300",
    )


def check() -> int:
    return run_in_venv("-m", "toycoin.envcheck")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["lab", "test", "check"],
                        help="lab: open the course; test: run every test; check: environment report")
    command = parser.parse_args().command
    set_up()
    return {"lab": lab, "test": test, "check": check}[command]()


if __name__ == "__main__":
    sys.exit(main())
