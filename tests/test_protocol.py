"""The sans-I/O framework: messages, validation before state change, serialization, runner."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner.errors import CulpritError, DecodeError
from cosigner.groups import SECP256K1
from cosigner.protocol import (
    BROADCAST,
    PRIVATE,
    DuplicateMessageError,
    LocalNetwork,
    MalformedPayloadError,
    Message,
    MessageDecodeError,
    Outgoing,
    OutOfOrderMessageError,
    Protocol,
    ProtocolAbortedError,
    ProtocolStateError,
    StateDecodeError,
    UnexpectedMessageError,
    WrongRecipientError,
    run_local,
    to_all,
    to_one,
)
from cosigner.protocol.base import Key
from cosigner.protocol.codec import PayloadReader, decode_value, encode_value
from cosigner.protocol.errors import InvalidParametersError, InvalidShareError
from protocol_helpers import seeded_rng

# -- a toy protocol ---------------------------------------------------------------------


class SumOfSecrets(Protocol):
    """Round 0: broadcast a random 32-byte scalar. Round 1: privately send it doubled.

    Result: the sum of everything received. A private value that is not twice
    the broadcast one aborts, naming the sender.
    """

    NAME = "test/sum"
    STATE_FIELDS = ("mine", "seen", "total")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mine = self._random_scalar()
        self.seen: dict[int, int] = {}
        self.total = 0

    def _start(self) -> list[Outgoing]:
        return [to_all(self.mine.to_bytes(32, "big"))]

    def _expected(self, round: int) -> Iterable[Key]:
        if round == 0:
            return [(p, BROADCAST) for p in self.others]
        if round == 1:
            return [(p, PRIVATE) for p in self.others]
        return ()

    def _decode(self, round: int, sender: int, channel: int, payload: bytes) -> Any:
        r = PayloadReader(payload, "sum")
        value = r.scalar()
        r.finish()
        return value

    def _finish_round(self, round: int, messages: Mapping[Key, Any]) -> list[Outgoing]:
        if round == 0:
            self.seen = self._by_sender(messages, BROADCAST)
            return [
                to_one(p, (2 * self.mine % SECP256K1.order).to_bytes(32, "big"))
                for p in self.others
            ]
        for sender, doubled in self._by_sender(messages, PRIVATE).items():
            if doubled != 2 * self.seen[sender] % SECP256K1.order:
                raise InvalidShareError("not doubled", culprits=(sender,))
        self.total = (self.mine + sum(self.seen.values())) % SECP256K1.order
        self._finish(self.total)
        return []


def make(ids: tuple[int, ...] = (1, 2, 3), sid: bytes = b"s" * 32, seed: str = "x"):
    return {
        i: SumOfSecrets(session_id=sid, me=i, participants=ids, rng=seeded_rng(f"{seed}{i}"))
        for i in ids
    }


# -- messages --------------------------------------------------------------------------


def test_message_roundtrip_and_canonical_bytes() -> None:
    m = Message("ecdsa/presign", b"\x01" * 32, 3, 7, None, b"s3cr3t-bytes")
    assert Message.from_bytes(m.to_bytes()) == m
    p = Message("ecdsa/presign", b"\x01" * 32, 3, 7, 9, b"")
    q = Message.from_bytes(p.to_bytes())
    assert (q.recipient, q.payload, q.round, q.sender) == (9, b"", 3, 7)
    assert m.to_bytes() != p.to_bytes()
    assert "s3cr3t" not in repr(m)  # the payload may be secret: never shown


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],  # truncated
        lambda b: b + b"\x00",  # trailing
        lambda b: b"XSM" + b[3:],  # magic
        lambda b: b[:3] + b"\x02" + b[4:],  # version
    ],
)
def test_message_decoder_rejects_malformed(mutate) -> None:
    data = Message("ecdsa/sign", b"\x01" * 16, 0, 1, 2, b"abc").to_bytes()
    with pytest.raises(MessageDecodeError) as info:
        Message.from_bytes(mutate(data))
    assert info.value.code == "malformed_message"


def test_message_recipient_flag_must_be_0_or_1() -> None:
    data = bytearray(Message("ecdsa/sign", b"\x01", 0, 1, None, b"").to_bytes())
    flag_at = 3 + 1 + 1 + len("ecdsa/sign") + 1 + 1 + 2 + 4
    data[flag_at] = 2
    with pytest.raises(MessageDecodeError):
        Message.from_bytes(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_message_decoder_property(data: bytes) -> None:
    try:
        m = Message.from_bytes(data)
    except MessageDecodeError:
        return
    assert m.to_bytes() == data


@settings(max_examples=100, deadline=None)
@given(
    name=st.from_regex(r"[a-z0-9][a-z0-9._/-]{0,20}", fullmatch=True),
    sid=st.binary(min_size=1, max_size=64),
    rnd=st.integers(0, 2**16 - 1),
    sender=st.integers(0, 2**32 - 1),
    recipient=st.none() | st.integers(0, 2**32 - 1),
    payload=st.binary(max_size=64),
)
def test_message_roundtrip_property(name, sid, rnd, sender, recipient, payload) -> None:
    m = Message(name, sid, rnd, sender, recipient, payload)
    assert Message.from_bytes(m.to_bytes()) == m


# -- the state codec --------------------------------------------------------------------

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.binary(max_size=40)
    | st.text(max_size=10)
    | st.sampled_from([SECP256K1.identity, SECP256K1.generator, SECP256K1.base_mul(5)]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.integers(-5, 5) | st.binary(max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(values)
def test_state_codec_roundtrip(value: Any) -> None:
    data = encode_value(value)
    assert decode_value(data) == value
    assert encode_value(decode_value(data)) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_state_codec_decoder_property(data: bytes) -> None:
    try:
        value = decode_value(data)
    except StateDecodeError:
        return
    assert encode_value(value) == data


def test_state_codec_rejects_non_canonical() -> None:
    with pytest.raises(StateDecodeError):
        decode_value(b"\x03\x00\x00\x01\x00")  # integer with a leading zero byte
    with pytest.raises(StateDecodeError):
        decode_value(encode_value(1) + b"\x00")  # trailing
    unsorted = b"\x08\x00\x00\x00\x02" + encode_value(2) + b"\x00" + encode_value(1) + b"\x00"
    with pytest.raises(StateDecodeError):
        decode_value(unsorted)


# -- sessions ---------------------------------------------------------------------------


def test_run_local_with_and_without_serialization_agree() -> None:
    plain = run_local(make())
    restored = run_local(make(), serialize=True, shuffle=random.Random(7))
    assert plain == restored
    assert len(set(plain.values())) == 1


def test_runner_holds_early_messages() -> None:
    sessions = make()
    net = LocalNetwork(sessions, shuffle=random.Random(3))
    results = net.run()
    assert len(set(results.values())) == 1
    assert net.deliveries == 3 * 2 * 2


def started(ids=(1, 2, 3)):
    sessions = make(ids)
    outs = {p: s.start() for p, s in sessions.items()}
    return sessions, outs


def assert_rejected(session: Protocol, message: Message, error: type, code: str) -> None:
    before = session.to_bytes()
    with pytest.raises(error) as info:
        session.receive(message)
    assert info.value.code == code
    assert session.to_bytes() == before


def test_rejections_leave_the_state_unchanged() -> None:
    sessions, outs = started()
    me = sessions[1]
    good = outs[2][0]  # participant 2's round-0 broadcast
    m = lambda **kw: Message(  # noqa: E731
        kw.get("protocol", good.protocol),
        kw.get("session_id", good.session_id),
        kw.get("round", good.round),
        kw.get("sender", good.sender),
        kw.get("recipient", good.recipient),
        kw.get("payload", good.payload),
    )
    assert_rejected(me, m(protocol="test/other"), UnexpectedMessageError, "unexpected_message")
    assert_rejected(me, m(session_id=b"t" * 32), UnexpectedMessageError, "unexpected_message")
    assert_rejected(me, m(sender=9), UnexpectedMessageError, "unexpected_message")
    assert_rejected(me, m(sender=1), UnexpectedMessageError, "unexpected_message")
    assert_rejected(me, m(recipient=3), WrongRecipientError, "wrong_recipient")
    # a private message where a broadcast is due
    assert_rejected(me, m(recipient=1), UnexpectedMessageError, "unexpected_message")
    assert_rejected(me, m(round=1), OutOfOrderMessageError, "out_of_order_message")
    with pytest.raises(OutOfOrderMessageError) as info:
        me.receive(m(round=1))
    assert info.value.is_future
    # malformed payload: rejected, sender named, state unchanged
    before = me.to_bytes()
    with pytest.raises(MalformedPayloadError) as bad:
        me.receive(m(payload=b"\xff" * 32))
    assert bad.value.culprits == (2,)
    assert isinstance(bad.value, DecodeError) and isinstance(bad.value, CulpritError)
    assert me.to_bytes() == before
    # accepted once, then a duplicate
    me.receive(good)
    assert_rejected(me, good, DuplicateMessageError, "duplicate_message")
    # finish round 0, then the same message is stale
    me.receive(outs[3][0])
    assert me.round == 1
    assert_rejected(me, good, OutOfOrderMessageError, "out_of_order_message")
    with pytest.raises(OutOfOrderMessageError) as stale:
        me.receive(good)
    assert not stale.value.is_future


def test_receive_before_start_and_double_start() -> None:
    sessions = make()
    other = make()[2].start()[0]
    with pytest.raises(ProtocolStateError):
        sessions[1].receive(other)
    sessions[1].start()
    with pytest.raises(ProtocolStateError):
        sessions[1].start()
    with pytest.raises(ProtocolStateError):
        _ = sessions[1].result


def test_culprit_abort_is_final() -> None:
    sessions, outs = started((1, 2))
    a, b = sessions[1], sessions[2]
    (to_b,) = a.receive(outs[2][0])
    (to_a,) = b.receive(outs[1][0])
    forged = Message(
        to_a.protocol,
        to_a.session_id,
        to_a.round,
        to_a.sender,
        to_a.recipient,
        (5).to_bytes(32, "big"),
    )
    with pytest.raises(InvalidShareError) as info:
        a.receive(forged)
    assert info.value.culprits == (2,)
    assert a.aborted and a.abort_reason is not None and a.abort_reason[0] == "invalid_share"
    with pytest.raises(ProtocolAbortedError):
        a.receive(to_a)
    restored = Protocol.from_bytes(a.to_bytes())
    assert restored.aborted
    assert b.receive(to_b) == [] and b.done


def test_state_restores_into_the_right_class_only() -> None:
    s = make()[1]
    data = s.to_bytes()
    assert isinstance(Protocol.from_bytes(data), SumOfSecrets)
    assert SumOfSecrets.from_bytes(data).to_bytes() == data
    from cosigner.ecdsa.presign import Presign

    with pytest.raises(StateDecodeError):
        Presign.from_bytes(data)
    for bad in (b"", b"CSS", data[:-1], data + b"\x00", b"XSS" + data[3:]):
        with pytest.raises(StateDecodeError):
            Protocol.from_bytes(bad)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=60))
def test_state_decoder_property(data: bytes) -> None:
    with pytest.raises(StateDecodeError):
        Protocol.from_bytes(b"CSS\x01\x08test/sum" + data)


def test_parameters_are_checked() -> None:
    with pytest.raises(InvalidParametersError):
        SumOfSecrets(session_id=b"s", me=4, participants=(1, 2, 3))
    with pytest.raises(InvalidParametersError):
        SumOfSecrets(session_id=b"s", me=1, participants=(1, 1, 2))
    with pytest.raises(InvalidParametersError):
        SumOfSecrets(session_id=b"", me=1, participants=(1, 2))
    with pytest.raises(InvalidParametersError):
        SumOfSecrets(session_id=b"s", me=1, participants=(1,))


def test_repr_shows_no_secret() -> None:
    s = make()[1]
    text = repr(s)
    assert hex(s.mine)[2:10] not in text and "test/sum" in text
