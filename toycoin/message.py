"""Message: what every message has in common, and the fields several share.

Each frame on the wire (toycoin.wire) carries one payload, the message's own
serialization. Every message class is built the same way, and the fields
that several messages share are read and written here, once:

    Message                  base class: serialize(), read_from(reader), parse(data)
                             (ParseError on short or left-over bytes), repr "command()"
    write_text, read_text    a short printable ASCII string (node names, reject reasons)
    write_list, read_list    a compact-size count, then the items; the count is
                             checked against the message's limit before an item is read
    short_hex(digest)        a hash in display order, shortened, for reprs

The message classes themselves are in three modules, by kind: toycoin.msg_control
(handshake, pings, addresses, reject), toycoin.msg_data (transactions, blocks,
headers, inventory) and toycoin.msg_wallet (a wallet's questions and answers).

As in Bitcoin, a list's length comes first (a CompactSize, Bitcoin Core's
``ReadCompactSize``), and Bitcoin Core's parsers refuse a count above the
message's own limit (MAX_INV_SZ, MAX_HEADERS_RESULTS...) in the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar, TypeVar

from toycoin.encoding import ByteReader, compact_size, var_bytes
from toycoin.errors import ParseError

M = TypeVar("M", bound="Message")
T = TypeVar("T")


class Message:
    """Base class: subclasses are frozen dataclasses with a ``command``."""

    command: ClassVar[bytes]

    def serialize(self) -> bytes:
        return b""

    @classmethod
    def read_from(cls: type[M], reader: ByteReader) -> M:
        return cls()

    @classmethod
    def parse(cls: type[M], data: bytes) -> M:
        """One message from exactly ``data``; ParseError on short or left-over bytes."""
        reader = ByteReader(data)
        message = cls.read_from(reader)
        reader.finish()
        return message

    def __repr__(self) -> str:
        return f"{self.command.decode()}()"


def write_text(text: str) -> bytes:
    # Anything outside printable ASCII becomes "?", so the reader's check always passes.
    return var_bytes(bytes(c if 0x20 <= c < 0x7F else 0x3F for c in text.encode("ascii", "replace")))


def read_text(reader: ByteReader, max_length: int, what: str) -> str:
    """A short printable ASCII string; anything else is a ParseError."""
    raw = reader.read_var_bytes()
    if len(raw) > max_length:
        raise ParseError(f"{what} of {len(raw)} bytes is longer than {max_length}")
    if not all(0x20 <= c < 0x7F for c in raw):
        raise ParseError(f"{what} holds characters that are not printable ASCII")
    return raw.decode("ascii")


def write_list(items: Iterable[T], write_item: Callable[[T], bytes]) -> bytes:
    """A compact-size count, then each item's bytes."""
    parts = [write_item(item) for item in items]
    return compact_size(len(parts)) + b"".join(parts)


def read_list(reader: ByteReader, item_size: int, limit: int, read_item: Callable[[ByteReader], T],
              what: str) -> tuple[T, ...]:
    """A compact-size count of items of at least ``item_size`` bytes, at most ``limit``, then the items.

    ``what`` names the list in the error, with ``{n}`` for the count:
    "addr with {n} addresses".
    """
    count = reader.read_count(item_size)
    if count > limit:
        raise ParseError(f"{what.format(n=count)} (at most {limit})")
    return tuple(read_item(reader) for _ in range(count))


def short_hex(digest: bytes) -> str:
    """Display order (byte-reversed, like Bitcoin's txid_hex), shortened."""
    return digest[::-1].hex()[:12] + "…"
