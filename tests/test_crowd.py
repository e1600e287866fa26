"""A crowd of peers: the open-file limit, and a peer restarted on the port it had."""

import random

import pytest

from toycoin.crowd import Crowd, open_files_needed, start_again
from toycoin.runtime import raise_open_file_limit
from toycoin.flood import FloodNode

resource = pytest.importorskip("resource")
pytestmark = pytest.mark.timeout(60)


def test_the_open_file_limit_is_raised_never_lowered():
    before = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    limit = raise_open_file_limit()
    assert limit >= before and resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit
    assert open_files_needed(500, 1000, spare=0) == 2500


def test_a_stopped_peer_starts_again_on_its_own_port():
    crowd = Crowd(lambda name: FloodNode(name, rng=random.Random(name)), prefix="c", rng=random.Random(5))
    try:
        crowd.add(3, links_each=1)
        peer = crowd.peers[1]
        port = peer.address[1]
        peer.kill()
        start_again(peer)
        assert peer.is_running and peer.address[1] == port
        crowd.wait_linked()  # and its links come back
    finally:
        crowd.stop()
