"""libsecp256k1: the C library Bitcoin Core checks signatures with.

keys.py checks signatures with python-ecdsa, written in Python so a learner can
follow every step, at about 0.8 ms a check. Bitcoin Core uses libsecp256k1, a
C library written for this one curve; through the ``coincurve`` package the
same check takes about 33 us (benchmarks/bench_verify.py). When coincurve is installed,
``keys.PublicKey.verify`` uses this module (``keys.VERIFIER`` says which
library is in use). Both libraries give the same verdict on every input;
tests/test_verify_backends.py checks it.

    INSTALLED          True if coincurve, and with it libsecp256k1, can be imported
    parse_public_key   33-byte compressed key -> libsecp256k1's key, or ParseError
    der_signature      (r, s) -> the DER encoding libsecp256k1's verify takes
    verify             key, 32-byte digest, r, s -> True or False

Only verification lives here. Signing stays with python-ecdsa
(``keys.PrivateKey.sign``), so a signature is the same bytes whichever
library is installed.

How toycoin differs from Bitcoin Core here:
- Core parses the DER in a transaction itself, before libsecp256k1 sees it
  (BIP66 made that DER strict). toycoin signatures are 64 bytes, r then s, and
  ``keys.PublicKey.verify`` checks both numbers are in range; the only DER is
  what ``der_signature`` writes here, because coincurve's verify takes DER.
- libsecp256k1 accepts only low-S signatures (``secp256k1_ecdsa_verify``
  rejects any that are not normalised), the rule toycoin's keys.py applies
  itself before calling either library.

Reference: https://github.com/bitcoin-core/secp256k1
"""

from __future__ import annotations

from typing import Any

from toycoin.errors import ParseError

try:
    import coincurve
except ImportError:  # the course runs without it, on python-ecdsa alone
    coincurve = None

INSTALLED = coincurve is not None


def parse_public_key(sec: bytes) -> Any:
    """libsecp256k1's parsed key for 33 bytes of compressed SEC; ParseError if not a point.

    The caller has already checked the length and the 02/03 prefix (libsecp256k1
    would also take 65-byte forms, which toycoin does not use).
    """
    if coincurve is None:
        raise ModuleNotFoundError("libsecp256k1 needs the coincurve package: pip install coincurve")
    # coincurve takes anything that is not exactly bytes for an already-parsed key.
    assert type(sec) is bytes
    try:
        return coincurve.PublicKey(sec)
    except ValueError:
        raise ParseError("public key is not a point on secp256k1") from None


def _der_integer(value: int) -> bytes:
    # DER integers are signed, so a positive number whose top bit is set gets a 00 in
    # front; otherwise the shortest big-endian bytes. bit_length // 8 + 1 gives exactly that.
    data = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return bytes([0x02, len(data)]) + data


def der_signature(r: int, s: int) -> bytes:
    """The strict DER of a signature: 30 <len> 02 <len> r 02 <len> s (r and s from 1 to n - 1)."""
    body = _der_integer(r) + _der_integer(s)
    return bytes([0x30, len(body)]) + body


def verify(key: Any, digest: bytes, r: int, s: int) -> bool:
    """True if (r, s) is a valid low-S signature of the 32-byte digest under key.

    key comes from parse_public_key; r and s are already known to be in range.
    """
    # hasher=None: digest is already what was signed (coincurve hashes with SHA-256 by default).
    # bytes(): libsecp256k1 takes only bytes, python-ecdsa any bytes-like digest; accept the same.
    return key.verify(der_signature(r, s), bytes(digest), hasher=None)
