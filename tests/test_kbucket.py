"""Kademlia's XOR distance and k-buckets: the properties a lookup relies on.

Reference: Maymounkov and Mazières, "Kademlia: A Peer-to-peer Information
System Based on the XOR Metric" (2002), sections 2.1 and 2.2.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from toycoin.kbucket import ID_BITS, ID_BYTES, Contact, RoutingTable, bucket_index, distance, key_id, node_id

QUICK = settings(max_examples=150, deadline=None)
ids = st.binary(min_size=ID_BYTES, max_size=ID_BYTES)


@QUICK
@given(a=ids, b=ids, c=ids)
def test_xor_is_a_distance(a, b, c):
    assert distance(a, a) == 0
    assert distance(a, b) == distance(b, a)
    assert (distance(a, b) == 0) == (a == b)
    assert distance(a, c) <= distance(a, b) + distance(b, c)  # the triangle inequality


@QUICK
@given(a=ids, d=st.integers(min_value=0, max_value=2**ID_BITS - 1))
def test_exactly_one_id_at_each_distance(a, d):
    # "Unidirectional": every lookup for a key converges towards the same ids.
    b = (int.from_bytes(a, "big") ^ d).to_bytes(ID_BYTES, "big")
    assert distance(a, b) == d


@QUICK
@given(own=ids, other=ids)
def test_bucket_i_holds_distances_from_2_to_the_i_up_to_2_to_the_i_plus_1(own, other):
    if own != other:
        i = bucket_index(own, other)
        assert 2**i <= distance(own, other) < 2 ** (i + 1)


@QUICK
@given(own=ids, others=st.lists(ids, max_size=60), target=ids, k=st.integers(1, 4))
def test_routing_table_keeps_k_per_bucket_and_returns_the_closest(own, others, target, k):
    table = RoutingTable(own, k)
    for i, other in enumerate(others):
        table.add(Contact(other, "127.0.0.1", 1000 + i))
    for index, bucket in enumerate(table.buckets):
        assert len(bucket) <= k
        assert all(bucket_index(own, c.node_id) == index for c in bucket)
    kept = table.contacts()
    assert len({c.node_id for c in kept}) == len(kept) and own not in {c.node_id for c in kept}
    closest = table.closest(target, 5)
    assert closest == sorted(kept, key=lambda c: distance(c.node_id, target))[:5]


def test_a_full_bucket_keeps_its_old_contacts_and_a_seen_one_moves_to_the_tail():
    own = bytes(ID_BYTES)
    table = RoutingTable(own, k=2)
    top = [bytes([0x80 + i]) + bytes(ID_BYTES - 1) for i in range(3)]  # all in bucket 159
    first, second, third = (Contact(i, "127.0.0.1", 1 + n) for n, i in enumerate(top))
    assert table.add(first) and table.add(second)
    assert not table.add(third)  # full: the newcomer is dropped
    assert table.add(Contact(first.node_id, "127.0.0.1", 99))  # seen again, at a new port
    assert [c.port for c in table.buckets[159]] == [2, 99]
    table.remove(second.node_id)
    assert table.add(third) and len(table) == 2


def test_ids_repeat_from_names_and_differ_between_nodes_and_keys():
    assert node_id("d1") == node_id("d1") != node_id("d2")
    assert len(node_id("d1")) == len(key_id(b"d1")) == ID_BYTES and node_id("d1") != key_id(b"d1")
