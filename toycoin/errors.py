"""Errors: one small hierarchy, so callers can catch exactly what they mean.

Every error toycoin raises on purpose is a ``ToycoinError``. The subclasses say
which kind of thing went wrong, and the message says which rule was broken, in
words a learner can act on ("input 0 spends an output that does not exist").

    ToycoinError
    ├── ParseError        bytes that do not decode (truncated, left over, malformed)
    ├── ValidationError   a transaction, block or proof breaks a consensus rule
    │   └── InvalidBlock  ... and this block (by hash) did it, so its branch is refused
    ├── ProtocolError     a peer broke the wire protocol
    └── NodeError         a node or the network runtime cannot do what was asked
        └── StoreError    a node's data directory cannot be opened or is damaged

python-bitcoinlib has the same shape: a documented base class, and narrow
subclasses that code can catch.
"""


class ToycoinError(Exception):
    """Base class of every error toycoin raises on purpose."""


class ParseError(ToycoinError):
    """Bytes that cannot be decoded into the object asked for."""


class ValidationError(ToycoinError):
    """A transaction, block or proof that breaks a rule; the message names the rule."""


class InvalidBlock(ValidationError):
    """A block of a branch broke a rule; ``block_hash`` names it."""

    def __init__(self, block_hash: bytes, reason: str) -> None:
        super().__init__(reason)
        self.block_hash = block_hash


class ProtocolError(ToycoinError):
    """A peer sent something the wire protocol does not allow."""


class NodeError(ToycoinError):
    """A node, or the runtime that runs nodes, cannot do what was asked."""


class StoreError(NodeError):
    """A node's data directory cannot be opened, or what it holds does not add up."""
