"""Tests for toycoin.keys: keys from seeds, SEC encoding, addresses, low-S ECDSA."""

import hashlib

import pytest

from toycoin.errors import ParseError
from toycoin.keys import (CURVE_ORDER, PrivateKey, PublicKey, address_to_pubkey_hash, make_address,
                          pubkey_hash)

# The generator point G of secp256k1, compressed (SEC 2, section 2.4.1): the public key of secret 1.
G_COMPRESSED = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"

# Deterministic-signature (RFC 6979, SHA-256) vectors for secp256k1, low-S form,
# collected at https://bitcointalk.org/index.php?topic=285142.40 and found in
# many wallet libraries' tests. (secret, message hashed once with SHA-256, r || s)
RFC6979_VECTORS = [
    (1, b"Satoshi Nakamoto",
     "934b1ea10a4b3c1757e2b0c017d0b6143ce3c9a7e6a4a49860d7a6ab210ee3d8"
     "2442ce9d2b916064108014783e923ec36b49743e2ffa1c4496f01a512aafd9e5"),
    (1, b"All those moments will be lost in time, like tears in rain. Time to die...",
     "8600dbd41e348fe5c9465ab92d23e3db8b98b873beecd930736488696438cb6b"
     "547fe64427496db33bf66019dacbf0039c04199abb0122918601db38a72cfc21"),
    (CURVE_ORDER - 1, b"Satoshi Nakamoto",
     "fd567d121db66e382991534ada77a6bd3106f0a1098c231e47993447cd6af2d0"
     "6b39cd0eb1bc8603e159ef5c20a5c8ad685a45b06ce9bebed3f153d10d93bed5"),
]


def digest(text: bytes) -> bytes:
    return hashlib.sha256(text).digest()


def test_secret_one_gives_the_generator_point():
    assert PrivateKey(1).public_key.serialize().hex() == G_COMPRESSED


@pytest.mark.parametrize("secret, message, signature", RFC6979_VECTORS)
def test_signatures_match_published_rfc6979_vectors(secret, message, signature):
    key = PrivateKey(secret)
    assert key.sign(digest(message)).hex() == signature
    assert key.public_key.verify(digest(message), bytes.fromhex(signature))


def test_seed_keys_are_reproducible():
    # secret = sha256(seed) mod n, so anyone can recreate Alice's key from "alice".
    alice = PrivateKey.from_seed("alice")
    assert alice == PrivateKey.from_seed("alice")
    assert alice.secret == int.from_bytes(hashlib.sha256(b"alice").digest(), "big") % CURVE_ORDER
    assert alice.address != PrivateKey.from_seed("bob").address


def test_generated_keys_differ():
    assert PrivateKey.generate() != PrivateKey.generate()


def test_secret_out_of_range_is_refused():
    for secret in (0, CURVE_ORDER):
        with pytest.raises(ValueError):
            PrivateKey(secret)


def test_repr_shows_the_address_never_the_secret():
    key = PrivateKey.from_seed("alice")
    assert key.address in repr(key)
    assert str(key.secret) not in repr(key)


def test_tampered_digest_or_wrong_key_fails():
    alice, bob = PrivateKey.from_seed("alice"), PrivateKey.from_seed("bob")
    signature = alice.sign(digest(b"pay bob 10"))
    assert alice.public_key.verify(digest(b"pay bob 10"), signature)
    assert not alice.public_key.verify(digest(b"pay bob 99"), signature)
    assert not bob.public_key.verify(digest(b"pay bob 10"), signature)


def test_high_s_twin_is_rejected():
    # (r, n - s) is the same signature for the curve, but Bitcoin (BIP146) accepts only low S.
    key = PrivateKey.from_seed("alice")
    signature = key.sign(digest(b"hello"))
    r, s = signature[:32], int.from_bytes(signature[32:], "big")
    assert s <= CURVE_ORDER // 2
    twin = r + (CURVE_ORDER - s).to_bytes(32, "big")
    assert not key.public_key.verify(digest(b"hello"), twin)


def test_malformed_signatures_are_just_invalid():
    key = PrivateKey.from_seed("alice")
    for signature in (b"", bytes(64), b"\xff" * 64, key.sign(digest(b"x")) + b"\x00"):
        assert not key.public_key.verify(digest(b"x"), signature)


@pytest.mark.parametrize("sec", [
    b"",
    bytes.fromhex(G_COMPRESSED)[:32],                       # too short
    b"\x04" + bytes.fromhex(G_COMPRESSED)[1:],              # wrong prefix
    b"\x02" + (5).to_bytes(32, "big"),                      # x = 5 is not on the curve
    b"\x02" + b"\xff" * 32,                                 # x above the field size
])
def test_malformed_public_key_raises_parse_error(sec):
    # python-ecdsa raises MalformedPointError here; toycoin turns it into ParseError.
    with pytest.raises(ParseError):
        PublicKey.parse(sec)


def test_address_round_trip_and_prefix():
    key = PrivateKey.from_seed("alice")
    key_hash = pubkey_hash(key.public_key.serialize())
    assert key.address == make_address(key_hash)
    assert key.address.startswith("T")
    assert address_to_pubkey_hash(key.address) == key_hash


def test_a_bitcoin_address_is_not_a_toycoin_address():
    with pytest.raises(ParseError, match="not a toycoin address"):
        address_to_pubkey_hash("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")


def test_a_name_typed_where_an_address_belongs_says_to_pass_the_address():
    with pytest.raises(ParseError, match=r"'bob' is not a toycoin address but looks like a name: pass the "
                                         r"address, e.g. PrivateKey.from_seed\('bob'\).address"):
        address_to_pubkey_hash("bob")
    typo = PrivateKey.from_seed("bob").address[:-1] + "x"
    with pytest.raises(ParseError, match=r"is not a toycoin address: .*\(a typo\?\)"):
        address_to_pubkey_hash(typo)
