"""course.py on a fresh machine: no Graphviz, no Chromium.

Nothing is really installed or removed. `dot` and Chromium are hidden by
giving the set-up a PATH that holds only a fake `apt-get`, a small script
that writes down its arguments and, for `install`, puts a stand-in program
where the real package would (unless told to fail). Being root or not is
faked too, through `os.geteuid`.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the fake apt-get is a POSIX script")

FAKE_APT_GET = """#!{python}
import json, os, sys
from pathlib import Path

here = Path(sys.argv[0]).parent
with open(here / "apt-get.log", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
programs = {{"graphviz": "dot", "chromium": "chromium"}}
if "install" in sys.argv and not os.environ.get("FAKE_APT_FAILS"):
    program = here / programs[sys.argv[-1]]
    program.write_text("#!/bin/sh\\n")
    program.chmod(0o755)
"""

DEBIAN_DOT, MAC_DOT, WINDOWS_DOT = (
    "  Debian/Ubuntu:  sudo apt-get install graphviz",
    "  macOS:          brew install graphviz",
    "  Windows:        winget install graphviz   (then open a new terminal)",
)
DEBIAN_CHROMIUM, MAC_CHROMIUM, WINDOWS_CHROMIUM = (
    "  Debian/Ubuntu:  sudo apt-get install chromium   (older Ubuntu: chromium-browser)",
    "  macOS:          brew install --cask chromium",
    "  Windows:        winget install Google.Chrome",
)


@pytest.fixture
def course():
    spec = importlib.util.spec_from_file_location("course_under_test", ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fresh_machine(course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with nothing on it (no dot, no Chromium), and no known Chromium path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("TOYCOIN_CHROMIUM", raising=False)
    monkeypatch.setattr(course, "CHROMIUM_PATHS", (str(tmp_path / "no" / "chromium"),))
    return bin_dir


def add_fake_apt_get(bin_dir: Path) -> None:
    script = bin_dir / "apt-get"
    script.write_text(FAKE_APT_GET.format(python=sys.executable))
    script.chmod(0o755)


def apt_calls(bin_dir: Path) -> list[list[str]]:
    log = bin_dir / "apt-get.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def be_root(course, monkeypatch: pytest.MonkeyPatch, root: bool) -> None:
    monkeypatch.setattr(course.os, "geteuid", lambda: 0 if root else 1000, raising=False)


def stops_with(capsys: pytest.CaptureFixture, action) -> str:
    with pytest.raises(SystemExit) as stopped:
        action()
    assert stopped.value.code == 1
    return capsys.readouterr().err


# --- as root with apt-get: it installs what is missing -----------------------


def test_root_installs_graphviz_with_apt_get(course, fresh_machine, monkeypatch):
    add_fake_apt_get(fresh_machine)
    be_root(course, monkeypatch, True)
    course.ensure_dot()
    assert apt_calls(fresh_machine) == [["update", "-q"], ["install", "-y", "-q", "graphviz"]]


def test_root_installs_chromium_with_apt_get(course, fresh_machine, monkeypatch):
    add_fake_apt_get(fresh_machine)
    be_root(course, monkeypatch, True)
    assert course.ensure_chromium() == str(fresh_machine / "chromium")
    assert apt_calls(fresh_machine) == [["update", "-q"], ["install", "-y", "-q", "chromium"]]


def test_nothing_is_installed_when_both_are_there(course, fresh_machine, monkeypatch):
    add_fake_apt_get(fresh_machine)
    be_root(course, monkeypatch, True)
    for program in ("dot", "chromium"):
        (fresh_machine / program).write_text("#!/bin/sh\n")
        (fresh_machine / program).chmod(0o755)
    course.ensure_dot()
    assert course.ensure_chromium() == str(fresh_machine / "chromium")
    assert apt_calls(fresh_machine) == []


def test_a_failed_install_stops_with_the_instructions(course, fresh_machine, monkeypatch, capsys):
    add_fake_apt_get(fresh_machine)
    monkeypatch.setenv("FAKE_APT_FAILS", "1")
    be_root(course, monkeypatch, True)
    assert DEBIAN_DOT in stops_with(capsys, course.ensure_dot)
    assert DEBIAN_CHROMIUM in stops_with(capsys, course.ensure_chromium)


# --- not root: it stops and says how to install them -------------------------


def test_not_root_stops_with_how_to_install_graphviz(course, fresh_machine, monkeypatch, capsys):
    add_fake_apt_get(fresh_machine)
    be_root(course, monkeypatch, False)
    message = stops_with(capsys, course.ensure_dot)
    assert message.startswith("[course] cannot continue: Graphviz's `dot` program is needed")
    assert [DEBIAN_DOT, MAC_DOT, WINDOWS_DOT] == message.splitlines()[1:4]
    assert apt_calls(fresh_machine) == []


def test_not_root_stops_with_how_to_install_chromium(course, fresh_machine, monkeypatch, capsys):
    add_fake_apt_get(fresh_machine)
    be_root(course, monkeypatch, False)
    message = stops_with(capsys, course.ensure_chromium)
    assert message.startswith("[course] cannot continue: Chromium (or Google Chrome) is needed")
    assert [DEBIAN_CHROMIUM, MAC_CHROMIUM, WINDOWS_CHROMIUM] == message.splitlines()[2:5]
    assert "TOYCOIN_CHROMIUM" in message
    assert apt_calls(fresh_machine) == []


def test_root_without_apt_get_stops_with_the_instructions(course, fresh_machine, monkeypatch, capsys):
    be_root(course, monkeypatch, True)
    assert MAC_DOT in stops_with(capsys, course.ensure_dot)
    assert MAC_CHROMIUM in stops_with(capsys, course.ensure_chromium)


# --- finding Chromium ----------------------------------------------------------


def test_toycoin_chromium_wins(course, fresh_machine, monkeypatch, tmp_path):
    chosen = tmp_path / "my-chrome"
    chosen.write_text("")
    (fresh_machine / "chromium").write_text("#!/bin/sh\n")
    (fresh_machine / "chromium").chmod(0o755)
    monkeypatch.setenv("TOYCOIN_CHROMIUM", str(chosen))
    assert course.ensure_chromium() == str(chosen)


def test_a_wrong_toycoin_chromium_is_named(course, fresh_machine, monkeypatch, capsys, tmp_path):
    add_fake_apt_get(fresh_machine)
    be_root(course, monkeypatch, True)
    monkeypatch.setenv("TOYCOIN_CHROMIUM", str(tmp_path / "nowhere"))
    assert f"TOYCOIN_CHROMIUM is set to {tmp_path / 'nowhere'}" in stops_with(capsys, course.ensure_chromium)
    assert apt_calls(fresh_machine) == []


def test_chromium_is_found_by_its_other_names(course, fresh_machine):
    (fresh_machine / "google-chrome").write_text("#!/bin/sh\n")
    (fresh_machine / "google-chrome").chmod(0o755)
    assert course.find_chromium() == str(fresh_machine / "google-chrome")


# --- the commands ----------------------------------------------------------------


def test_test_command_hands_chromium_to_the_tests(course, monkeypatch):
    calls = []
    monkeypatch.setattr(course, "set_up", lambda: None)
    monkeypatch.setattr(course, "ensure_chromium", lambda: "/opt/chromium")
    monkeypatch.setattr(course, "run_in_venv", lambda *args, env=None: calls.append((args, env)) or 0)
    monkeypatch.setattr(sys, "argv", ["course.py", "test"])
    assert course.main() == 0
    (args, env), = calls
    assert args[:3] == ("-m", "pytest", "tests") and env == {"TOYCOIN_CHROMIUM": "/opt/chromium"}


def test_test_command_on_a_fresh_machine_as_root(course, fresh_machine, monkeypatch):
    """The whole `course.py test`, with the venv and pip steps stubbed: both programs get installed."""
    add_fake_apt_get(fresh_machine)
    be_root(course, monkeypatch, True)
    calls = []
    monkeypatch.setattr(course, "make_venv", lambda: None)
    monkeypatch.setattr(course, "install_packages", lambda: None)
    monkeypatch.setattr(course, "run_in_venv", lambda *args, env=None: calls.append(env) or 0)
    monkeypatch.setattr(sys, "argv", ["course.py", "test"])
    assert course.main() == 0
    assert [call[-1] for call in apt_calls(fresh_machine) if call[0] == "install"] == ["graphviz", "chromium"]
    assert calls == [{"TOYCOIN_CHROMIUM": str(fresh_machine / "chromium")}]


def test_lab_command_never_needs_chromium(course, monkeypatch):
    def no_chromium() -> str:
        raise AssertionError("lab asked for Chromium")

    monkeypatch.setattr(course, "set_up", lambda: None)
    monkeypatch.setattr(course, "ensure_chromium", no_chromium)
    monkeypatch.setattr(course, "find_chromium", no_chromium)
    monkeypatch.setattr(course, "run_in_venv", lambda *args, env=None: 0)
    monkeypatch.setattr(sys, "argv", ["course.py", "lab"])
    assert course.main() == 0


def run_course(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "course.py"), *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_help_names_the_commands():
    result = run_course("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: course.py [-h] {lab,test,check}")
    assert "lab: open the course; test: run every test; check: environment report" in " ".join(
        result.stdout.split())


def test_a_bad_command_gets_the_usage():
    result = run_course("bogus")
    assert result.returncode == 2
    usage, error = result.stderr.splitlines()
    assert usage == "usage: course.py [-h] {lab,test,check}"
    # Python 3.12.8 and later print the choices without quotes
    assert error.startswith("course.py: error: argument command: invalid choice: 'bogus' (choose from ")
    assert error.replace("'", "").endswith("lab, test, check)")


def test_no_command_gets_the_usage():
    result = run_course()
    assert result.returncode == 2
    assert "usage: course.py" in result.stderr and "required: command" in result.stderr


def test_lab_as_root_passes_allow_root(course, monkeypatch):
    """JupyterLab refuses to run as root unless told it may (common in containers)."""
    calls = []
    monkeypatch.setattr(course, "run_in_venv", lambda *args, **kw: calls.append(args) or 0)
    monkeypatch.setattr(course.os, "geteuid", lambda: 0, raising=False)
    course.lab()
    monkeypatch.setattr(course.os, "geteuid", lambda: 1000, raising=False)
    course.lab()
    assert calls == [("-m", "jupyter", "lab", "--allow-root", course.FIRST_CHAPTER),
                     ("-m", "jupyter", "lab", course.FIRST_CHAPTER)]


def test_check_installs_nothing_and_reports_without_a_venv(course, tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(course, "VENV", tmp_path / "no-venv-here")
    monkeypatch.setattr(course, "set_up", lambda: pytest.fail("check must not set anything up"))
    monkeypatch.setattr(sys, "argv", ["course.py", "check"])
    code = course.main()
    out = capfd.readouterr().out
    assert "no .venv yet" in out
    assert "Graphviz `dot` program" in out  # the report itself, from this Python
    assert code in (0, 1)
