"""libsecp256k1 and python-ecdsa give the same verdict on every signature.

toycoin.keys checks signatures with libsecp256k1 (through coincurve) when it is
installed, and with python-ecdsa otherwise (keys.VERIFIER). A payment must be
valid or invalid whichever library a node has, so each case below goes
through PublicKey(sec).verify(digest, signature) once with each library, and
the two verdicts must be equal: valid signatures, tampered digests, flipped
bits, high-S twins, wrong lengths and out-of-range numbers, wrong keys, and
33 bytes that are not a point (a ParseError from both). The plain tests after
them show which library really ran, and that signing ignores the choice.
"""

import hashlib
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import ecdsa
import pytest
from ecdsa import SECP256k1, VerifyingKey
from ecdsa.ellipticcurve import PointJacobi
from ecdsa.numbertheory import square_root_mod_prime
from ecdsa.util import sigencode_der
from hypothesis import given, settings
from hypothesis import strategies as st
from test_keys import RFC6979_VECTORS

from toycoin import keys, secp
from toycoin.errors import ParseError
from toycoin.keys import CURVE_ORDER, LIBSECP256K1, PYTHON_ECDSA, PrivateKey, PublicKey

needs_libsecp256k1 = pytest.mark.skipif(
    not secp.INSTALLED, reason="coincurve is not installed: no libsecp256k1 to compare python-ecdsa with")

# An example signs and verifies with python-ecdsa, about 2 ms: 100 of each keeps the file quick.
FEW = settings(max_examples=100, deadline=None)

FIELD_SIZE = SECP256k1.curve.p()  # p: x and y of a point are numbers below p
HALF_ORDER = CURVE_ORDER // 2     # the largest low S

secrets_ = st.integers(1, CURVE_ORDER - 1)
# Digests from SHA-256 look like random bytes; those of n and above are reduced mod n by both.
digests = st.one_of(st.binary(min_size=32, max_size=32),
                    st.integers(CURVE_ORDER, 2**256 - 1).map(lambda z: z.to_bytes(32, "big")))


@contextmanager
def using(verifier: str):
    previous = keys.VERIFIER
    keys.VERIFIER = verifier
    try:
        yield
    finally:
        keys.VERIFIER = previous


def verdicts(sec: bytes, digest: bytes, signature: bytes) -> dict[str, bool | str]:
    """PublicKey(sec).verify(digest, signature) with each library; "ParseError" if sec is no point."""
    results: dict[str, bool | str] = {}
    for verifier in (PYTHON_ECDSA, LIBSECP256K1):
        with using(verifier):
            try:
                results[verifier] = PublicKey(sec).verify(digest, signature)
            except ParseError:
                results[verifier] = "ParseError"
    return results


def same_verdict(sec: bytes, digest: bytes, signature: bytes) -> bool | str:
    both = verdicts(sec, digest, signature)
    assert both[PYTHON_ECDSA] == both[LIBSECP256K1], both
    return both[PYTHON_ECDSA]


