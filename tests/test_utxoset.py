"""The UTXO set's two indexes, by outpoint and by key hash, always agree."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toycoin.block import make_genesis
from toycoin.errors import ParseError
from toycoin.keys import PrivateKey
from toycoin.ledger import Ledger
from toycoin.tx import OutPoint, TxOut
from toycoin.utxoset import UtxoSet

KEYS = [PrivateKey.from_seed(name).address for name in ("alice", "bob", "carol")]
OUTPOINTS = [OutPoint(bytes([i]) * 32, n) for i in range(4) for n in range(3)]

operations = st.lists(st.tuples(st.sampled_from(["add", "pop"]), st.sampled_from(OUTPOINTS),
                                st.sampled_from(KEYS), st.integers(0, 100)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_the_index_by_key_agrees_with_the_outputs_after_any_adds_and_pops(ops):
    utxos, model = UtxoSet(), {}
    for op, outpoint, address, amount in ops:
        if op == "add":
            utxos.add(outpoint, TxOut(amount, address))
            model[outpoint] = TxOut(amount, address)
        else:
            assert utxos.pop(outpoint, None) == model.pop(outpoint, None)
    assert dict(utxos.items()) == model and len(utxos) == len(model)
    for address in KEYS:
        key = TxOut(0, address).pubkey_hash
        assert utxos.of(key) == {op: out for op, out in model.items() if out.pubkey_hash == key}
    assert not any(not coins for coins in utxos._by_key.values()), "an empty entry was left behind"


def test_pop_without_a_default_raises_and_of_returns_a_copy():
    utxos = UtxoSet([(OUTPOINTS[0], TxOut(5, KEYS[0]))])
    with pytest.raises(KeyError):
        utxos.pop(OUTPOINTS[1])
    key = TxOut(0, KEYS[0]).pubkey_hash
    utxos.of(key).clear()
    assert utxos.of(key) == {OUTPOINTS[0]: TxOut(5, KEYS[0])} and OUTPOINTS[0] in utxos


def test_a_balance_asked_with_a_name_names_the_mistake():
    ledger = Ledger(make_genesis(KEYS[0], 100, 1231006505))
    assert ledger.balance(KEYS[0]) == 100 and ledger.balance(KEYS[1]) == 0
    assert [out.amount for _, out in ledger.unspent_for(KEYS[0])] == [100]
    with pytest.raises(ParseError, match="looks like a name: pass the address"):
        ledger.balance("alice")
    with pytest.raises(ParseError, match="is not a toycoin address"):
        ledger.unspent_for(KEYS[0][:-1] + "x")
