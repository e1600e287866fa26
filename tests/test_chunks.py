"""Chunks checked against one Merkle root, and the swarm's messages on the wire."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toycoin.chunks import MAX_CHUNK_SIZE, ChunkedObject, Manifest, chunk_hash, verify_chunk
from toycoin.errors import ParseError, ValidationError
from toycoin.msg_swarm import Bitfield, Chunk, GetChunk, Have

DATA = random.Random(11).randbytes(10_000)


def test_an_object_is_cut_into_equal_chunks_and_named_by_its_root():
    obj = ChunkedObject(DATA, 1024)
    assert [len(c) for c in obj.chunks] == [1024] * 9 + [784]
    assert obj.manifest.chunk_count == 10 and obj.manifest.chunk_length(9) == 784
    for index, chunk in enumerate(obj.chunks):
        verify_chunk(obj.manifest, index, chunk, obj.proof(index))  # every chunk checks on its own
    again = ChunkedObject.from_chunks(dict(enumerate(obj.chunks)), obj.manifest)
    assert again.data == DATA


def test_a_corrupt_chunk_a_swapped_chunk_and_a_short_chunk_are_refused_with_reasons():
    obj = ChunkedObject(DATA, 1024)
    bad = bytes([obj.chunks[3][0] ^ 1]) + obj.chunks[3][1:]
    with pytest.raises(ValidationError, match="chunk 3 does not match the object's Merkle root"):
        verify_chunk(obj.manifest, 3, bad, obj.proof(3))
    with pytest.raises(ValidationError, match="the proof is for chunk 4 of 10, not chunk 3 of 10"):
        verify_chunk(obj.manifest, 3, obj.chunks[4], obj.proof(4))
    with pytest.raises(ValidationError, match="chunk 3 has 10 bytes, the manifest says 1024"):
        verify_chunk(obj.manifest, 3, obj.chunks[3][:10], obj.proof(3))
    with pytest.raises(ValidationError, match="chunk 12 does not exist: the object has 10 chunks"):
        verify_chunk(obj.manifest, 12, b"", obj.proof(3))
    with pytest.raises(ValidationError, match="2 chunks missing, first 3"):
        ChunkedObject.from_chunks({i: c for i, c in enumerate(obj.chunks) if i not in (3, 7)}, obj.manifest)


def test_equal_chunks_have_different_leaves():
    # A file of zeros: without the index in the leaf, two equal siblings would look like
    # a mutated tree (CVE-2012-2459) and the proofs would be refused.
    obj = ChunkedObject(bytes(4096), 1024)
    assert len(set(obj.leaves)) == 4 and obj.leaves[0] == chunk_hash(0, bytes(1024))
    verify_chunk(obj.manifest, 1, bytes(1024), obj.proof(1))


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 3000), chunk_size=st.integers(1, 700), data=st.data())
def test_every_chunk_of_any_object_verifies_and_no_other_does(size, chunk_size, data):
    obj = ChunkedObject(bytes(i % 251 for i in range(size)), chunk_size)
    index = data.draw(st.integers(0, obj.manifest.chunk_count - 1))
    verify_chunk(obj.manifest, index, obj.chunks[index], obj.proof(index))
    flipped = bytes([obj.chunks[index][0] ^ 0x55]) + obj.chunks[index][1:]
    with pytest.raises(ValidationError):
        verify_chunk(obj.manifest, index, flipped, obj.proof(index))


def test_swarm_messages_round_trip():
    obj = ChunkedObject(DATA, 1024)
    root = obj.manifest.root
    for message in (Bitfield(root, frozenset({0, 3, 9}), 10), Have(root, 4), GetChunk(root, 9),
                    Chunk(root, 2, obj.chunks[2], obj.proof(2))):
        assert type(message).parse(message.serialize()) == message
    assert repr(Bitfield(root, frozenset({0, 3, 9}), 10)).endswith("3 of 10)")


def test_hostile_swarm_payloads_are_parse_errors_before_anything_big_is_read():
    root = bytes(32)
    huge = root + (0).to_bytes(4, "little") + b"\xfe" + (MAX_CHUNK_SIZE + 1).to_bytes(4, "little")
    with pytest.raises(ParseError, match="chunk of 65,537 bytes is larger than 65,536"):
        Chunk.parse(huge)
    with pytest.raises(ParseError, match="chunk index 5000 is beyond the largest object"):
        Have.parse(root + (5000).to_bytes(4, "little"))
    with pytest.raises(ParseError, match="bitfield has bits set beyond its chunk count"):
        Bitfield.parse(root + (3).to_bytes(4, "little") + b"\xff")
    with pytest.raises(ValueError, match="a chunk is 1 to 65,536 bytes"):
        Manifest(root, 10, 0)
