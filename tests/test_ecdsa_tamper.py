"""Tampering and malformed messages in every ECDSA protocol.

For each kind of message (protocol, round, channel, direction) a byte of one
message is flipped on its way to one recipient. The protocol must never
finish quietly: some participant raises a typed :class:`CosignerError`, and
where the specification identifies the culprit the recipient names the
sender. Property tests feed every message decoder mutated payloads.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosigner import ecdsa
from cosigner.errors import CosignerError, CulpritError
from cosigner.protocol import (
    DuplicateMessageError,
    LocalNetwork,
    MalformedPayloadError,
    Message,
    OutOfOrderMessageError,
    Protocol,
    WrongRecipientError,
)
from ecdsa_dealer import insecure_deal_triple_for_tests
from protocol_helpers import seeded_rng

Factory = Callable[[], dict[int, Protocol]]
KEY = ecdsa.keygen_local([1, 2], threshold=2, rng=seeded_rng("tamper key"))
KEY3 = ecdsa.keygen_local([1, 2, 3], threshold=2, rng=seeded_rng("tamper key 3"))


def keygen_sessions() -> dict[int, Protocol]:
    ids = (1, 2, 3)
    return {p: ecdsa.Keygen(session_id=b"K" * 32, me=p, participants=ids, threshold=2) for p in ids}


def reshare_sessions() -> dict[int, Protocol]:
    new = (2, 3, 4)
    return {
        p: ecdsa.Reshare(
            session_id=b"R" * 32,
            me=p,
            participants=new,
            threshold=2,
            old_share=KEY3.get(p),
            old_participants=(1, 2, 3),
            old_threshold=2,
            public_key=KEY3[2].public_key,
        )
        for p in new
    }


def triple_sessions() -> dict[int, Protocol]:
    ids = (1, 2)
    return {
        p: ecdsa.TripleGeneration(
            session_id=b"T" * 32, me=p, participants=ids, threshold=2, count=2
        )
        for p in ids
    }


def presign_sessions() -> dict[int, Protocol]:
    t0 = insecure_deal_triple_for_tests((1, 2), 2)
    t1 = insecure_deal_triple_for_tests((1, 2), 2)
    return {
        p: ecdsa.Presign(session_id=b"P" * 32, key_share=KEY[p], triple0=t0[p], triple1=t1[p])
        for p in (1, 2)
    }


def sign_sessions() -> dict[int, Protocol]:
    t0 = insecure_deal_triple_for_tests((1, 2), 2)
    t1 = insecure_deal_triple_for_tests((1, 2), 2)
    pre = ecdsa.presign_local(KEY, t0, t1)
    return {
        p: ecdsa.Sign(session_id=b"S" * 32, presignature=pre[p], digest=b"d" * 32, coordinator=1)
        for p in (1, 2)
    }


FACTORIES: dict[str, Factory] = {
    "keygen": keygen_sessions,
    "reshare": reshare_sessions,
    "triples": triple_sessions,
    "presign": presign_sessions,
    "sign": sign_sessions,
}


class TamperNetwork(LocalNetwork):
    """Delivers like LocalNetwork, flipping one byte of one message to one recipient.

    A participant that raises is recorded and gets no further messages; the
    others carry on until the network is quiet.
    """

    def __init__(self, sessions: dict[int, Protocol], target: tuple, position: int) -> None:
        super().__init__(sessions)
        self.target = target
        self.position = position
        self.errors: dict[int, BaseException] = {}
        self.tampered = False

    def _deliver(self, pid: int, message: Message) -> None:
        if pid in self.errors:
            return
        key = (message.round, message.recipient is None, message.sender, pid)
        if not self.tampered and key == self.target and message.payload:
            payload = bytearray(message.payload)
            payload[self.position % len(payload)] ^= 0xFF
            message = Message(
                message.protocol,
                message.session_id,
                message.round,
                message.sender,
                message.recipient,
                bytes(payload),
            )
            self.tampered = True
        try:
            super()._deliver(pid, message)
        except Exception as exc:
            self.errors[pid] = exc

    def run_tampered(self) -> dict[int, BaseException]:
        self.start()
        while self._queue:
            pid, message = self._queue.popleft()
            self._deliver(pid, message)
        return self.errors


def message_kinds(factory: Factory) -> list[tuple[int, bool, int, int]]:
    """One (round, broadcast?, sender, recipient) per kind of message of a clean run."""
    kinds: dict[tuple[int, bool, bool], tuple[int, bool, int, int]] = {}
    sessions = factory()
    net = LocalNetwork(sessions)
    original = net._post

    def post(messages: list[Message]) -> None:
        for m in messages:
            recipients = (
                [p for p in sessions if p != m.sender] if m.recipient is None else [m.recipient]
            )
            for r in recipients:
                kinds.setdefault(
                    (m.round, m.recipient is None, m.sender < r),
                    (m.round, m.recipient is None, m.sender, r),
                )
        original(messages)

    net._post = post  # type: ignore[method-assign]
    net.run()
    return sorted(kinds.values())


# Kinds whose recipient must name the sender: everything the specification
# attributes. The others (the OT challenge and base-OT reply, which corrupt
# the peer's OT state, and the MTA messages, checked only by C = L(0)), and
# presign and sign, whose checks are on sums, abort with a typed error.
UNATTRIBUTED = {
    ("triples", 1, False, False),  # HIGHER -> LOWER base OT reply (+ shares of a and b)
    ("triples", 3, False, False),  # HIGHER -> LOWER OT challenge
    ("triples", 5, False, False),  # HIGHER -> LOWER MTA ciphertexts
    ("triples", 6, False, True),  # LOWER -> HIGHER MTA challenge
}


@pytest.mark.parametrize("protocol", sorted(FACTORIES))
def test_flipping_a_byte_of_any_message_aborts_with_a_typed_error(protocol: str) -> None:
    factory = FACTORIES[protocol]
    kinds = message_kinds(factory)
    assert kinds
    for target in kinds:
        rnd, broadcast, sender, recipient = target
        noticed = False
        for position in (0, 7, 40, -1):
            net = TamperNetwork(factory(), target, position)
            errors = net.run_tampered()
            channel = "broadcast" if broadcast else "private"
            where = f"{protocol} round {rnd} {channel} {sender}->{recipient} @{position}"
            assert net.tampered, where
            if not errors:
                # Only a change the protocol provably ignores may pass: KOS15's sender
                # reads column j of U only where its Delta_j is 1 (round 2), and the MTA
                # receiver reads one ciphertext of each pair, the one its choice bit picks
                # (round 5). Then the triples come out right.
                assert (protocol, rnd) in (("triples", 2), ("triples", 5)), (
                    f"{where}: tampering went unnoticed"
                )
                assert_valid_triples(net)
                continue
            noticed = True
            for pid, exc in errors.items():
                assert isinstance(exc, CosignerError), f"{where}: {pid} raised {exc!r}"
                if pid == recipient and isinstance(exc, CulpritError):
                    assert exc.culprits == (sender,), f"{where}: {exc!r}"
            attributed = (
                protocol in ("keygen", "reshare", "triples")
                and (
                    protocol,
                    rnd,
                    broadcast,
                    sender < recipient,
                )
                not in UNATTRIBUTED
            )
            if attributed:
                exc = errors.get(recipient)
                assert isinstance(exc, CulpritError), f"{where}: recipient raised {exc!r}"
                assert exc.culprits == (sender,), f"{where}: {exc!r}"
        assert noticed, f"{protocol} round {rnd}: no flipped byte was noticed"


def assert_valid_triples(net: LocalNetwork) -> None:
    from cosigner.ecdsa import math

    results = {p: s.result for p, s in net.sessions.items()}
    ids = tuple(sorted(results))
    for k in range(len(results[ids[0]])):
        a, b, c = (
            sum(math.lagrange(ids, p) * getattr(results[p][k], n) for p in ids) % math.N
            for n in ("a", "b", "c")
        )
        assert a * b % math.N == c


def test_rejected_messages_leave_ecdsa_state_unchanged() -> None:
    sessions = triple_sessions()
    lower, higher = sessions[1], sessions[2]
    out_lower = lower.start()
    higher.start()
    broadcast = next(m for m in out_lower if m.recipient is None)
    private = next(m for m in out_lower if m.recipient == 2)

    def rejected(message: Message, error: type[CosignerError]) -> None:
        before = higher.to_bytes()
        with pytest.raises(error):
            higher.receive(message)
        assert higher.to_bytes() == before

    def variant(m: Message, **kw: object) -> Message:
        fields = {
            "protocol": m.protocol,
            "session_id": m.session_id,
            "round": m.round,
            "sender": m.sender,
            "recipient": m.recipient,
            "payload": m.payload,
        }
        fields.update(kw)
        return Message(**fields)  # type: ignore[arg-type]

    rejected(variant(private, recipient=3), WrongRecipientError)
    rejected(variant(broadcast, round=4), OutOfOrderMessageError)
    rejected(variant(private, payload=private.payload[:-1]), MalformedPayloadError)
    # The higher party waits for both of the lower party's round-0 messages.
    higher.receive(broadcast)
    rejected(broadcast, DuplicateMessageError)
    higher.receive(private)
    assert higher.round == 1
    rejected(broadcast, OutOfOrderMessageError)


# -- property tests of every message decoder -------------------------------------------------


def capture(factory: Factory) -> list[tuple[str, bytes, Message]]:
    """(kind, recipient state just before, message) for every kind of message of a clean run."""
    seen: dict[tuple, tuple[str, bytes, Message]] = {}
    sessions = factory()
    net = LocalNetwork(sessions)
    for pid, session in sessions.items():
        original = session.receive

        def receive(message: Message, _s=session, _orig=original, _pid=pid) -> list[Message]:
            key = (message.round, message.recipient is None, message.sender < _pid)
            if key not in seen:
                seen[key] = (f"{_s.NAME} {key}", _s.to_bytes(), message)
            return _orig(message)

        session.receive = receive  # type: ignore[method-assign]
    net.run()
    return list(seen.values())


CAPTURED = [item for name in sorted(FACTORIES) for item in capture(FACTORIES[name])]


@pytest.mark.parametrize("which", range(len(CAPTURED)), ids=[c[0] for c in CAPTURED])
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=3),
    cut=st.none() | st.integers(0, 10**6),
    extra=st.binary(max_size=3),
)
def test_every_decoder_rejects_or_aborts_with_typed_errors(which, edits, cut, extra) -> None:
    kind, state, message = CAPTURED[which]
    payload = bytearray(message.payload)
    for position, value in edits:
        if payload:
            payload[position % len(payload)] = value
    if cut is not None and payload:
        payload = payload[: cut % len(payload)]
    payload += extra
    mutated = Message(
        message.protocol,
        message.session_id,
        message.round,
        message.sender,
        message.recipient,
        bytes(payload),
    )
    session = Protocol.from_bytes(state)
    try:
        session.receive(mutated)
    except MalformedPayloadError as exc:
        assert exc.culprits == (message.sender,), kind
        assert session.to_bytes() == state, kind  # rejected: state unchanged
    except CosignerError:
        assert session.aborted, kind  # a check failed: the session aborted for good
