"""Chains for the sync tests: a node seals blocks that each hold a real, signed payment."""

from toycoin.keys import PrivateKey
from toycoin.wallet import Wallet

MINER = PrivateKey.from_seed("test miner")
PAYEES = [PrivateKey.from_seed(name).address for name in ("bob", "carol", "dave")]


def grow(node, blocks: int) -> None:
    """Seal ``blocks`` blocks on ``node`` (made with services=[Relay, BlockSync]
    and miner_address=MINER.address).

    From the second block on, each holds a payment of 1 coin from the miner's
    earlier rewards, so syncing them means checking signatures, as on a real chain.
    """
    wallet = Wallet(MINER)
    for _ in range(blocks):
        coins = node.ledger.unspent_for(MINER.address) if node.height else []
        if coins:
            payee = PAYEES[node.height % len(PAYEES)]
            node.submit_tx(wallet.make_payment(coins[:1], payee, 1))
        node.seal()
