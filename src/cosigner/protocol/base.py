"""The sans-I/O protocol session: an explicit state machine fed messages.

A :class:`Protocol` subclass implements one multi-round protocol from one
participant's point of view. It never touches a network, a clock or a global
random source (DESIGN.md principle 2):

* ``start()`` returns the participant's first messages;
* ``receive(message)`` validates one incoming :class:`~cosigner.protocol.Message`
  and, once every message the current round waits for has arrived, runs the
  round and returns the next messages;
* ``done`` / ``result`` report the outcome;
* ``to_bytes()`` / ``Protocol.from_bytes()`` capture and restore the *whole*
  state, secrets included (the server encrypts it before storing it), so a
  session can continue in another process exactly as if it had never stopped.

Rounds. Messages sent while finishing round ``r - 1`` (or by ``start()`` for
``r = 0``) carry round number ``r``; in round ``r`` a participant waits for
exactly the (sender, channel) pairs its subclass declares, where the channel
is broadcast or private. Every check on an incoming message happens before
any state changes: the wrong protocol or session, a sender who is not a
participant, a private message for someone else, a round that is not the
current one, a (sender, channel) not due, a duplicate, or a payload that does
not decode are all rejected with a typed error and leave the state as it
was. A round whose checks fail (a bad proof, a commitment mismatch, ...)
aborts the session with the error, which names the culprit where the
specification can.

Randomness. The injected ``rng`` is read once, at construction, for a 32-byte
seed; every later random draw is SHAKE-256 of the seed and a draw counter,
both part of the state. A restored session therefore draws the same values
it would have drawn had it never been serialized.
"""

from __future__ import annotations

import hashlib
import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar

from cosigner.errors import CosignerError, DecodeError
from cosigner.groups import RandomBytes, system_random
from cosigner.groups.secp256k1 import ORDER
from cosigner.protocol.codec import decode_value, encode_value
from cosigner.protocol.errors import (
    DuplicateMessageError,
    InvalidParametersError,
    MalformedPayloadError,
    OutOfOrderMessageError,
    ProtocolAbortedError,
    ProtocolStateError,
    StateDecodeError,
    UnexpectedMessageError,
    WrongRecipientError,
)
from cosigner.protocol.message import MAX_PARTICIPANT_ID, MAX_SESSION_ID, Message

BROADCAST: Final = 0
PRIVATE: Final = 1
CHANNEL_NAMES: Final = ("broadcast", "private")

STATE_MAGIC: Final = b"CSS"
STATE_VERSION: Final = 1
_DRBG_LABEL: Final = b"cosigner/protocol/drbg/v1"
_PROTOCOL_PACKAGES: Final = {"ecdsa": "cosigner.ecdsa"}
"""Where the sessions named ``<prefix>/...`` are defined, for restoring in a fresh process."""

Key = tuple[int, int]
"""(sender, channel): what one message of a round is identified by."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A payload a round produces, for one participant or (``None``) for every other one."""

    recipient: int | None
    payload: bytes


def to_all(payload: bytes) -> Outgoing:
    return Outgoing(None, payload)


def to_one(recipient: int, payload: bytes) -> Outgoing:
    return Outgoing(recipient, payload)


def normalize_participants(participants: Iterable[int], *, minimum: int = 2) -> tuple[int, ...]:
    """Participant ids as a sorted tuple; refuses duplicates, non-integers and too few."""
    ids = list(participants)
    for i in ids:
        if type(i) is not int or not 0 <= i <= MAX_PARTICIPANT_ID:
            raise InvalidParametersError(f"participant ids are integers in [0, 2**32), got {i!r}")
    if len(set(ids)) != len(ids):
        raise InvalidParametersError("participant ids must be distinct")
    if len(ids) < minimum:
        raise InvalidParametersError(f"at least {minimum} participants are needed")
    return tuple(sorted(ids))


P = TypeVar("P", bound="Protocol")


