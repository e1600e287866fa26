"""Keys: who may spend a coin, and how they prove it.

A private key is a secret number. Its public key is a point on the elliptic
curve secp256k1, which anyone can compute from the secret but nobody can turn
back into it. An address is a short, checksummed name for a public key, to
which people send coins. Signing a 32-byte digest with the private key
produces a signature that anyone can check against the public key.

    PrivateKey        a secret: from a readable seed, or random; .sign(digest)
    PublicKey         a curve point as 33 bytes (compressed SEC); .verify(digest, sig)
    pubkey_hash       the 20 bytes an address is made of
    make_address      pubkey hash -> address text ("T...")
    address_to_pubkey_hash   address text -> pubkey hash, with its checksum checked
    VERIFIER          which library checks signatures: "libsecp256k1" or "python-ecdsa"

The curve arithmetic comes from the ``ecdsa`` package, always with
``curve=SECP256k1`` and ``hashfunc=hashlib.sha256`` spelled out (its defaults
are a different curve and SHA-1). Signatures are deterministic (RFC 6979), so
the same key and digest always give the same signature.

Checking a signature is the costliest step of validating a payment, so when the
``coincurve`` package is installed, PublicKey checks points and signatures with
libsecp256k1, Bitcoin Core's C library (see toycoin/secp.py), about 25 times
faster (33 us against 0.8 ms; benchmarks/bench_verify.py). The python-ecdsa
code below is what it replaces, with the same verdict on every input.
``VERIFIER`` names the library in use, toycoin's one module-level setting: it
is chosen on import from the environment variable TOYCOIN_VERIFY (``ecdsa`` for
python-ecdsa alone, ``libsecp256k1`` to insist on it, unset for the faster one
installed), and may be assigned later (``keys.VERIFIER = keys.PYTHON_ECDSA``).
Signing always uses python-ecdsa, so signatures never depend on the setting.

Simplifications compared with Bitcoin:
- Signatures are 64 bytes, r then s, each 32 bytes big-endian (the "compact"
  form), instead of DER. Every signature has one length and one layout, which
  removes DER's parsing pitfalls (Bitcoin needed BIP66 to make DER strict).
- Only the low-S form is valid: a consensus rule here, stricter than Bitcoin.
  For every signature (r, s) the twin (r, n - s) verifies too, so anyone could
  change a txid without the key (malleability). In Bitcoin, low S (BIP146's
  LOW_S) is a relay policy of Bitcoin Core: a block may still hold a high-S
  signature, and SegWit is what finally took signatures out of the txid.
  toycoin has no SegWit, so it closes the hole with the rule itself: one
  signature, one txid. sign() produces low-S; verify() rejects high-S.
- The pubkey hash is the first 20 bytes of SHA256(SHA256(pubkey)). Bitcoin uses
  HASH160 = RIPEMD160(SHA256(pubkey)), but RIPEMD160 is missing from many
  OpenSSL 3 builds of hashlib.
- Addresses use version byte 0x41, so they start with "T", never "1".

Reference: https://github.com/bitcoinbook/bitcoinbook/blob/develop/ch04_keys.adoc
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ecdsa import SECP256k1, BadSignatureError, MalformedPointError, SigningKey, VerifyingKey

from toycoin import secp
from toycoin.encoding import base58check_decode, base58check_encode, sha256, sha256d
from toycoin.errors import ParseError
from toycoin.params import ADDRESS_VERSION

CURVE_ORDER = SECP256k1.order  # n: how many points the generator G reaches
PUBLIC_KEY_SIZE = 33
SIGNATURE_SIZE = 64
PUBKEY_HASH_SIZE = 20
PYTHON_ECDSA = "python-ecdsa"
LIBSECP256K1 = "libsecp256k1"


def choose_verifier(setting: str) -> str:
    """The verifier a TOYCOIN_VERIFY setting asks for: "" means the faster one installed."""
    if setting in ("ecdsa", PYTHON_ECDSA):
        return PYTHON_ECDSA
    if setting == LIBSECP256K1 and not secp.INSTALLED:
        raise ImportError("TOYCOIN_VERIFY=libsecp256k1 needs the coincurve package: pip install coincurve")
    if setting in ("", LIBSECP256K1):
        return LIBSECP256K1 if secp.INSTALLED else PYTHON_ECDSA
    raise ValueError(f"TOYCOIN_VERIFY={setting!r}: use ecdsa or libsecp256k1, or leave it unset")


# The library PublicKey uses to check points and signatures (see the module docstring).
VERIFIER = choose_verifier(os.environ.get("TOYCOIN_VERIFY", ""))


def pubkey_hash(public_key: bytes) -> bytes:
    """The 20 bytes an address names (Bitcoin: HASH160; see the module docstring)."""
    return sha256d(public_key)[:PUBKEY_HASH_SIZE]


def make_address(key_hash: bytes) -> str:
    """Address text for a pubkey hash: base58check of the version byte and the hash."""
    if len(key_hash) != PUBKEY_HASH_SIZE:
        raise ValueError(f"a pubkey hash is {PUBKEY_HASH_SIZE} bytes, not {len(key_hash)}")
    return base58check_encode(bytes([ADDRESS_VERSION]) + key_hash)


def address_to_pubkey_hash(address: str) -> bytes:
    """The pubkey hash inside an address; ParseError for a typo, a name or a foreign address."""
    if isinstance(address, str) and address.isalpha() and len(address) < 25:
        # Far too short for an address: most likely a person's name, typed where the address goes.
        raise ParseError(f"{address!r} is not a toycoin address but looks like a name: pass the "
                         f"address, e.g. PrivateKey.from_seed({address!r}).address")
    try:
        payload = base58check_decode(address)
    except ParseError as error:
        raise ParseError(f"{address!r} is not a toycoin address: {error}") from None
    if len(payload) != 1 + PUBKEY_HASH_SIZE or payload[0] != ADDRESS_VERSION:
        raise ParseError(f"{address!r} is not a toycoin address")
    return payload[1:]


def _encode_low_s(r: int, s: int, order: int) -> bytes:
    # Of the two valid s values, s and n - s, keep the smaller one (BIP146's LOW_S).
    s = min(s, order - s)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@dataclass(frozen=True)
class PublicKey:
    """A point on secp256k1, kept as its 33-byte compressed SEC encoding.

    Constructing one checks that the bytes really are a point on the curve,
    with the library VERIFIER names.
    """

    sec: bytes

    def __post_init__(self) -> None:
        sec = bytes(self.sec)
        if len(sec) != PUBLIC_KEY_SIZE or sec[0] not in (2, 3):
            raise ParseError("a public key is 33 bytes starting with 02 or 03")
        object.__setattr__(self, "sec", sec)
        # Parsing is the check; each library's parsed key is kept for the next verify.
        _ = self._libsecp256k1_key if VERIFIER == LIBSECP256K1 else self._verifying_key

    @cached_property
    def _verifying_key(self) -> VerifyingKey:
        try:
            return VerifyingKey.from_string(self.sec, curve=SECP256k1, hashfunc=hashlib.sha256)
        except (MalformedPointError, ValueError):
            raise ParseError("public key is not a point on secp256k1") from None

    @cached_property
    def _libsecp256k1_key(self) -> Any:
        return secp.parse_public_key(self.sec)

    @classmethod
    def parse(cls, data: bytes) -> PublicKey:
        return cls(data)

    def serialize(self) -> bytes:
        return self.sec

    @property
    def address(self) -> str:
        return make_address(pubkey_hash(self.sec))

    def verify(self, digest: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this key's low-S signature of the 32-byte ``digest``."""
        if len(digest) != 32 or len(signature) != SIGNATURE_SIZE:
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        if not (0 < r < CURVE_ORDER and 0 < s <= CURVE_ORDER // 2):
            return False  # out of range, or the high-S twin of a valid signature
        if VERIFIER == LIBSECP256K1:
            return secp.verify(self._libsecp256k1_key, digest, r, s)
        try:
            return self._verifying_key.verify_digest(signature, digest)
        except BadSignatureError:
            return False


@dataclass(frozen=True, repr=False)
class PrivateKey:
    """A secret number between 1 and n - 1. Its repr shows the address, never the secret."""

    secret: int

    def __repr__(self) -> str:
        return f"PrivateKey(address={self.address!r})"

    def __post_init__(self) -> None:
        if not 0 < self.secret < CURVE_ORDER:
            raise ValueError("a private key must be between 1 and the curve order - 1")

    @classmethod
    def from_seed(cls, seed: str) -> PrivateKey:
        """A key anyone can recreate from the same words: secret = sha256(seed) mod n.

        Fine for a course; real coins need a secret nobody can guess (generate()).
        """
        secret = int.from_bytes(sha256(seed.encode("utf-8")), "big") % CURVE_ORDER
        if secret == 0:  # odds about 1 in 2**256, but a key of 0 would be invalid
            raise ValueError(f"seed {seed!r} gives the invalid key 0; choose another")
        return cls(secret)

    @classmethod
    def generate(cls) -> PrivateKey:
        """A random key from the operating system's secure random source."""
        return cls(secrets.randbelow(CURVE_ORDER - 1) + 1)

    @cached_property
    def _signing_key(self) -> SigningKey:
        return SigningKey.from_secret_exponent(
            self.secret, curve=SECP256k1, hashfunc=hashlib.sha256)

    @cached_property
    def public_key(self) -> PublicKey:
        point = self._signing_key.get_verifying_key().to_string("compressed")
        return PublicKey(point)

    @property
    def address(self) -> str:
        return self.public_key.address

    def sign(self, digest: bytes) -> bytes:
        """A 64-byte low-S signature of a 32-byte digest, deterministic (RFC 6979, SHA-256)."""
        if len(digest) != 32:
            raise ValueError(f"sign a 32-byte digest, not {len(digest)} bytes")
        return self._signing_key.sign_digest_deterministic(
            digest, hashfunc=hashlib.sha256, sigencode=_encode_low_s)
