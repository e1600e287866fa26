"""Proof of work: targets and bits, work, the difficulty rule, mining, and most work over most blocks."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toycoin import params
from toycoin.block import BlockHeader
from toycoin.errors import ValidationError
from toycoin.headers import HeaderChain
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.node import course_genesis
from toycoin.pow import (
    COURSE_POW, NO_POW, PowRules, bits_to_target, block_work, check_header, hash_value, mine, next_bits,
    target_to_bits,
)

GENESIS = course_genesis()
MINER = PrivateKey.from_seed("miner").address


def test_bits_encode_targets_as_in_bitcoin():
    # Bitcoin's genesis bits, and a retargeted value from its history (block 32256).
    assert bits_to_target(0x1D00FFFF) == 0xFFFF * 2**208
    assert target_to_bits(bits_to_target(0x1B0404CB)) == 0x1B0404CB
    assert block_work(0x1D00FFFF) == 4295032833  # Bitcoin Core's GetBlockProof of its genesis
    assert block_work(params.POW_LIMIT_BITS) == 256  # the course: about one hash in 256
    with pytest.raises(ValueError, match="negative"):
        bits_to_target(0x04923456)


@given(st.integers(min_value=1, max_value=2**255))
def test_target_to_bits_rounds_down_to_three_bytes_and_back(target):
    rounded = bits_to_target(target_to_bits(target))
    assert rounded <= target and target - rounded < target // 2**15 + 1


def test_mining_finds_a_header_under_its_target_and_the_check_agrees():
    template = BlockHeader(1, GENESIS.hash, bytes(32), 1, params.POW_LIMIT_BITS, 0)
    found = mine(template, 100_000)
    assert found is not None and hash_value(found) <= bits_to_target(found.bits)
    check_header(COURSE_POW, found, params.POW_LIMIT_BITS)
    unmined = replace(found, nonce=found.nonce + 1)
    while hash_value(unmined) <= bits_to_target(unmined.bits):
        unmined = replace(unmined, nonce=unmined.nonce + 1)
    with pytest.raises(ValidationError, match="above its target: no proof of work"):
        check_header(COURSE_POW, unmined, params.POW_LIMIT_BITS)
    with pytest.raises(ValidationError, match="the difficulty rule asks for"):
        check_header(COURSE_POW, found, 0x1F00FFFF)


def test_tries_grow_as_two_to_the_k():
    # Each extra byte of zeros asks for 256 times the tries, on average: over 64 headers the total
    # tries for the limit target and for one 16 times harder differ by about 16 (loosely checked).
    def tries(bits):
        total = 0
        for salt in range(64):
            header = BlockHeader(1, GENESIS.hash, bytes([salt]) * 32, 1, bits, 0)
            total += mine(header, 2**24).nonce + 1
        return total

    harder = target_to_bits(bits_to_target(params.POW_LIMIT_BITS) // 16)
    easy, hard = tries(params.POW_LIMIT_BITS), tries(harder)
    assert 4 < hard / easy < 64


def chain_headers(rules, count, spacing):
    """A HeaderChain of ``count`` mined headers after genesis, ``spacing`` seconds apart."""
    chain, headers, prev = HeaderChain(GENESIS.header, rules), [], GENESIS.header
    for i in range(count):
        bits = next_bits(rules, chain.height + 1, chain.header_at)
        header = mine(BlockHeader(1, prev.hash, bytes([i]) * 32, prev.timestamp + spacing, bits, 0), 2**26)
        chain.add([header])
        headers.append(header)
        prev = header
    return chain, headers


def test_the_difficulty_rule_scales_the_target_by_the_time_an_interval_took():
    rules = PowRules(retarget_interval=4, spacing=600)
    limit = bits_to_target(params.POW_LIMIT_BITS)
    chain, headers = chain_headers(rules, 7, spacing=300)  # twice too fast
    assert all(h.bits == params.POW_LIMIT_BITS for h in headers)  # heights 1..7: no adjustment yet
    # At height 8, heights 3..7 (four block times) took 4 x 300 s where 4 x 600 s were expected.
    expected = bits_to_target(target_to_bits(limit // 2))
    assert bits_to_target(next_bits(rules, 8, chain.header_at)) == expected
    quick, _ = chain_headers(rules, 7, spacing=1)  # far too fast: clamped to a quarter
    assert bits_to_target(next_bits(rules, 8, quick.header_at)) == bits_to_target(target_to_bits(limit // 4))
    steady, _ = chain_headers(rules, 7, spacing=600)
    assert next_bits(rules, 8, steady.header_at) == params.POW_LIMIT_BITS  # on time: unchanged
    slow, _ = chain_headers(rules, 7, spacing=6000)
    assert next_bits(rules, 8, slow.header_at) == params.POW_LIMIT_BITS  # never easier than the limit
    assert next_bits(rules, 7, chain.header_at) == headers[-1].bits  # between retargets: the parent's


def test_no_pow_keeps_every_header_at_the_fixed_bits():
    assert next_bits(NO_POW, 10, lambda h: GENESIS.header) == params.BLOCK_BITS
    stray = BlockHeader(1, GENESIS.hash, bytes(32), 1, params.POW_LIMIT_BITS, 0)
    with pytest.raises(ValidationError, match="the difficulty rule asks for 0x207fffff"):
        HeaderChain(GENESIS.header).add([stray])


def test_most_work_beats_most_blocks():
    rules = PowRules(retarget_interval=2, spacing=600)
    long_chain, long_headers = chain_headers(rules, 8, spacing=600)  # 8 blocks at the easiest target
    fast_chain, fast_headers = chain_headers(rules, 6, spacing=1)  # 6 blocks, targets shrinking
    assert fast_chain.work > long_chain.work
    both = HeaderChain(GENESIS.header, rules)
    both.add(long_headers)
    both.add(fast_headers)
    assert both.height == 6 and both.tip == fast_headers[-1]  # fewer blocks, more work: it wins


def test_a_light_wallet_refuses_free_headers():
    # A liar's headers that claim the easiest target without the work behind it are refused by a
    # wallet on a proof-of-work network: its balance can no longer be inflated by free headers.
    wallet_chain = HeaderChain(GENESIS.header, COURSE_POW)
    free = BlockHeader(1, GENESIS.hash, bytes(32), 1, params.POW_LIMIT_BITS, 0)
    while hash_value(free) <= bits_to_target(free.bits):
        free = replace(free, nonce=free.nonce + 1)
    with pytest.raises(ValidationError, match="no proof of work"):
        wallet_chain.add([free])
    easier = replace(free, bits=params.BLOCK_BITS)
    with pytest.raises(ValidationError, match="the difficulty rule asks for"):
        wallet_chain.add([easier])
    assert wallet_chain.height == 0


def test_a_full_node_ledger_checks_bits_and_work_by_the_same_rules():
    ledger = Ledger(GENESIS, COURSE_POW)
    block = ledger.seal_block([], MINER, GENESIS.header.timestamp + 600)
    assert hash_value(block.header) <= bits_to_target(block.header.bits)
    other = Ledger(GENESIS, COURSE_POW)
    template = other.block_template([], MINER, GENESIS.header.timestamp + 600)
    while hash_value(template.header) <= bits_to_target(template.header.bits):
        template = replace(template, header=replace(template.header, nonce=template.header.nonce + 1))
    with pytest.raises(ValidationError, match="no proof of work"):
        other.apply_block(template)

