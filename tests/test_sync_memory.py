"""Block sync's memory of refused side branches is bounded, like every per-header memory of a node."""

import pytest
from test_hostile_sync import FAST, Flooder

from toycoin import params
from toycoin.node import Node
from toycoin.relay import Relay
from toycoin.runtime import Runtime
from toycoin.sync import BlockSync

pytestmark = pytest.mark.timeout(60)


def test_the_side_branches_reported_as_not_applied_are_remembered_up_to_a_bound(monkeypatch):
    monkeypatch.setattr(params, "MAX_REFUSED_BRANCHES", 50)
    runtime = Runtime("test-sync-memory")
    victim = Node("victim", runtime=runtime, services=[Relay, BlockSync], limits=FAST)
    victim.start()
    victim.seal()
    victim.seal()  # a tip above genesis: branches forking at genesis do not build on it
    flooder = Flooder(runtime, branches=200, length=1)
    flooder.start()
    try:
        victim.connect(flooder)
        victim.wait_until(lambda: flooder.sent == 200, timeout=20, what="the flood is sent")
        victim.sync_with_ping()  # every header before the pong was handled
        refused = victim.runtime.call(lambda: len(victim.service(BlockSync)._refused))
        reports = sum(e.kind == "block not applied" for e in victim.events)
        assert refused == 50, "the memory of refused branches grows without a bound"
        assert reports == 200, "each branch is reported once"
        assert victim.height == 2
    finally:
        flooder.stop()
        victim.stop()
        runtime.close()
