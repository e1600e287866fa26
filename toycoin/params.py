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
# The easiest target of the proof-of-work network (chapters 09 on): about one hash
# in 256 meets it, so a block takes a few milliseconds in Python [consensus.powLimit].
POW_LIMIT_BITS = 0x2000FFFF
# Blocks between two difficulty adjustments [DifficultyAdjustmentInterval(), 2016 in Bitcoin].
RETARGET_INTERVAL = 10
# New coins each block's coinbase may create, on top of the fees it collects.
# Bitcoin started at 50 BTC and halves it every 210,000 blocks
# [GetBlockSubsidy, nSubsidyHalvingInterval]; toycoin never halves.
BLOCK_REWARD = 50
# Signature checks a node remembers as passed, so a payment checked on entering
# the mempool is not checked again when its block arrives: 32 bytes each, about
# 1 MB when full (Bitcoin Core bounds it by bytes, 32 MiB [DEFAULT_MAX_SIG_CACHE_BYTES]).
MAX_SIGNATURE_CACHE = 10_000

# --- network: wire, peers, nodes -------------------------------------------------
# The first 4 bytes of every frame: "toyc" in ASCII. A frame with other magic
# belongs to another network, or to a stream that lost its place [pchMessageStart].
NETWORK_MAGIC = b"toyc"
# Version a node announces in its version message [PROTOCOL_VERSION].
PROTOCOL_VERSION = 1
# Service bit of a full node, which keeps the whole ledger and serves peers.
# A wallet announces no services [NODE_NETWORK].
NODE_NETWORK = 1
# Largest payload a peer may announce; a bigger length is refused before a byte
# of it is read. Bitcoin allows 4,000,000 [MAX_PROTOCOL_MESSAGE_LENGTH].
MAX_PROTOCOL_MESSAGE_LENGTH = 1_000_000
# Largest block, in bytes, below the message limit so that every valid block can be sent
# to a peer (Bitcoin: a weight limit of 4,000,000 [MAX_BLOCK_WEIGHT]).
MAX_BLOCK_SIZE = 900_000
# Most addresses in one addr message [MAX_ADDR_TO_SEND].
MAX_ADDR_TO_SEND = 1000
# Addresses from one peer a node processes: a bucket of tokens that holds one at
# first (a peer may announce itself), gets MAX_ADDR_TO_SEND more each time the
# node asks with getaddr, and refills at this rate up to the cap; the rest is
# dropped unexamined, so an addr flood costs the node almost nothing
# [MAX_ADDR_RATE_PER_SECOND, MAX_ADDR_PROCESSING_TOKEN_BUCKET].
ADDR_TOKENS_PER_SECOND = 0.1
MAX_ADDR_TOKENS = 1000
# Most coins listed in one utxos reply to a wallet (toycoin's own message).
MAX_UTXOS_TO_SEND = 1000
# Longest node name in a version message, printable ASCII only
# (like the user agent's limit [MAX_SUBVERSION_LENGTH], which is 256).
MAX_NAME_LENGTH = 32
# Longest reason in a reject message [MAX_REJECT_MESSAGE_LENGTH was 111].
MAX_REJECT_REASON_LENGTH = 200
# Seconds a new connection has to finish version/verack; Bitcoin waits 60
# [DEFAULT_PEER_CONNECT_TIMEOUT].
HANDSHAKE_TIMEOUT = 5.0
# Largest payload a peer may announce before its handshake is complete: a version message at
# its longest (4+8+8+2+4 bytes of numbers, then a name of at most MAX_NAME_LENGTH characters
# and its length byte), so a stranger cannot make a node read and parse a megabyte before it
# has said who it is (toycoin's own; Bitcoin Core ignores other messages before version).
MAX_HANDSHAKE_PAYLOAD = 4 + 8 + 8 + 2 + 4 + 1 + MAX_NAME_LENGTH
# Seconds for the rest of a frame to arrive once its header has (toycoin's own).
FRAME_TIMEOUT = 5.0
# Seconds without any message before a peer is considered gone [TIMEOUT_INTERVAL].
TIMEOUT_INTERVAL = 20 * 60
# Seconds between the pings that keep a quiet connection alive [PING_INTERVAL].
PING_INTERVAL = 2 * 60
# Most connections a node keeps, inbound and outbound [DEFAULT_MAX_PEER_CONNECTIONS]; the
# outbound slots (MAX_OUTBOUND_CONNECTIONS) are kept apart, so inbound connections take at most
# the rest [m_max_inbound], and a flood of inbound connections never stops a node dialling out.
MAX_CONNECTIONS = 125
# Most outbound connections a node opens to addresses it learned from addr
# messages; peers it was told to connect to do not count
# [MAX_OUTBOUND_FULL_RELAY_CONNECTIONS].
MAX_OUTBOUND_CONNECTIONS = 8
# Most addresses a node keeps that it learned from addr messages and never reached
# ("new"); one more replaces a random new one, never one that worked ("tried").
# Bitcoin's address manager holds 65,536 new and 16,384 tried, in buckets
# [ADDRMAN_NEW_BUCKET_COUNT, ADDRMAN_TRIED_BUCKET_COUNT].
MAX_NEW_ADDRESSES = 1000
MAX_TRIED_ADDRESSES = 256
# Failed dials after which a learned address that never worked is dropped [ADDRMAN_RETRIES].
MAX_ADDRESS_FAILURES = 3
# Seconds between two dials of learned addresses: one dialler per node tries one
# address at a time, however many it learns (Bitcoin Core's ThreadOpenConnections
# waits 0.5 s between attempts).
DIAL_INTERVAL = 0.1
# Inbound connections that may wait for their handshake at once, apart from the handshaked
# inbound slots; a newcomer beyond it closes one of them (toycoin's own). Each costs a socket and
# at most one read, and an honest peer says version at once: strangers that connect and churn
# must open this many connections during a wallet's handshake to push it out.
MAX_INBOUND_HANDSHAKES = 128
# Inbound peers protected from eviction, when a new inbound connection finds every inbound slot
# taken, for each thing an attacker cannot fake cheaply: the peers that most recently sent a
# new block, a new transaction, and those with the fastest pings; then half of the rest, those
# connected longest [AttemptToEvictConnection, SelectNodeToEvict].
EVICTION_PROTECT_BLOCKS = 4
EVICTION_PROTECT_TXS = 4
EVICTION_PROTECT_PINGS = 8
# Messages a peer may send that are ignored (unknown command, before the
# handshake) or dropped (bad checksum) before it is disconnected, like the
# misbehaviour score that once got a peer banned at 100 [DISCOURAGEMENT_THRESHOLD].
MAX_IGNORED_MESSAGES = 100
# Answers of the kinds a peer asks for (toycoin.peerman.PeerMan.ask and tell) that may wait
# while one question is open: one more costs the connection, and an answer while no
# question is open is ignored (toycoin's own).
MAX_QUEUED_ANSWERS = 16
# Bytes queued for a peer that does not read before it is disconnected
# [DEFAULT_MAXSENDBUFFER, 1000 kB].
MAX_SEND_BUFFER = 1_000_000
# Seconds before the first retry to reach a peer that went away, doubling up to
# the maximum; retries go on for as long as the node runs (toycoin's own).
RECONNECT_DELAY_MIN = 0.05
RECONNECT_DELAY_MAX = 2.0
# Seconds a node waits for a port that is in use while nothing listens on it (its own
# last connections still closing) before it says "address already in use" (toycoin's own).
RELISTEN_TIMEOUT = 10.0
# Seconds a node's stopped port may still accept, and a listener found on the port it
# restarts on may stay, before either is taken for real: a child process that another
# thread is starting (graphviz's dot, for one) holds a copy of every open socket from
# its fork until it has closed them, the node's listening socket among them (toycoin's own).
PORT_RELEASE_TIMEOUT = 2.0
# Ports a node asked for "any free port" (port 0) listens on: below the ranges systems lend
# to outgoing connections (Linux from 32768, macOS and Windows from 49152), so a restarted
# node finds its port free; the system's choice after LISTEN_PORT_TRIES taken ones.
LISTEN_PORTS = (20000, 32768)
LISTEN_PORT_TRIES = 20
# Events a node keeps for diagrams and logs: at most this many, taking about at
# most this many bytes (a thousand-odd events); older ones are forgotten. A
# thousand nodes in one process then spend 0.1 GB on their logs, not 3 GB.
MAX_EVENTS = 10_000
MAX_EVENT_BYTES = 160 * 1024
# A message of at most this many bytes is kept in its send or receive event and
# written out as text only if someone reads the event; a bigger one is written
# out at once, so a log never keeps a big message (2,000 headers, a block) alive.
MAX_LAZY_EVENT_PAYLOAD = 128
# Every node of the course starts from the same genesis block, whose coinbase
# pays GENESIS_AMOUNT coins to the address of PrivateKey.from_seed(GENESIS_SEED).
# Its timestamp is Bitcoin's genesis block's [genesis.nTime = 1231006505].
GENESIS_SEED = "alice"
GENESIS_AMOUNT = 100
GENESIS_TIMESTAMP = 1231006505
# Seconds a node's default clock adds to the tip's timestamp for each block it
# seals, so notebook outputs are the same on every run [nPowTargetSpacing].
BLOCK_INTERVAL = 600

