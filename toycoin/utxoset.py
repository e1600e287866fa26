"""The UTXO set: every unspent output, by outpoint and by the key hash it is locked to.

A ledger looks an output up by its outpoint when a transaction spends it; a
wallet asks for the coins of one address (``getutxos``, a balance). Kept
only by outpoint, the second question costs a walk over the whole set, and
any peer may ask it as often as it likes. So the set keeps a second index,
by pubkey hash, updated with the first: a wallet's question costs what that
address holds.

    UtxoSet(items=())      from (outpoint, output) pairs
      .get(outpoint), outpoint in set, len(set), .items()
      .add(outpoint, output), .pop(outpoint[, default])
      .of(pubkey_hash)      {outpoint: output} locked to that key hash (a new dict)

Bitcoin Core keeps its coins by outpoint only (CCoinsViewCache) and leaves
questions by address to wallets and indexers; a toycoin node answers them
itself, for the chapters' wallets and light clients.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from toycoin.tx import OutPoint, TxOut

_MISSING = object()


class UtxoSet:
    """Unspent outputs by outpoint, and by pubkey hash."""

    def __init__(self, items: Iterable[tuple[OutPoint, TxOut]] = ()) -> None:
        self._outputs: dict[OutPoint, TxOut] = {}
        self._by_key: dict[bytes, dict[OutPoint, TxOut]] = {}
        for outpoint, output in items:
            self.add(outpoint, output)

    def __len__(self) -> int:
        return len(self._outputs)

    def __contains__(self, outpoint: object) -> bool:
        return outpoint in self._outputs

    def get(self, outpoint: OutPoint) -> TxOut | None:
        return self._outputs.get(outpoint)

    def items(self) -> Iterator[tuple[OutPoint, TxOut]]:
        return iter(self._outputs.items())

    def add(self, outpoint: OutPoint, output: TxOut) -> None:
        self.pop(outpoint, None)  # replaced, not kept twice under two keys
        self._outputs[outpoint] = output
        self._by_key.setdefault(output.pubkey_hash, {})[outpoint] = output

    def pop(self, outpoint: OutPoint, default: object = _MISSING) -> TxOut:
        """Remove and return the output at ``outpoint``; KeyError if there is none and no default."""
        output = self._outputs.pop(outpoint, None)
        if output is None:
            if default is _MISSING:
                raise KeyError(outpoint)
            return default  # type: ignore[return-value]
        same_key = self._by_key[output.pubkey_hash]
        del same_key[outpoint]
        if not same_key:
            del self._by_key[output.pubkey_hash]
        return output

    def of(self, pubkey_hash: bytes) -> dict[OutPoint, TxOut]:
        """The outputs locked to ``pubkey_hash``, as a new dict (empty if none)."""
        return dict(self._by_key.get(pubkey_hash, {}))
