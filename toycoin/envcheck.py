"""Environment check: does this machine have what the course needs?

Chapter 00 runs ``report()`` as its first cell, and ``python3 course.py check``
runs it from a terminal. Each check says "ok" or says exactly what is missing
and the command that fixes it, so a learner never has to read a traceback to
find out that Graphviz is not installed.

What is in here:
    Check        one finding: a name, whether it passed, and how to fix it
    run_checks   every check, in a fixed order
    report       the findings as text (no versions or paths, so the notebook's
                 stored output is the same on every machine that passes)
"""
from __future__ import annotations

import importlib
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass

MIN_PYTHON = (3, 10)

DOT_FIX = ("install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), "
           "`brew install graphviz` (macOS), `winget install graphviz` (Windows), "
           "then restart the kernel")
PACKAGE_FIX = "run `python3 course.py lab` from the course folder; it installs the pinned packages"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    fix: str = ""


def check_python() -> Check:
    ok = sys.version_info >= MIN_PYTHON
    return Check("Python 3.10 or newer", ok,
                 "" if ok else "install Python 3.10 or newer and rerun `python3 course.py lab` with it")


def check_module(module: str, purpose: str) -> Check:
    try:
        importlib.import_module(module)
    except ImportError:
        return Check(f"{module} ({purpose})", False, PACKAGE_FIX)
    return Check(f"{module} ({purpose})", True)


def check_dot() -> Check:
    name = "Graphviz `dot` program (draws the diagrams)"
    path = shutil.which("dot")
    if path is None:
        return Check(name, False, DOT_FIX)
    try:
        subprocess.run([path, "-V"], capture_output=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return Check(name, False, f"`dot` is on the PATH but does not run; reinstall it: {DOT_FIX}")
    return Check(name, True)


def check_loopback() -> Check:
    """The nodes of the course listen on 127.0.0.1; make sure we may."""
    name = "listening on 127.0.0.1 (where the course's nodes run)"
    try:
        with socket.create_server(("127.0.0.1", 0)):
            pass
    except OSError as exc:
        return Check(name, False, f"this machine refused a local TCP port ({exc}); "
                                  "check that no firewall blocks programs on 127.0.0.1")
    return Check(name, True)


def run_checks() -> list[Check]:
    return [
        check_python(),
        check_module("toycoin", "the course's own package"),
        check_module("ecdsa", "signatures"),
        check_module("graphviz", "diagrams from Python"),
        check_module("ipywidgets", "buttons that stop and start nodes"),
        check_dot(),
        check_loopback(),
    ]


def report(checks: list[Check] | None = None) -> str:
    checks = run_checks() if checks is None else checks
    lines = []
    for check in checks:
        lines.append(f"{'ok     ' if check.ok else 'MISSING'}  {check.name}")
        if not check.ok:
            lines.append(f"         fix: {check.fix}")
    missing = sum(not c.ok for c in checks)
    lines.append("Everything the course needs is here." if missing == 0
                 else f"{missing} thing(s) missing: fix them, then restart the kernel.")
    return "\n".join(lines)


if __name__ == "__main__":
    text = report()
    print(text)
    sys.exit(0 if text.endswith("is here.") else 1)
