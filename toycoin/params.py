"""Parameters: every constant of toycoin in one place.

Each constant has a comment, and where Bitcoin has the same idea, Bitcoin
Core's own name in brackets, so a reader can look it up.
Sections are grouped by the layer that uses them, from primitives up to the network.
"""

# --- money ------------------------------------------------------------------
# toycoin counts whole coins: Alice has 100, she pays 10, she has 90 left.
# Bitcoin counts satoshis, 100,000,000 to the coin [COIN].
MAX_MONEY = 21_000_000  # no amount or sum of amounts may exceed this [MAX_MONEY]

# --- core: keys, transactions, blocks, ledger ----------------------------------
# Addresses start with "T" (for toycoin), so they are never mistaken for Bitcoin's,
# which start with "1" (version byte 0) [base58Prefixes[PUBKEY_ADDRESS]].
ADDRESS_VERSION = 0x41
# Version written into every new transaction; nothing depends on it yet
# [CTransaction::CURRENT_VERSION, which is 2 in Bitcoin Core].
TX_VERSION = 1
# Version written into every new block header [CBlockHeader::nVersion].
BLOCK_VERSION = 1
# Compact difficulty target in each header. Proof of work comes in a later
# chapter; until then every header carries regtest's easiest target
# [nBits; consensus.powLimit on regtest].
BLOCK_BITS = 0x207FFFFF
# New coins each block's coinbase may create, on top of the fees it collects.
# Bitcoin started at 50 BTC and halves it every 210,000 blocks
# [GetBlockSubsidy, nSubsidyHalvingInterval]; toycoin never halves.
BLOCK_REWARD = 50