class Protocol(ABC):
    """One participant's side of a multi-round protocol. See the module docstring."""

    NAME: ClassVar[str]
    """The protocol name carried by every message, e.g. ``"ecdsa/presign"``."""
    STATE_FIELDS: ClassVar[tuple[str, ...]] = ()
    """The subclass attributes that, with the base fields, make up the whole state."""

    _registry: ClassVar[dict[str, type[Protocol]]] = {}

    session_id: bytes
    me: int
    participants: tuple[int, ...]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("NAME")
        if name is not None:
            if name in Protocol._registry:
                raise RuntimeError(f"protocol name {name!r} registered twice")
            Protocol._registry[name] = cls

    def __init__(
        self,
        *,
        session_id: bytes,
        me: int,
        participants: Iterable[int],
        rng: RandomBytes = system_random,
    ) -> None:
        if not isinstance(session_id, bytes) or not 1 <= len(session_id) <= MAX_SESSION_ID:
            raise InvalidParametersError(f"a session id is 1 to {MAX_SESSION_ID} bytes")
        self.session_id = session_id
        self.participants = normalize_participants(participants)
        if me not in self.participants:
            raise InvalidParametersError(f"participant {me} is not in {list(self.participants)}")
        self.me = me
        self._round = -1
        self._inbox: dict[Key, bytes] = {}
        self._done = False
        self._result: Any = None
        self._aborted: tuple[str, str] | None = None
        seed = rng(32)
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise InvalidParametersError("rng(32) must return 32 bytes")
        self._seed = seed
        self._draws = 0
        self._transient_init()

    def _transient_init(self) -> None:
        """(Re)build values derived from the state; called after __init__ and after restore."""
        self._decoded: dict[Key, Any] = {}
        self._expected_cache: tuple[int, frozenset[Key]] | None = None

    # -- subclass interface ---------------------------------------------------------

    @abstractmethod
    def _start(self) -> list[Outgoing]:
        """The round-0 messages."""

    @abstractmethod
    def _expected(self, round: int) -> Iterable[Key]:
        """The (sender, channel) pairs this participant waits for in ``round``."""

    @abstractmethod
    def _decode(self, round: int, sender: int, channel: int, payload: bytes) -> Any:
        """Parse one payload; raise :class:`DecodeError` if malformed. Must not change state."""

    @abstractmethod
    def _finish_round(self, round: int, messages: Mapping[Key, Any]) -> list[Outgoing]:
        """Run ``round`` on its decoded messages; return the next round's messages."""

    # -- helpers for subclasses ------------------------------------------------------

    @property
    def others(self) -> tuple[int, ...]:
        return tuple(p for p in self.participants if p != self.me)

    def _finish(self, result: Any) -> None:
        self._done = True
        self._result = result

    def _random(self, n: int) -> bytes:
        """``n`` bytes from the session's deterministic random generator."""
        h = hashlib.shake_256(_DRBG_LABEL)
        h.update(self._seed)
        h.update(self._draws.to_bytes(8, "big"))
        self._draws += 1
        return h.digest(n)

    def _random_scalar(self) -> int:
        """A uniform non-zero scalar modulo the secp256k1 order."""
        while True:
            k = int.from_bytes(self._random(48), "big") % ORDER
            if k:
                return k

    @staticmethod
    def _by_sender(messages: Mapping[Key, Any], channel: int) -> dict[int, Any]:
        return {s: v for (s, c), v in sorted(messages.items()) if c == channel}

    # -- public interface -------------------------------------------------------------

    @property
    def round(self) -> int:
        """The round whose messages the session waits for; -1 before ``start()``."""
        return self._round

    @property
    def done(self) -> bool:
        return self._done

    @property
    def aborted(self) -> bool:
        return self._aborted is not None

    @property
    def abort_reason(self) -> tuple[str, str] | None:
        """``(code, message)`` of the error that aborted the session, if it did."""
        return self._aborted

    @property
    def result(self) -> Any:
        if not self._done:
            raise ProtocolStateError(f"{self.NAME} session has not finished")
        return self._result

    def start(self) -> list[Message]:
        if self._aborted is not None:
            raise ProtocolAbortedError(f"{self.NAME} session aborted: {self._aborted[1]}")
        if self._round != -1:
            raise ProtocolStateError(f"{self.NAME} session was already started")
        produced = self._start()
        self._round = 0
        out = self._wrap(0, produced)
        out.extend(self._advance())
        return out

    def receive(self, message: Message) -> list[Message]:
        if not isinstance(message, Message):
            raise TypeError("receive() takes a Message")
        key = self._validate(message)
        try:
            decoded = self._decode(message.round, message.sender, key[1], message.payload)
        except DecodeError as exc:
            raise MalformedPayloadError(
                f"{self.NAME} round {message.round} {CHANNEL_NAMES[key[1]]} message from "
                f"{message.sender}: {exc.message}",
                culprits=(message.sender,),
            ) from None
        self._inbox[key] = message.payload
        self._decoded[key] = decoded
        return self._advance()

    def _validate(self, message: Message) -> Key:
        if self._aborted is not None:
            raise ProtocolAbortedError(f"{self.NAME} session aborted: {self._aborted[1]}")
        if self._round < 0:
            raise ProtocolStateError(f"start() the {self.NAME} session before receiving")
        if message.protocol != self.NAME:
            raise UnexpectedMessageError(
                f"a {message.protocol} message was delivered to a {self.NAME} session"
            )
        if message.session_id != self.session_id:
            raise UnexpectedMessageError(f"message for another {self.NAME} session")
        sender = message.sender
        if sender == self.me or sender not in self.participants:
            raise UnexpectedMessageError(
                f"{sender} is not another participant of this {self.NAME} session"
            )
        if message.recipient is not None and message.recipient != self.me:
            raise WrongRecipientError(
                f"private message for participant {message.recipient} delivered to {self.me}"
            )
        if self._done:
            raise UnexpectedMessageError(f"the {self.NAME} session has already finished")
        if message.round != self._round:
            when = "future" if message.round > self._round else "past"
            raise OutOfOrderMessageError(
                f"{self.NAME} message for {when} round {message.round}; "
                f"the session is in round {self._round}",
                round=message.round,
                expected_round=self._round,
            )
        channel = BROADCAST if message.recipient is None else PRIVATE
        key = (sender, channel)
        if key not in self._expected_set():
            raise UnexpectedMessageError(
                f"no {CHANNEL_NAMES[channel]} message from {sender} is due in "
                f"{self.NAME} round {self._round}"
            )
        if key in self._inbox:
            raise DuplicateMessageError(
                f"second {CHANNEL_NAMES[channel]} message from {sender} in "
                f"{self.NAME} round {self._round}"
            )
        return key

    def _expected_set(self) -> frozenset[Key]:
        cache = self._expected_cache
        if cache is None or cache[0] != self._round:
            cache = (self._round, frozenset(self._expected(self._round)))
            self._expected_cache = cache
        return cache[1]

    def _advance(self) -> list[Message]:
        out: list[Message] = []
        while not self._done:
            expected = self._expected_set()
            if not expected.issubset(self._inbox):
                break
            messages: dict[Key, Any] = {}
            for key in sorted(expected):
                if key in self._decoded:
                    messages[key] = self._decoded[key]
                else:  # restored from bytes: decode again (it decoded once already)
                    messages[key] = self._decode(self._round, key[0], key[1], self._inbox[key])
            try:
                produced = self._finish_round(self._round, messages)
            except CosignerError as exc:
                self._aborted = (exc.code, exc.message)
                self._inbox = {}
                self._decoded = {}
                raise
            self._inbox = {}
            self._decoded = {}
            self._round += 1
            out.extend(self._wrap(self._round, produced))
        return out

    def _wrap(self, round: int, produced: list[Outgoing]) -> list[Message]:
        return [
            Message(self.NAME, self.session_id, round, self.me, o.recipient, o.payload)
            for o in produced
        ]

    # -- serialization ---------------------------------------------------------------

    def _base_state(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "me": self.me,
            "participants": self.participants,
            "round": self._round,
            "inbox": dict(self._inbox),
            "done": self._done,
            "result": self._result,
            "aborted": self._aborted,
            "seed": self._seed,
            "draws": self._draws,
        }

    def to_bytes(self) -> bytes:
        """The whole state, secrets included: encrypt it before it leaves the process."""
        state = self._base_state()
        for name in self.STATE_FIELDS:
            state["f:" + name] = getattr(self, name)
        name_bytes = self.NAME.encode("ascii")
        header = STATE_MAGIC + bytes([STATE_VERSION, len(name_bytes)]) + name_bytes
        return header + encode_value(state)

    @classmethod
    def from_bytes(cls: type[P], data: bytes) -> P:
        """Restore a session from :meth:`to_bytes`; on ``Protocol`` itself, of any kind."""
        if not isinstance(data, bytes | bytearray):
            raise StateDecodeError("serialized protocol state is bytes")
        data = bytes(data)
        if data[:3] != STATE_MAGIC or len(data) < 5:
            raise StateDecodeError("not a serialized cosigner protocol state")
        if data[3] != STATE_VERSION:
            raise StateDecodeError(f"unsupported protocol state version {data[3]}")
        name_len = data[4]
        try:
            name = data[5 : 5 + name_len].decode("ascii")
        except UnicodeDecodeError:
            raise StateDecodeError("invalid protocol name in serialized state") from None
        klass = Protocol._registry.get(name)
        if klass is None and name.split("/")[0] in _PROTOCOL_PACKAGES:
            # A fresh process may not have imported the package defining the session yet.
            importlib.import_module(_PROTOCOL_PACKAGES[name.split("/")[0]])
            klass = Protocol._registry.get(name)
        if klass is None:
            raise StateDecodeError(f"unknown protocol {name!r} in serialized state")
        if not issubclass(klass, cls):
            raise StateDecodeError(f"serialized state is a {name} session, not a {cls.NAME}")
        state = decode_value(data[5 + name_len :])
        expected_keys = set(Protocol._base_state_keys()) | {"f:" + f for f in klass.STATE_FIELDS}
        if not isinstance(state, dict) or set(state) != expected_keys:
            raise StateDecodeError(f"serialized {name} state has the wrong fields")
        obj = klass.__new__(klass)
        try:
            obj._restore_base(state)
            for field in klass.STATE_FIELDS:
                setattr(obj, field, state["f:" + field])
            obj._transient_init()
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise StateDecodeError(f"invalid serialized {name} state: {exc}") from None
        return obj

    @staticmethod
    def _base_state_keys() -> tuple[str, ...]:
        return (
            "session_id",
            "me",
            "participants",
            "round",
            "inbox",
            "done",
            "result",
            "aborted",
            "seed",
            "draws",
        )

    def _restore_base(self, state: dict[str, Any]) -> None:
        session_id = state["session_id"]
        participants = state["participants"]
        me = state["me"]
        if not isinstance(session_id, bytes) or not isinstance(participants, tuple):
            raise ValueError("bad session id or participants")
        if normalize_participants(participants) != participants or me not in participants:
            raise ValueError("bad participants")
        inbox = state["inbox"]
        if not isinstance(inbox, dict) or not all(
            isinstance(k, tuple) and len(k) == 2 and isinstance(v, bytes) for k, v in inbox.items()
        ):
            raise ValueError("bad inbox")
        seed = state["seed"]
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise ValueError("bad seed")
        for key in ("round", "draws"):
            if type(state[key]) is not int:
                raise ValueError(f"bad {key}")
        if type(state["done"]) is not bool:
            raise ValueError("bad done flag")
        aborted = state["aborted"]
        if aborted is not None and not (
            isinstance(aborted, tuple)
            and len(aborted) == 2
            and all(isinstance(a, str) for a in aborted)
        ):
            raise ValueError("bad abort reason")
        self.session_id = session_id
        self.participants = participants
        self.me = me
        self._round = state["round"]
        self._inbox = inbox
        self._done = state["done"]
        self._result = state["result"]
        self._aborted = aborted
        self._seed = seed
        self._draws = state["draws"]

    def __repr__(self) -> str:
        if self._aborted is not None:
            status = f"aborted ({self._aborted[0]})"
        elif self._done:
            status = "done"
        elif self._round < 0:
            status = "not started"
        else:
            status = f"round {self._round}"
        return (
            f"<{type(self).__name__} {self.NAME} session={self.session_id.hex()[:16]} "
            f"me={self.me} of {list(self.participants)} {status}>"
        )


__all__ = [
    "BROADCAST",
    "PRIVATE",
    "Key",
    "Outgoing",
    "Protocol",
    "normalize_participants",
    "to_all",
    "to_one",
]
