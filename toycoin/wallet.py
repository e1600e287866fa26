"""Wallet: a private key, and the know-how to turn coins into a signed payment.

A wallet never needs the network to build a payment. Given the coins its
address can spend (``Ledger.unspent_for`` on a node it trusts), it picks
enough of them, pays the recipient, sends the change back to itself, and signs
every input. The result is an ordinary transaction that any node can check.

    Wallet                a key and its address
      .make_payment(...)  coin selection, change output, one signature per input

Simplifications compared with Bitcoin: one key and one address per wallet
(Bitcoin wallets derive a fresh address for every payment and for change, BIP32);
coin selection takes coins in the order given until the amount is covered
(Bitcoin Core: SelectCoins with branch-and-bound and knapsack); the fee is
whatever the caller asks for, in whole coins (Bitcoin: a fee rate per vbyte).

Reference: https://github.com/bitcoinbook/bitcoinbook/blob/develop/ch05_wallets.adoc
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from toycoin.errors import ValidationError
from toycoin.keys import PrivateKey
from toycoin.tx import OutPoint, Tx, TxIn, TxOut


@dataclass(frozen=True)
class Wallet:
    """A key that can spend the coins locked to its address."""

    key: PrivateKey

    @property
    def address(self) -> str:
        return self.key.address

    def make_payment(self, unspent: list[tuple[OutPoint, TxOut]], to_address: str,
                     amount: int, fee: int = 0) -> Tx:
        """A signed transaction paying ``amount`` to ``to_address`` and ``fee`` to the miner.

        ``unspent`` lists coins as (outpoint, output), e.g. from
        ``Ledger.unspent_for(wallet.address)``; coins of other addresses are
        skipped. Change goes back to this wallet's address.
        """
        if amount <= 0:
            raise ValidationError(f"a payment must be a positive amount, not {amount}")
        if fee < 0:
            raise ValidationError(f"a fee cannot be negative ({fee})")
        chosen = self._select_coins(unspent, amount + fee)
        change = sum(out.amount for _, out in chosen) - amount - fee
        outputs = [TxOut(amount, to_address)]
        if change:
            outputs.append(TxOut(change, self.address))
        unsigned = Tx([TxIn(outpoint) for outpoint, _ in chosen], outputs)
        return self.sign(unsigned, [out for _, out in chosen])

    def _select_coins(self, unspent: list[tuple[OutPoint, TxOut]],
                      needed: int) -> list[tuple[OutPoint, TxOut]]:
        mine = [(op, out) for op, out in unspent if out.address == self.address]
        chosen, total = [], 0
        for coin in mine:
            if total >= needed:
                break
            chosen.append(coin)
            total += coin[1].amount
        if total < needed:
            have = sum(out.amount for _, out in mine)
            raise ValidationError(f"not enough coins: has {have}, needs {needed}")
        return chosen

    def sign(self, tx: Tx, spent_outputs: list[TxOut]) -> Tx:
        """``tx`` with every input signed; ``spent_outputs[i]`` is the output input i spends.

        The digest leaves signatures out, so signing one input does not change
        another input's digest, and the inputs can be signed in any order.
        """
        public_key = self.key.public_key.serialize()
        signed = [replace(txin, signature=self.key.sign(tx.sighash(i, spent)),
                          public_key=public_key)
                  for i, (txin, spent) in enumerate(zip(tx.inputs, spent_outputs, strict=True))]
        return replace(tx, inputs=tuple(signed))
