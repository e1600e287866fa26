"""The environment check names what is missing and how to fix it."""
from toycoin import envcheck
from toycoin.envcheck import Check, report


def test_everything_present_on_the_test_machine():
    checks = envcheck.run_checks()
    assert [c.name for c in checks if not c.ok] == []
    assert report(checks).endswith("Everything the course needs is here.")


def test_missing_dot_is_reported_with_install_commands(monkeypatch):
    monkeypatch.setattr(envcheck.shutil, "which", lambda name: None)
    found = envcheck.check_dot()
    assert not found.ok
    assert "apt-get install graphviz" in found.fix and "brew install graphviz" in found.fix


def test_missing_module_is_reported():
    found = envcheck.check_module("no_such_module_for_toycoin", "a test")
    assert not found.ok and "course.py lab" in found.fix


def test_report_lists_each_fix_and_counts_missing():
    text = report([Check("a", True), Check("b", False, "do this"), Check("c", False, "do that")])
    assert text.splitlines() == [
        "ok       a",
        "MISSING  b",
        "         fix: do this",
        "MISSING  c",
        "         fix: do that",
        "2 thing(s) missing: fix them, then restart the kernel.",
    ]
