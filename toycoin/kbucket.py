"""K-buckets: Kademlia's node ids, XOR distance, and the routing table they make.

In a distributed hash table every node and every key has an id of the same
160 bits, and "close" means a small XOR of two ids, read as a number. XOR is
a true distance (zero only to itself, symmetric, with the triangle
inequality), and for any id and any distance there is exactly one id at that
distance, so every lookup for a key heads towards the same few nodes.

A node keeps the contacts it knows in 160 buckets: bucket i holds nodes whose
distance from it has its highest set bit at position i, so each bucket covers
twice the id space of the one below. Each keeps at most k contacts, so a node
knows many nodes close to it and a few far away: enough to halve the distance
to any id in one step, which is why a lookup takes about log2(n) steps.

    ID_BITS, node_id(name), key_id(data)   ids: SHA-256 truncated to 160 bits
    distance(a, b), bucket_index(own, other)
    Contact(node_id, host, port)          a node, and where it listens
    RoutingTable(own_id, k)               add (least recently seen first), remove, closest(target, n)

Simplifications compared with Kademlia (Maymounkov and Mazières, 2002,
https://pdos.csail.mit.edu/~petar/papers/maymounkov-kademlia-lncs.pdf): ids
are derived from node names rather than drawn at random, so runs repeat; a
full bucket keeps its old contacts and drops the newcomer without pinging
the oldest first (Kademlia keeps the oldest if it still answers, because
long-lived nodes tend to stay); buckets are never split or refreshed.
"""

from __future__ import annotations

from dataclasses import dataclass

from toycoin.encoding import sha256

ID_BYTES = 20
ID_BITS = 8 * ID_BYTES


def node_id(name: str) -> bytes:
    """The 160-bit id of the DHT node called ``name``."""
    return sha256(b"toycoin dht node " + name.encode())[:ID_BYTES]


def key_id(data: bytes) -> bytes:
    """The 160-bit key under which ``data`` (a name, a file's root) is stored."""
    return sha256(b"toycoin dht key " + data)[:ID_BYTES]


def distance(a: bytes, b: bytes) -> int:
    """Kademlia's distance: the XOR of two ids, read as a big-endian number."""
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


def bucket_index(own: bytes, other: bytes) -> int:
    """Which bucket ``other`` belongs in: the position of the highest bit where the ids differ."""
    if own == other:
        raise ValueError("a node keeps no bucket for itself")
    return distance(own, other).bit_length() - 1


@dataclass(frozen=True)
class Contact:
    """A node of the DHT: its id, and the (host, port) where it listens."""

    node_id: bytes
    host: str
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __repr__(self) -> str:
        return f"Contact({self.node_id.hex()[:8]}…, {self.host}:{self.port})"


class RoutingTable:
    """A node's k-buckets: at most ``k`` contacts per bucket, least recently seen first."""

    def __init__(self, own_id: bytes, k: int) -> None:
        if len(own_id) != ID_BYTES or k < 1:
            raise ValueError(f"a routing table needs a {ID_BYTES}-byte id and k >= 1")
        self.own_id, self.k = own_id, k
        self.buckets: list[list[Contact]] = [[] for _ in range(ID_BITS)]

    def add(self, contact: Contact) -> bool:
        """Note that ``contact`` was seen; False if its bucket is full (the newcomer is dropped)."""
        if contact.node_id == self.own_id:
            return False
        bucket = self.buckets[bucket_index(self.own_id, contact.node_id)]
        for i, known in enumerate(bucket):
            if known.node_id == contact.node_id:
                del bucket[i]  # seen again: move it to the tail (and take its new address)
                bucket.append(contact)
                return True
        if len(bucket) >= self.k:
            return False
        bucket.append(contact)
        return True

    def remove(self, node_id: bytes) -> None:
        """Forget a node that did not answer."""
        if node_id != self.own_id:
            bucket = self.buckets[bucket_index(self.own_id, node_id)]
            bucket[:] = [c for c in bucket if c.node_id != node_id]

    def contacts(self) -> list[Contact]:
        return [c for bucket in self.buckets for c in bucket]

    def closest(self, target: bytes, count: int) -> list[Contact]:
        """The ``count`` known contacts closest to ``target``, closest first."""
        return sorted(self.contacts(), key=lambda c: distance(c.node_id, target))[:count]

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self.buckets)

    def __contains__(self, node_id: bytes) -> bool:
        return node_id != self.own_id and any(
            c.node_id == node_id for c in self.buckets[bucket_index(self.own_id, node_id)])
