"""Wire: frames and messages round-trip, and every malformed input is refused with a reason."""

import pytest

from toycoin import msg_control, msg_data, msg_room, msg_wallet, params, wire
from toycoin.encoding import compact_size
from toycoin.errors import ParseError, ProtocolError
from toycoin.keys import PrivateKey
from toycoin.merkle import make_proof
from toycoin.node import course_genesis
from toycoin.tx import OutPoint
from toycoin.wallet import Wallet

ALICE = PrivateKey.from_seed("alice")
BOB = PrivateKey.from_seed("bob").address


def alice_pays_bob():
    coinbase = course_genesis().txs[0]
    return Wallet(ALICE).make_payment([(OutPoint(coinbase.txid, 0), coinbase.outputs[0])], BOB, 10)


def examples():
    tx = alice_pays_bob()
    return [
        msg_control.Version("A", 2**64 - 1, 8333, 0),
        msg_control.Version("alice", 7, 0, 0, services=0),
        msg_control.Verack(),
        msg_control.Ping(1),
        msg_control.Pong(2**63),
        msg_control.GetAddr(),
        msg_control.Addr((("127.0.0.1", 8333), ("10.0.0.2", 1))),
        msg_wallet.GetUtxos(ALICE.address),
        msg_wallet.Utxos(ALICE.address, 3, bytes(range(32)), ((tx.inputs[0].outpoint, tx.outputs[0]),)),
        msg_data.TxMessage(tx),
        msg_control.Reject(tx.txid, "input 0 spends an output that does not exist"),
        # headers and proofs (chapter 06)
        msg_data.GetHeaders((course_genesis().hash, bytes(range(32)))),
        msg_data.Headers((course_genesis().header,) * 3),
        msg_wallet.GetProof(tx.txid),
        msg_wallet.Proof(course_genesis().hash, 0, make_proof([tx.txid, bytes(32)], 0), tx),
        msg_wallet.NoProof(tx.txid),
        # relay and block download (chapter 07)
        msg_data.Inv((msg_data.InvItem(msg_data.MSG_TX, tx.txid),
                      msg_data.InvItem(msg_data.MSG_BLOCK, course_genesis().hash))),
        msg_data.GetData((msg_data.InvItem(msg_data.MSG_TX, tx.txid),)),
        msg_data.NotFound((msg_data.InvItem(msg_data.MSG_BLOCK, bytes(32)),)),
        msg_data.BlockMessage(course_genesis()),
        msg_data.MempoolRequest(),
        # a classroom's map (chapter 12)
        msg_room.GetStatus(),
        msg_room.Status("alice", ("10.77.0.2", 8333), 3, bytes(32), ((("10.77.0.1", 8333), "teacher"),),
                        True, 50),
    ]


@pytest.mark.parametrize("message", examples(), ids=repr)
def test_every_message_round_trips_through_a_frame(message):
    frame = wire.encode_frame(message)
    header = wire.FrameHeader.parse(frame[: wire.HEADER_SIZE])
    assert header.command == message.command
    assert header.length == len(frame) - wire.HEADER_SIZE
    assert header.checksum == wire.checksum(frame[wire.HEADER_SIZE:])
    assert wire.decode_payload(header.command, frame[wire.HEADER_SIZE:], wire.NODE_MESSAGES) == message


def test_the_registry_holds_exactly_the_message_classes():
    assert set(wire.NODE_MESSAGES) == {type(m).command for m in examples()}
    with pytest.raises(TypeError):
        wire.NODE_MESSAGES[b"evil"] = msg_control.Ping  # read-only: nobody adds a command at run time


def test_a_registry_refuses_two_classes_for_one_command():
    with pytest.raises(ValueError, match="two message classes for the command 'ping'"):
        wire.message_set(msg_control.Ping, msg_control.Verack, msg_control.Ping)


def test_reprs_are_short_and_readable():
    assert repr(msg_control.Version("A", 123, 4000, 0)) == "version(name='A', height=0)"
    wallet = msg_control.Version("alice", 1, 0, 0, services=0)
    assert repr(wallet) == "version(name='alice', height=0, wallet)"
    assert repr(msg_control.Addr((("127.0.0.1", 1), ("127.0.0.1", 2)))) == "addr(2 addresses)"
    assert repr(msg_control.Addr((("127.0.0.1", 1),))) == "addr(1 address)"
    assert repr(msg_control.Ping(5)) == "ping(nonce=5)" and repr(msg_control.Pong(5)) == "pong(nonce=5)"
    assert repr(msg_control.Verack()) == "verack()"
    assert repr(msg_data.TxMessage(alice_pays_bob())).startswith("tx(")


