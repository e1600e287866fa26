"""Branches for the fork tests: mined blocks built by hand, and a peer that serves them unchecked."""

from toycoin import params
from toycoin.block import Block, make_block
from toycoin.keys import PrivateKey
from toycoin.msg_data import BlockMessage, GetData, GetHeaders, Headers
from toycoin.node import course_genesis
from toycoin.peerman import PeerMan
from toycoin.pow import mine
from toycoin.tx import make_coinbase

BRANCH_MINER = PrivateKey.from_seed("branch miner").address
GENESIS = course_genesis()


def mined(prev: Block | None, height: int, salt: int = 0, coinbase_amount: int = 50) -> Block:
    """A block at ``height`` on ``prev`` (genesis if None), with valid proof of work on COURSE_POW."""
    prev = prev or GENESIS
    miner = PrivateKey.from_seed(f"branch miner {salt}").address if salt else BRANCH_MINER
    coinbase = make_coinbase(height, miner, coinbase_amount)  # another salt, another block
    timestamp = prev.header.timestamp + params.BLOCK_INTERVAL
    block = make_block(prev.hash, [coinbase], timestamp, params.POW_LIMIT_BITS)
    return Block(mine(block.header, 2**26), block.txs)


def branch(length: int, salt: int, base: list[Block] | None = None) -> list[Block]:
    """``length`` blocks from genesis: those of ``base``, then new ones marked by ``salt``."""
    blocks = list(base or [])
    while len(blocks) < length:
        blocks.append(mined(blocks[-1] if blocks else None, len(blocks) + 1, salt))
    return blocks


class BranchServer(PeerMan):
    """A peer that serves a branch of blocks it never validated: whatever it is given."""

    def __init__(self, name: str, blocks: list[Block], **options) -> None:
        super().__init__(name, **options)
        self.blocks = {block.hash: block for block in blocks}
        self.headers = tuple(block.header for block in blocks)
        self.handle(GetHeaders, lambda conn, message: conn.send(Headers(self.headers)))
        self.handle(GetData, self.on_getdata)

    def on_getdata(self, conn, message: GetData) -> None:
        for item in message.items:
            if item.hash in self.blocks:
                conn.send(BlockMessage(self.blocks[item.hash]))

    def start_height(self) -> int:
        return len(self.headers)