# --- headers and light clients (chapter 06) ----------------------------------
# Most headers in one headers message; a full batch means "ask again for more"
# [MAX_HEADERS_RESULTS].
MAX_HEADERS_RESULTS = 2000
# A header must be later than the median timestamp of the 11 blocks before it
# [nMedianTimeSpan in CBlockIndex::GetMedianTimePast] ...
MEDIAN_TIME_SPAN = 11
# ... and at most two hours ahead of the checking node's clock [MAX_FUTURE_BLOCK_TIME].
MAX_FUTURE_BLOCK_TIME = 2 * 60 * 60
# Headers that do not connect to anything known a peer may send before it is dropped
# [MAX_NUM_UNCONNECTING_HEADERS_MSGS].
MAX_UNCONNECTING_HEADERS = 10
# Most headers a header tree keeps off its best chain: side branches beyond this are
# forgotten, those with the least work first, so a flood of cheap forks cannot fill memory
# (Bitcoin Core bounds them by requiring minimum chain work [nMinimumChainWork]).
MAX_SIDE_HEADERS = 5000
# Most headers a node keeps ahead of the blocks it holds: past that it asks for no more until
# its blocks catch up, and the rest of a headers message is dropped, so a peer that sends
# headers without end (free to make where there is no proof of work) cannot fill memory
# (toycoin's own; Bitcoin Core checks a peer's headers for enough work before it keeps them
# [headers presync]).
MAX_HEADERS_AHEAD = 10_000
# Side branches a syncing node remembers having reported as not applied (so each is
# reported once); older ones are forgotten (toycoin's own, like MAX_RECENT_REJECTS).
MAX_REFUSED_BRANCHES = 1000
# Most hashes in a getheaders block locator [MAX_LOCATOR_SZ].
MAX_LOCATOR_SZ = 101
# Most sibling hashes in a Merkle proof. A block's transaction count is a
# 4-byte number, so no tree is deeper than 32 levels (toycoin's own limit;
# Bitcoin's merkleblock is bounded by the block size instead).
MAX_MERKLE_DEPTH = 32
# Full nodes a light client keeps connections to once it knows them, so that
# one of them dying still leaves it two to ask (BitcoinJ and Electrum keep several).
SPV_CONNECTIONS = 3