def test_bitcoin_framing_layout():
    frame = wire.encode_frame(msg_control.Verack())
    # magic, "verack" padded to 12 bytes, length 0, and sha256d("")[:4] = 5df6e0e2 (as in Bitcoin)
    assert frame == b"toyc" + b"verack\0\0\0\0\0\0" + bytes(4) + bytes.fromhex("5df6e0e2")


def test_wrong_magic_is_a_protocol_error():
    frame = wire.encode_frame(msg_control.Verack(), magic=b"\xf9\xbe\xb4\xd9")  # Bitcoin mainnet's
    with pytest.raises(ProtocolError, match="wrong magic f9beb4d9"):
        wire.FrameHeader.parse(frame)


def test_oversize_length_is_refused_from_the_header_alone():
    length = (params.MAX_PROTOCOL_MESSAGE_LENGTH + 1).to_bytes(4, "little")
    header = b"toyc" + b"ping".ljust(12, b"\0") + length
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        wire.FrameHeader.parse(header + bytes(4))


@pytest.mark.parametrize("command", [b"\0" * 12, b"ping\0x\0\0\0\0\0\0", b"p\xffng".ljust(12, b"\0")])
def test_garbled_commands_are_refused(command):
    with pytest.raises(ProtocolError, match="garbled command"):
        wire.FrameHeader.parse(b"toyc" + command + bytes(8))


def test_unknown_command_decodes_to_none_and_is_never_looked_up():
    assert wire.decode_payload(b"__class__", b"", wire.NODE_MESSAGES) is None
    assert wire.decode_payload(b"getblocks", b"", wire.NODE_MESSAGES) is None


@pytest.mark.parametrize("message", examples(), ids=repr)
def test_truncated_and_padded_payloads_are_parse_errors(message):
    payload = message.serialize()
    with pytest.raises(ParseError):
        type(message).parse(payload + b"\0")
    if payload:
        with pytest.raises(ParseError):
            type(message).parse(payload[:-1])


def test_item_counts_are_bounded_before_items_are_read():
    too_many = params.MAX_ADDR_TO_SEND + 1
    with pytest.raises(ParseError, match="at most"):
        msg_control.Addr.parse(compact_size(too_many) + bytes([127, 0, 0, 1, 0, 1]) * too_many)
    with pytest.raises(ParseError, match="1000000000 items announced"):
        msg_control.Addr.parse(compact_size(10**9) + bytes(6))  # a forged count, refused at once


def test_node_names_must_be_short_printable_ascii():
    good = msg_control.Version("A", 1, 1, 0).serialize()
    long_name = good[:-2] + compact_size(params.MAX_NAME_LENGTH + 1) + b"x" * (params.MAX_NAME_LENGTH + 1)
    with pytest.raises(ParseError, match="longer than"):
        msg_control.Version.parse(long_name)
    with pytest.raises(ParseError, match="printable"):
        msg_control.Version.parse(good[:-2] + b"\x01\n")


def test_reject_reasons_are_bounded_and_made_printable():
    reject = msg_control.Reject(bytes(32), "é" + "x" * 500)
    parsed = msg_control.Reject.parse(reject.serialize())
    assert parsed.reason.startswith("?x") and len(parsed.reason) == params.MAX_REJECT_REASON_LENGTH


def test_addr_refuses_port_zero():
    with pytest.raises(ParseError, match="port 0"):
        msg_control.Addr.parse(compact_size(1) + bytes([127, 0, 0, 1, 0, 0]))


def test_inventory_messages_are_bounded_and_strict():
    item = msg_data.InvItem(msg_data.MSG_TX, bytes(32)).kind.to_bytes(4, "little") + bytes(32)
    too_many = params.MAX_INV_SZ + 1
    with pytest.raises(ParseError, match="at most"):
        msg_data.GetData.parse(compact_size(too_many) + item * too_many)
    with pytest.raises(ParseError, match="1000000000 items announced"):
        msg_data.Inv.parse(compact_size(10**9) + item)
    with pytest.raises(ParseError, match="unknown inventory type 7"):
        msg_data.Inv.parse(compact_size(1) + (7).to_bytes(4, "little") + bytes(32))
    with pytest.raises(ValueError, match="at most"):
        msg_data.Inv((msg_data.InvItem(msg_data.MSG_TX, bytes(32)),) * too_many)


def test_inventory_reprs_name_the_items_in_display_order():
    txid = bytes(range(32))
    items = tuple(msg_data.InvItem(msg_data.MSG_TX, txid) for _ in range(3))
    short = txid[::-1].hex()[:12]
    assert repr(msg_data.Inv(items)) == f"inv(tx {short}…, tx {short}…, +1 more)"
    assert repr(msg_data.GetData(())) == "getdata()"
    assert repr(msg_data.BlockMessage(course_genesis())).startswith("block(") and "1 tx)" in repr(
        msg_data.BlockMessage(course_genesis()))
    assert repr(msg_data.MempoolRequest()) == "mempool()"