def flip_bit(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(flipped)


def signed(secret: int, digest: bytes) -> tuple[bytes, bytes]:
    """(public key, signature) for a secret and a digest."""
    key = PrivateKey(secret)
    return key.public_key.sec, key.sign(digest)


def split(signature: bytes) -> tuple[int, int]:
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def join(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# Ways to spoil the 64-byte r || s encoding of a valid signature.
MANGLED = {
    "empty": lambda sig: b"",
    "truncated by one byte": lambda sig: sig[:-1],
    "r alone": lambda sig: sig[:32],
    "trailing zero byte": lambda sig: sig + b"\x00",
    "trailing garbage": lambda sig: sig + b"\x01\x02\x03",
    "extra leading zero": lambda sig: b"\x00" + sig,
    "DER instead of r || s": lambda sig: sigencode_der(*split(sig), CURVE_ORDER),
    "r = 0": lambda sig: join(0, split(sig)[1]),
    "s = 0": lambda sig: join(split(sig)[0], 0),
    "r = n": lambda sig: join(CURVE_ORDER, split(sig)[1]),
    "s = n": lambda sig: join(split(sig)[0], CURVE_ORDER),
    "s = n/2 + 1": lambda sig: join(split(sig)[0], HALF_ORDER + 1),
    "all ff": lambda sig: b"\xff" * 64,
    "r and s swapped": lambda sig: sig[32:] + sig[:32],
}


@needs_libsecp256k1
@FEW
@given(secret=secrets_, digest=digests)
def test_valid_signatures_pass_with_both(secret, digest):
    sec, signature = signed(secret, digest)
    assert same_verdict(sec, digest, signature) is True


@needs_libsecp256k1
@FEW
@given(secret=secrets_, digest=digests, bit=st.integers(0, 255))
def test_a_tampered_digest_fails_with_both(secret, digest, bit):
    sec, signature = signed(secret, digest)
    assert same_verdict(sec, flip_bit(digest, bit), signature) is False


@needs_libsecp256k1
@FEW
@given(secret=secrets_, digest=digests, bit=st.integers(0, 511))
def test_a_flipped_signature_bit_fails_with_both(secret, digest, bit):
    sec, signature = signed(secret, digest)
    assert same_verdict(sec, digest, flip_bit(signature, bit)) is False


@needs_libsecp256k1
@FEW
@given(secret=secrets_, digest=digests)
def test_the_high_s_twin_fails_with_both(secret, digest):
    sec, signature = signed(secret, digest)
    r, s = split(signature)
    assert same_verdict(sec, digest, join(r, CURVE_ORDER - s)) is False


@needs_libsecp256k1
@FEW
@given(secret=secrets_, digest=digests, how=st.sampled_from(sorted(MANGLED)))
def test_mangled_encodings_fail_with_both(secret, digest, how):
    sec, signature = signed(secret, digest)
    assert same_verdict(sec, digest, MANGLED[how](signature)) is False


@needs_libsecp256k1
@FEW
@given(signer=secrets_, other=secrets_, digest=digests)
def test_the_wrong_key_fails_with_both(signer, other, digest):
    _, signature = signed(signer, digest)
    sec = PrivateKey(other).public_key.sec
    verdict = same_verdict(sec, digest, signature)
    # One true exception, the same in both libraries: with a zero digest, the key -d (the
    # point with the same x, mirrored) accepts d's signature, since only x(R) is compared.
    mirrored = other == CURVE_ORDER - signer and int.from_bytes(digest, "big") % CURVE_ORDER == 0
    assert verdict is (signer == other or mirrored)


@needs_libsecp256k1
@FEW
@given(secret=secrets_, digest=digests, r=st.integers(0, 2**256 - 1), s=st.integers(0, 2**256 - 1))
def test_arbitrary_numbers_get_the_same_verdict(secret, digest, r, s):
    # Hypothesis favours edges such as 0, 1, n/2 and n - 1; almost all of these are forgeries.
    sec = PrivateKey(secret).public_key.sec
    same_verdict(sec, digest, join(r, s))


@needs_libsecp256k1
@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from([2, 3]),
       x=st.one_of(st.integers(0, 2**256 - 1), st.integers(FIELD_SIZE - 50, 2**256 - 1),
                   st.integers(0, 50)))
def test_33_bytes_are_a_point_for_both_or_for_neither(prefix, x):
    # About half of all x are the x of a point; x of p or more never is.
    sec = bytes([prefix]) + x.to_bytes(32, "big")
    # Not a zero digest: with z = 0, (r, s) = (1, 1) really is valid under the point with x = 1.
    digest = hashlib.sha256(b"not signed").digest()
    assert same_verdict(sec, digest, join(1, 1)) in (False, "ParseError")


@needs_libsecp256k1
@FEW
@given(sec=st.binary(max_size=66))
def test_other_byte_strings_are_refused_by_both(sec):
    # Only 33 bytes starting with 02 or 03 reach either library; the rest never parse.
    if len(sec) == 33 and sec[0] in (2, 3):
        sec = b"\x04" + sec[1:]
    assert same_verdict(sec, bytes(32), join(1, 1)) == "ParseError"


@settings(max_examples=300, deadline=None)
@given(r=st.integers(1, CURVE_ORDER - 1), s=st.integers(1, CURVE_ORDER - 1))
def test_der_signature_is_the_strict_der_python_ecdsa_writes(r, s):
    assert secp.der_signature(r, s) == sigencode_der(r, s, CURVE_ORDER)


# Edge cases too rare to meet by chance: built here from a chosen point R and a chosen s.

def key_for(r_point: PointJacobi, s: int, digest: bytes) -> tuple[bytes, int]:
    """A public key under which (x(R) mod n, s) signs digest, and that r.

    Verification checks x(u1*G + u2*Q) mod n == r with u1 = z/s, u2 = r/s; so
    Q = (s*R - z*G) / r makes u1*G + u2*Q equal R.
    """
    r = r_point.x() % CURVE_ORDER
    z = int.from_bytes(digest, "big") % CURVE_ORDER
    generator = SECP256k1.generator
    q = (r_point * s + generator * (CURVE_ORDER - z)) * pow(r, -1, CURVE_ORDER)
    return VerifyingKey.from_public_point(q, curve=SECP256k1).to_string("compressed"), r


def point_with_x_at_least(start: int) -> PointJacobi:
    """The first point whose x is start or more."""
    curve = SECP256k1.curve
    x = start
    while True:
        y_squared = (x**3 + 7) % FIELD_SIZE
        if pow(y_squared, (FIELD_SIZE - 1) // 2, FIELD_SIZE) == 1:
            y = square_root_mod_prime(y_squared, FIELD_SIZE)
            return PointJacobi(curve, x, y, 1, CURVE_ORDER)
        x += 1


@needs_libsecp256k1
def test_x_of_r_above_the_order_is_reduced_by_both():
    # x(R) lies in [n, p) for about 1 point in 2**128: r is then x(R) - n, a small number,
    # and a verifier that forgets to reduce x(R) mod n would reject a valid signature.
    r_point = point_with_x_at_least(CURVE_ORDER + 1)  # x = n would make r = 0
    digest = hashlib.sha256(b"x of R is n or more").digest()
    sec, r = key_for(r_point, 12345, digest)
    assert r < 2**128
    assert same_verdict(sec, digest, join(r, 12345)) is True
    # x(R) itself, r + n, is out of range: a verifier comparing x(R) with r unreduced would take it.
    assert same_verdict(sec, digest, join(r + CURVE_ORDER, 12345)) is False


@needs_libsecp256k1
def test_s_of_exactly_half_the_order_is_the_last_low_s():
    r_point = SECP256k1.generator * 7
    digest = hashlib.sha256(b"s at the boundary").digest()
    sec, r = key_for(r_point, HALF_ORDER, digest)
    assert same_verdict(sec, digest, join(r, HALF_ORDER)) is True
    # Its twin n - s = n/2 + 1 is the first high S.
    assert same_verdict(sec, digest, join(r, CURVE_ORDER - HALF_ORDER)) is False


@needs_libsecp256k1
@pytest.mark.parametrize("prefix", [2, 3])
def test_a_signature_of_the_zero_digest_needs_no_secret(prefix):
    # With z = 0, u1 = 0 and u2 = r/s = 1, so (1, 1) is valid under any point whose x is 1.
    # Nobody knows that point's secret; SHA-256 makes a zero digest impossible to aim for.
    sec = bytes([prefix]) + (1).to_bytes(32, "big")
    assert same_verdict(sec, bytes(32), join(1, 1)) is True


@needs_libsecp256k1
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_any_bytes_like_digest_signature_or_key_works_with_both(kind):
    secret, message, signature_hex = RFC6979_VECTORS[0]
    sec = PrivateKey(secret).public_key.sec
    digest, signature = hashlib.sha256(message).digest(), bytes.fromhex(signature_hex)
    assert same_verdict(kind(sec), kind(digest), kind(signature)) is True


# Which library really runs, and what each does alone.

@needs_libsecp256k1
def test_libsecp256k1_itself_rejects_high_s_and_python_ecdsa_does_not():
    # keys.py refuses s > n/2 before either library runs. libsecp256k1 needs no help
    # (secp256k1_ecdsa_verify accepts only normalised S); python-ecdsa does.
    secret, message, signature_hex = RFC6979_VECTORS[0]
    digest = hashlib.sha256(message).digest()
    sec = PrivateKey(secret).public_key.sec
    r, s = split(bytes.fromhex(signature_hex))
    assert secp.verify(secp.parse_public_key(sec), digest, r, s)
    assert not secp.verify(secp.parse_public_key(sec), digest, r, CURVE_ORDER - s)
    python_ecdsa_key = VerifyingKey.from_string(sec, curve=SECP256k1, hashfunc=hashlib.sha256)
    assert python_ecdsa_key.verify_digest(join(r, CURVE_ORDER - s), digest)


def record_calls(monkeypatch, owner, name: str) -> list:
    """Wrap owner.name so that each call is recorded, then passed on."""
    calls, original = [], getattr(owner, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def refuse_calls(monkeypatch, owner, name: str) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"{owner.__name__}.{name} was called")

    monkeypatch.setattr(owner, name, refuse)


def test_forced_fallback_runs_python_ecdsa_only(monkeypatch):
    monkeypatch.setattr(keys, "VERIFIER", PYTHON_ECDSA)
    refuse_calls(monkeypatch, secp, "parse_public_key")
    refuse_calls(monkeypatch, secp, "verify")
    calls = record_calls(monkeypatch, ecdsa.VerifyingKey, "verify_digest")
    key = PrivateKey.from_seed("alice")
    digest = hashlib.sha256(b"pay bob 10").digest()
    assert PublicKey(key.public_key.sec).verify(digest, key.sign(digest))
    assert len(calls) == 1


@needs_libsecp256k1
def test_fast_path_runs_libsecp256k1_only(monkeypatch):
    import coincurve

    monkeypatch.setattr(keys, "VERIFIER", LIBSECP256K1)
    key = PrivateKey.from_seed("alice")
    digest = hashlib.sha256(b"pay bob 10").digest()
    signature = key.sign(digest)  # signing uses python-ecdsa: done before its verify is refused
    refuse_calls(monkeypatch, ecdsa.VerifyingKey, "verify_digest")
    refuse_calls(monkeypatch, ecdsa.VerifyingKey, "from_string")
    calls = record_calls(monkeypatch, coincurve.PublicKey, "verify")
    assert PublicKey(key.public_key.sec).verify(digest, signature)
    assert len(calls) == 1


@needs_libsecp256k1
def test_a_key_made_under_one_library_verifies_under_the_other():
    # A Ledger keeps PublicKey objects; changing VERIFIER later must not break them.
    key = PrivateKey.from_seed("alice")
    digest = hashlib.sha256(b"pay bob 10").digest()
    for made, used in ((PYTHON_ECDSA, LIBSECP256K1), (LIBSECP256K1, PYTHON_ECDSA)):
        with using(made):
            public_key = PublicKey(key.public_key.sec)
        with using(used):
            assert public_key.verify(digest, key.sign(digest))


@needs_libsecp256k1
@pytest.mark.parametrize("secret, message, signature", RFC6979_VECTORS)
def test_signing_is_the_same_bytes_whichever_library_verifies(secret, message, signature):
    # The published RFC 6979 vectors that tests/test_keys.py also checks.
    digest = hashlib.sha256(message).digest()
    for verifier in (PYTHON_ECDSA, LIBSECP256K1):
        with using(verifier):
            key = PrivateKey(secret)
            assert key.sign(digest).hex() == signature
            assert key.public_key.verify(digest, bytes.fromhex(signature))


def test_choose_verifier_reads_the_setting(monkeypatch):
    assert keys.choose_verifier("ecdsa") == PYTHON_ECDSA
    assert keys.choose_verifier("python-ecdsa") == PYTHON_ECDSA
    if secp.INSTALLED:
        assert keys.choose_verifier("libsecp256k1") == LIBSECP256K1
        assert keys.choose_verifier("") == LIBSECP256K1
    with pytest.raises(ValueError, match="use ecdsa or libsecp256k1"):
        keys.choose_verifier("openssl")
    monkeypatch.setattr(secp, "INSTALLED", False)  # as on a machine without coincurve
    assert keys.choose_verifier("") == PYTHON_ECDSA
    with pytest.raises(ImportError, match="pip install coincurve"):
        keys.choose_verifier("libsecp256k1")


@pytest.mark.parametrize("setting, expected", [
    ("ecdsa", PYTHON_ECDSA),
    pytest.param("", LIBSECP256K1, marks=needs_libsecp256k1),
])
def test_toycoin_verify_in_the_environment_chooses_on_import(setting, expected):
    env = {**os.environ, "TOYCOIN_VERIFY": setting}
    result = subprocess.run([sys.executable, "-c", "import toycoin.keys as k; print(k.VERIFIER)"],
                            capture_output=True, text=True, env=env, check=True,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == expected
