"""Proof of work: who may write the next block is whoever first finds a hash below the target.

A header's ``bits`` encode a target, a 256-bit number. The header counts only
if its hash, read as a number, is at most that target; the only way to find
such a header is to try nonce after nonce. A target k bits smaller needs 2^k
times as many tries, on average, so the target sets the cost of a block, and
the sum of the expected tries over a chain (its work) says how much computing
it took. Nodes follow the chain with the most work, not the most blocks.

    bits_to_target(bits), target_to_bits(target)   the compact encoding of a target [nBits]
    block_work(bits)                expected tries for one header (Bitcoin Core: GetBlockProof)
    PowRules                        the rules of one network: easiest target, block spacing,
                                    retarget interval, whether proof of work is checked at all
    NO_POW                          the network of chapters 03-08, which has no proof of work yet
    COURSE_POW                      the network of chapters 09 on: easy enough for a laptop
    next_bits(rules, height, header_at)   the bits a header at ``height`` must carry (GetNextWorkRequired)
    check_header(rules, header, expected_bits)   ValidationError naming the broken rule
    mine(header, tries)             search nonces; the header that meets its target, or None

Difficulty adjustment is Bitcoin's: every ``retarget_interval`` blocks the
target is scaled by how long the last interval actually took against how long
it should have taken, at most by a factor of 4 either way, and never easier
than the network's limit (CalculateNextWorkRequired).

Simplifications compared with Bitcoin: a smaller interval (Bitcoin: 2016
blocks of 10 minutes) and a much easier limit, so a chapter runs in seconds;
no timestamp rules yet; the off-by-one of Bitcoin's retarget window (it
measures 2015 block times, not 2016) is not copied, so the first adjustment
comes one interval later.

Reference: https://developer.bitcoin.org/devguide/block_chain.html#proof-of-work
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace

from toycoin import params
from toycoin.block import BlockHeader
from toycoin.errors import ValidationError

MAX_TARGET = 2**256 - 1


def bits_to_target(bits: int) -> int:
    """The target a compact ``bits`` value encodes; ValueError if it is negative or overflows."""
    exponent, mantissa = bits >> 24, bits & 0x007F_FFFF
    if bits & 0x0080_0000 and mantissa:
        raise ValueError(f"bits {bits:#010x} encode a negative target")
    target = mantissa << (8 * (exponent - 3)) if exponent >= 3 else mantissa >> (8 * (3 - exponent))
    if target > MAX_TARGET:
        raise ValueError(f"bits {bits:#010x} encode a target above 2**256")
    return target


def target_to_bits(target: int) -> int:
    """The compact encoding of ``target`` (rounded down to its 3 leading bytes) [GetCompact]."""
    size = (target.bit_length() + 7) // 8
    mantissa = target >> (8 * (size - 3)) if size >= 3 else target << (8 * (3 - size))
    if mantissa & 0x0080_0000:  # the top bit of the mantissa is a sign bit: make room
        mantissa >>= 8
        size += 1
    return (size << 24) | mantissa


def block_work(bits: int) -> int:
    """Expected hashes to find a header under the target ``bits`` encodes: 2**256 // (target + 1)."""
    return 2**256 // (bits_to_target(bits) + 1)


def hash_value(header: BlockHeader) -> int:
    """The header's hash as a number (Bitcoin reads the 32 bytes little-endian)."""
    return int.from_bytes(header.hash, "little")


@dataclass(frozen=True)
class PowRules:
    """The proof-of-work rules of one network (Bitcoin Core: part of Consensus::Params)."""

    limit_bits: int = params.POW_LIMIT_BITS  # the easiest target allowed [powLimit]
    spacing: int = params.BLOCK_INTERVAL  # seconds a block should take [nPowTargetSpacing]
    retarget_interval: int = params.RETARGET_INTERVAL  # blocks between adjustments; 0: never
    check: bool = True  # False: no proof of work at all, every header carries limit_bits

    @property
    def limit(self) -> int:
        return bits_to_target(self.limit_bits)


NO_POW = PowRules(limit_bits=params.BLOCK_BITS, retarget_interval=0, check=False)
COURSE_POW = PowRules()


def next_bits(rules: PowRules, height: int, header_at: Callable[[int], BlockHeader]) -> int:
    """The bits a header at ``height`` must carry; ``header_at`` gives the headers of its own branch."""
    if height <= 1 or not rules.check:
        return rules.limit_bits
    previous = header_at(height - 1)
    interval = rules.retarget_interval
    if interval == 0 or height % interval != 0 or height <= interval:
        return previous.bits
    first = header_at(height - 1 - interval)  # so the span holds ``interval`` block times
    expected = interval * rules.spacing
    actual = min(max(previous.timestamp - first.timestamp, expected // 4), expected * 4)
    target = min(bits_to_target(previous.bits) * actual // expected, rules.limit)
    return target_to_bits(target)


def check_header(rules: PowRules, header: BlockHeader, expected_bits: int) -> None:
    """ValidationError unless ``header`` carries the expected bits and meets its target."""
    if header.bits != expected_bits:
        raise ValidationError(f"header {header.hash_hex[:12]}… has bits {header.bits:#010x}; "
                              f"the difficulty rule asks for {expected_bits:#010x}")
    if rules.check and hash_value(header) > bits_to_target(header.bits):
        raise ValidationError(f"header {header.hash_hex[:12]}… is above its target: "
                              "no proof of work")


def mine(header: BlockHeader, tries: int, start: int = 0) -> BlockHeader | None:
    """Try nonces ``start``, ``start + 1``... (at most ``tries``); the first header that meets its
    target, or None. The search a miner runs: nothing but hashing can shortcut it."""
    target = bits_to_target(header.bits)
    prefix = header.serialize()[:76]  # everything but the nonce, packed once
    sha256, from_bytes = hashlib.sha256, int.from_bytes
    for nonce in range(start, min(start + tries, 2**32)):
        digest = sha256(sha256(prefix + nonce.to_bytes(4, "little")).digest()).digest()
        if from_bytes(digest, "little") <= target:
            return replace(header, nonce=nonce)
    return None
