"""toycoin: the small Bitcoin that the course "Recreating Bitcoin" builds.

The modules, from primitives up to the network and then the views; each
imports only modules above it in this list (tests/test_architecture.py checks):

    params, errors   every constant in one place; the error hierarchy
    encoding         double SHA-256, compact-size integers, base58check
    secp             libsecp256k1 (Bitcoin Core's C library), when installed: fast signature checks
    keys             private keys from readable seeds, public keys, addresses, ECDSA
    tx               outpoints, inputs, outputs, transactions, signature digests
    merkle           Merkle roots and proofs of inclusion
    block            the 80-byte block header and blocks
    pow              proof of work: bits and targets, work, the difficulty rule, mining
    headers          a chain of headers only, the best one by work; block locators
    sigcache         signatures a node has found valid, so a payment's are checked once
    utxoset          unspent outputs by outpoint and by key hash: a wallet's question costs its coins
    ledger           the chain and its UTXO set: validation with reasons, apply and undo blocks
    txindex          which block holds a transaction, and the Merkle proof of it
    wallet           an offline wallet that builds and signs payments
    chunks           a large object cut into chunks, each checked against one Merkle root
    kbucket          Kademlia's ids, XOR distance and k-buckets: a DHT node's routing table
    message          what every message shares: the Message base class, text and list fields
    msg_control      control messages: version, verack, ping, pong, getaddr, addr, reject
    msg_data         data messages: tx, inv, getdata, notfound, block, getheaders, headers, mempool
    msg_wallet       a wallet's questions and their answers: getutxos, utxos, getproof, proof, noproof
    msg_swarm        a swarm's messages: bitfield, have, getchunk, chunk
    msg_dht          a DHT's messages: findnode, findvalue, store, nodes, value
    msg_room         a node's account of itself for a classroom's map: getstatus, status
    wire             the 24-byte frame, its checksum, and registries of messages
    runtime          one asyncio loop in a background thread, behind a synchronous API
    peer             one TCP connection: bytes, frames, limits
    listener         the port a node listens on: a free one, taken back on a restart
    events           what a peer records (events) and reports (snapshots)
    addrman          the addresses a peer knows, why the last dial failed, who is banned
    dialler          which addresses a peer dials, when: a loop per asked one, one for all learned
    eviction         which inbound peer makes room when every inbound slot is taken
    connman          the connection layer: listening, dialling with backoff, the cap, stop and kill
    peerman          the connection layer: handshake, pings, addresses, on_<command> routing, ask
    mempool          payments accepted and not yet in a block
    store            a node's ledger in a data directory (sqlite3), one atomic commit per block
    service          what a service of a node may ask of it, and what the node tells it
    relay            a service: payments gossiped with inv/getdata/tx, each passed on once
    sync             a service: headers-first download of the chain with most work; reorganisation
    mining           a service: searching for proof of work on the tip, with a hash-rate cap
    node             a full node: a ledger on the connection layer, plus its services
    client           a wallet that talks to a node over TCP, one short session a call
    peergroup        a client's connections to several full nodes, and failover between them
    spv              a light wallet: headers only, Merkle proofs, failover between nodes
    liar             a full node that forges proofs, to watch a light wallet catch it
    tamper           rewrite an old block, check every link, re-seal; a node that serves the copy
    cli              python -m toycoin node / wallet: a full node, and a wallet, from a terminal
    process          a node as its own operating-system process, killed for real
    network          many nodes at once, and snapshots of them for pictures
    roommap          a classroom's map: every node's status, crawled from one address, inside the room
    room             one network across a classroom: join the teacher's node; a room of processes here
    crowd            hundreds of peers of one kind in one process, wired at random, a share down
    tracker          a central index: who takes part in the swarm of an object (hybrid networks)
    flood            an unstructured network searched by flooding queries with a TTL
    dht              a Kademlia node: iterative lookups, store and find with k replicas
    swarm            seeders and leechers: an object fetched in chunks from many peers at once
    attack           why merchants wait: the whitepaper's chance of an attacker catching up, and races

    envcheck         what the course needs on this machine, and how to get it
    exercises        checks of a learner's answers that say what is wrong in plain words
    picture          a graphviz graph that draws itself, or says how to install dot
    diagrams         pictures of keys, transactions, networks and message sequences
    blockdiagrams    pictures of Merkle trees, chains of blocks and each block's link to its parent
    shapeviews       pictures of graphs, DHT routes and who holds which chunks; a kill-a-share panel
    roomview         the classroom drawn: every node a crawl reached, forks by colour; a live panel
    widgets          ipywidgets panels that start and stop real nodes, and their miners

Run a node, or a wallet, from a terminal: ``python -m toycoin`` lists the commands.
"""

__version__ = "0.1.0"