# --- relay and ledger sync (chapter 07) ----------------------------------------
# Most transactions a node's mempool holds; a full pool refuses newcomers
# (Bitcoin Core bounds it by memory instead, 300 MB, and evicts the lowest fee
# rates [DEFAULT_MAX_MEMPOOL_SIZE_MB]).
MAX_MEMPOOL_TXS = 5000
# Relay policy, not consensus: an output worth less than this is dust, and a transaction
# larger than this is not relayed [GetDustThreshold; MAX_STANDARD_TX_WEIGHT].
DUST_AMOUNT = 1
MAX_STANDARD_TX_SIZE = 100_000
# Most items in one inv, getdata or notfound message [MAX_INV_SZ, which is 50,000].
MAX_INV_SZ = 1000
# Most items a node remembers, per peer, as already known to that peer, so it
# does not announce them again [INVENTORY_MAX_RECENT_RELAY, roughly].
MAX_KNOWN_INVENTORY = 5000
# Rejected transactions a node remembers so it does not ask for them again;
# forgotten whenever the tip changes, since a block can make them valid [m_recent_rejects].
MAX_RECENT_REJECTS = 1000
# Transactions a peer announced that a node still wants, kept per peer; announcements past
# this are dropped until some are settled [MAX_PEER_TX_ANNOUNCEMENTS] ...
MAX_PEER_TX_ANNOUNCEMENTS = 5000
# ... and of those, how many are asked of that peer at once [MAX_PEER_TX_REQUEST_IN_FLIGHT].
MAX_PEER_TX_REQUEST_IN_FLIGHT = 100
# Seconds to wait for a transaction after asking a peer for it before another
# peer that announced it may be asked [GETDATA_TX_INTERVAL is 60].
TX_REQUEST_TIMEOUT = 2.0
# Blocks a node asks one peer for at a time, so a download is spread over
# several peers [MAX_BLOCKS_IN_TRANSIT_PER_PEER].
MAX_BLOCKS_IN_TRANSIT_PER_PEER = 16
# How far ahead of its tip a node downloads blocks [BLOCK_DOWNLOAD_WINDOW].
BLOCK_DOWNLOAD_WINDOW = 1024
# Seconds a peer has to deliver a block it was asked for, before the node
# disconnects it and asks another peer (Bitcoin Core's stalling detection,
# [BLOCK_STALLING_TIMEOUT_DEFAULT], is 2 s; its block download timeout is longer).
BLOCK_DOWNLOAD_TIMEOUT = 5.0
