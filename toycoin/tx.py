"""Transactions: coins are outputs, and a payment spends some outputs to create new ones.

There are no account balances. Each transaction output (TxOut) locks an amount
to an address. A later transaction spends it with an input (TxIn) that points
at it by its outpoint (txid and output index) and proves ownership with the
public key and a signature. Whatever an address can spend is the set of
unspent outputs locked to it: the UTXO set, kept by toycoin.ledger.

    OutPoint          (txid, index): which output of which transaction
    TxOut             an amount and the address that may spend it
    TxIn              an outpoint, plus the signature and public key that unlock it
    Tx                version, inputs, outputs, locktime; .txid, .sighash(...)
    make_coinbase     the first transaction of a block, which creates new coins

Every object has ``serialize()``, ``parse(data)`` and ``read_from(reader)``;
parse raises ParseError on truncated or left-over bytes. The txid is the
sha256d of the serialization (txid, internal byte order) and txid_hex is its
byte-reversed hex, the way Bitcoin displays it.

Simplifications compared with Bitcoin:
- No scripts. An output names an address (Bitcoin: a P2PKH scriptPubKey), and
  an input carries a signature and a public key (Bitcoin: its scriptSig).
- No nSequence and no scripts, so the bytes differ from Bitcoin's: Bitcoin
  software cannot parse a toycoin transaction, nor toycoin a Bitcoin one.
- One kind of signature digest (Bitcoin: SIGHASH_ALL). It commits to what
  BIP143 added for SegWit: the amount and address of the output being spent,
  which lets a hardware wallet know the fee it signs. It hashes the parts shared
  by all inputs once (BIP143's hashPrevouts and hashOutputs), so signing or
  checking n inputs costs O(n), not O(n^2) as in legacy Bitcoin.
- A coinbase input carries the block height in its ``signature`` field, 4 bytes
  little-endian (Bitcoin, BIP34: in the coinbase scriptSig), so coinbases of
  different blocks have different txids (Bitcoin's duplicate-txid bug, BIP30).
- Amounts are whole coins, written as a signed 8-byte integer like nValue.

Reference: https://developer.bitcoin.org/reference/transactions.html
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from toycoin.encoding import ByteReader, compact_size, parse_all, sha256d, var_bytes
from toycoin.keys import address_to_pubkey_hash, make_address
from toycoin.params import TX_VERSION

NULL_TXID = bytes(32)
NULL_INDEX = 0xFFFF_FFFF
OUTPOINT_SIZE = 36
TXIN_MIN_SIZE = OUTPOINT_SIZE + 2  # an outpoint and two empty byte strings
TXOUT_SIZE = 8 + 20  # amount and pubkey hash
AMOUNT_LIMIT = 2**63  # an amount must fit in a signed 8-byte integer, like nValue


@dataclass(frozen=True, order=True, repr=False)
class OutPoint:
    """Names one output: the txid of its transaction and its position in the outputs."""

    txid: bytes
    index: int

    def __post_init__(self) -> None:
        if len(self.txid) != 32 or not 0 <= self.index <= NULL_INDEX:
            raise ValueError("an outpoint is a 32-byte txid and an index from 0 to 2**32 - 1")

    @classmethod
    def null(cls) -> OutPoint:
        """The outpoint a coinbase input points at: it spends nothing."""
        return cls(NULL_TXID, NULL_INDEX)

    @property
    def is_null(self) -> bool:
        return self.txid == NULL_TXID and self.index == NULL_INDEX

    def serialize(self) -> bytes:
        return self.txid + self.index.to_bytes(4, "little")

    @classmethod
    def read_from(cls, reader: ByteReader) -> OutPoint:
        return cls(reader.read(32), reader.read_int(4))

    @classmethod
    def parse(cls, data: bytes) -> OutPoint:
        return parse_all(cls.read_from, data)

    def __str__(self) -> str:
        return f"{self.txid[::-1].hex()}:{self.index}"

    def __repr__(self) -> str:
        return f"OutPoint(txid_hex={self.txid[::-1].hex()!r}, index={self.index})"


@dataclass(frozen=True, init=False, repr=False)
class TxOut:
    """An amount of whole coins, locked to an address: ``TxOut(amount, address)``.

    What it holds, and what goes on the wire, is the address's pubkey hash.
    The address text is made from it only when asked for: a node that parses
    a block checks its outputs' amounts and pubkey hashes, never their text.
    """

    amount: int
    pubkey_hash: bytes

    def __init__(self, amount: int, address: str | None = None, *, pubkey_hash: bytes | None = None) -> None:
        if not -AMOUNT_LIMIT <= amount < AMOUNT_LIMIT:
            raise ValueError("an amount must fit in a signed 8-byte integer")
        if pubkey_hash is None:
            if address is None:
                raise TypeError("TxOut needs an address (or, from read_from, a pubkey_hash)")
            # Decoded once, here: a mistyped address fails now, with a ParseError.
            pubkey_hash = address_to_pubkey_hash(address)
            self.__dict__["address"] = address  # the text it was given is the text it shows
        elif len(pubkey_hash) != 20:
            raise ValueError(f"a pubkey hash is 20 bytes, not {len(pubkey_hash)}")
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "pubkey_hash", bytes(pubkey_hash))

    @cached_property
    def address(self) -> str:
        """The address text ("T..."), made from the pubkey hash on first use."""
        return make_address(self.pubkey_hash)

    def __repr__(self) -> str:
        return f"TxOut(amount={self.amount!r}, address={self.address!r})"

    def serialize(self) -> bytes:
        return self.amount.to_bytes(8, "little", signed=True) + self.pubkey_hash

    @classmethod
    def read_from(cls, reader: ByteReader) -> TxOut:
        amount = reader.read_int(8, signed=True)
        return cls(amount, pubkey_hash=reader.read(20))

    @classmethod
    def parse(cls, data: bytes) -> TxOut:
        return parse_all(cls.read_from, data)


@dataclass(frozen=True, repr=False)
class TxIn:
    """Spends the output at ``outpoint``; the signature and public key prove the right to."""

    outpoint: OutPoint
    signature: bytes = b""
    public_key: bytes = b""

    def __repr__(self) -> str:
        if self.outpoint.is_null:
            return f"TxIn(coinbase, data={self.signature.hex()!r})"
        return (f"TxIn(spends={self.outpoint}, signature={_short(self.signature)}, "
                f"public_key={_short(self.public_key)})")

    def serialize(self) -> bytes:
        return self.outpoint.serialize() + var_bytes(self.signature) + var_bytes(self.public_key)

    @classmethod
    def read_from(cls, reader: ByteReader) -> TxIn:
        outpoint = OutPoint.read_from(reader)
        return cls(outpoint, reader.read_var_bytes(), reader.read_var_bytes())

    @classmethod
    def parse(cls, data: bytes) -> TxIn:
        return parse_all(cls.read_from, data)


def _short(data: bytes) -> str:
    """Long byte strings in reprs: the first bytes in hex and the length."""
    return repr(data.hex()) if len(data) <= 8 else f"'{data[:6].hex()}…' ({len(data)} bytes)"


@dataclass(frozen=True)
class Tx:
    """A transaction. Lists given for inputs and outputs are stored as tuples."""

    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    version: int = TX_VERSION
    locktime: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if not (0 <= self.version <= NULL_INDEX and 0 <= self.locktime <= NULL_INDEX):
            raise ValueError("version and locktime are 4-byte unsigned integers")

    def serialize(self) -> bytes:
        parts = [self.version.to_bytes(4, "little"), compact_size(len(self.inputs))]
        parts += [txin.serialize() for txin in self.inputs]
        parts.append(compact_size(len(self.outputs)))
        parts += [txout.serialize() for txout in self.outputs]
        parts.append(self.locktime.to_bytes(4, "little"))
        return b"".join(parts)

    @classmethod
    def read_from(cls, reader: ByteReader) -> Tx:
        version = reader.read_int(4)
        inputs = [TxIn.read_from(reader) for _ in range(reader.read_count(TXIN_MIN_SIZE))]
        outputs = [TxOut.read_from(reader) for _ in range(reader.read_count(TXOUT_SIZE))]
        return cls(inputs, outputs, version, reader.read_int(4))

    @classmethod
    def parse(cls, data: bytes) -> Tx:
        return parse_all(cls.read_from, data)

    @cached_property
    def txid(self) -> bytes:
        """sha256d of the serialization, in internal byte order (computed once)."""
        return sha256d(self.serialize())

    @property
    def txid_hex(self) -> str:
        """The txid as Bitcoin displays it: byte-reversed hex."""
        return self.txid[::-1].hex()

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].outpoint.is_null

    @property
    def coinbase_height(self) -> int | None:
        """The block height a coinbase carries, or None if this is no well-formed coinbase."""
        if not self.is_coinbase or len(self.inputs[0].signature) != 4:
            return None
        return int.from_bytes(self.inputs[0].signature, "little")

    @cached_property
    def _sighash_common(self) -> bytes:
        # What every input's digest shares, hashed once per transaction
        # (BIP143 calls the parts hashPrevouts and hashOutputs).
        outpoints = sha256d(b"".join(txin.outpoint.serialize() for txin in self.inputs))
        outputs = sha256d(b"".join(txout.serialize() for txout in self.outputs))
        return (self.version.to_bytes(4, "little") + outpoints + outputs
                + self.locktime.to_bytes(4, "little"))

    def sighash(self, input_index: int, spent_output: TxOut) -> bytes:
        """The 32-byte digest input ``input_index`` signs.

        It commits to the version, every outpoint, every output, the locktime,
        which input is signing, and the amount and address of the output it
        spends. It leaves out the signatures and public keys themselves, which
        cannot sign themselves.
        """
        if not 0 <= input_index < len(self.inputs):
            raise IndexError(f"transaction has no input {input_index}")
        return sha256d(self._sighash_common + input_index.to_bytes(4, "little")
                       + spent_output.serialize())


def make_coinbase(height: int, address: str, amount: int) -> Tx:
    """The transaction that pays a block's reward and fees, marked with its block height."""
    coinbase_input = TxIn(OutPoint.null(), signature=height.to_bytes(4, "little"))
    return Tx([coinbase_input], [TxOut(amount, address)])
