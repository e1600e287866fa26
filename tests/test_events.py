"""Events: cheap to record, their text made only when read, and otherwise like frozen records."""

from dataclasses import FrozenInstanceError

import pytest

from toycoin import params
from toycoin.events import Event, Recorder
from toycoin.msg_control import Ping
from toycoin.runtime import Runtime


class CountedRepr:
    """A detail that counts how often its text is made."""

    def __init__(self) -> None:
        self.made = 0

    def __repr__(self) -> str:
        self.made += 1
        return "ping(nonce=7)"


def test_an_event_holding_a_message_equals_one_holding_its_text():
    lazy = Event(3, "send", "A", "B", Ping(7), command="ping", direction="out")
    text = Event(3, "send", "A", "B", "ping(nonce=7)", command="ping", direction="out")
    assert lazy == text and hash(lazy) == hash(text)
    assert str(lazy) == "A send B: ping(nonce=7)"
    assert repr(lazy) == repr(text) == ("Event(seq=3, kind='send', node='A', peer='B', "
                                        "detail='ping(nonce=7)', command='ping', direction='out')")
    assert lazy != Event(4, "send", "A", "B", "ping(nonce=7)", command="ping", direction="out")
    assert lazy != ("send", "A")
    with pytest.raises(FrozenInstanceError):
        lazy.kind = "receive"


def test_the_text_is_made_once_and_only_when_read():
    runtime = Runtime("test-events")
    recorder = Recorder("A", runtime)
    detail = CountedRepr()
    runtime.call(lambda: recorder.record("send", "B", detail, command="ping", direction="out"))
    [event] = recorder.events
    assert (event.kind, event.command, event.direction, detail.made) == ("send", "ping", "out", 0)
    assert event.detail == "ping(nonce=7)" and event.detail == "ping(nonce=7)"
    assert detail.made == 1
    runtime.close()


def test_the_log_is_bounded_by_bytes_and_forgets_the_oldest_first(monkeypatch):
    monkeypatch.setattr(params, "MAX_EVENT_BYTES", 20 * 1024)
    runtime = Runtime("test-event-bytes")
    recorder = Recorder("A", runtime)

    def flood() -> None:
        for n in range(1, 1001):
            recorder.record("send", "B", Ping(n), command="ping", direction="out")
            recorder.record("block applied", "B", f"height {n}, block {n:012x}…")

    runtime.call(flood)
    events = recorder.events
    assert sum(e.footprint for e in events) <= 20 * 1024
    assert len(events) > 20 * 1024 // 512  # every event is counted at a few hundred bytes at most
    assert events[-1].detail == "height 1000, block 0000000003e8…"  # the newest are kept
    assert [e.seq for e in events] == list(range(events[0].seq, events[-1].seq + 1))
    runtime.close()
