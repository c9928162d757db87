"""Protocol messages and their canonical, versioned byte encoding.

A :class:`Message` is what one participant of a session hands the transport:
which protocol and session it belongs to, the round it was sent in, who sent
it, who it is for (one participant, or ``None`` for every other participant)
and the protocol's own payload bytes.

Encoding (integers big-endian)::

    magic "CSM" || version (u8 = 1)
    || protocol name: u8 length, ASCII
    || session id:    u8 length (1..64), bytes
    || round:         u16
    || sender:        u32
    || recipient:     u8 flag (0 = broadcast, 1 = private) [|| u32 when 1]
    || payload:       u32 length, bytes

The decoder is strict: wrong magic or version, out-of-range lengths,
non-ASCII or empty protocol names, a flag other than 0 or 1 and trailing
bytes are all :class:`~cosigner.protocol.errors.MessageDecodeError`. Every
message therefore has exactly one encoding; it is computed once and cached.
"""

from __future__ import annotations

import re
from typing import Final

from cosigner.protocol.errors import MessageDecodeError

MAGIC: Final = b"CSM"
VERSION: Final = 1
MAX_SESSION_ID = 64
MAX_PARTICIPANT_ID = 2**32 - 1
MAX_ROUND = 2**16 - 1
_NAME = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,63}$")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"protocol name {name!r} is not 1-64 lowercase ASCII characters")


class Message:
    """One message of a protocol session. Immutable."""

    __slots__ = ("_encoded", "payload", "protocol", "recipient", "round", "sender", "session_id")

    protocol: str
    session_id: bytes
    round: int
    sender: int
    recipient: int | None
    payload: bytes
    _encoded: bytes | None

    def __init__(
        self,
        protocol: str,
        session_id: bytes,
        round: int,
        sender: int,
        recipient: int | None,
        payload: bytes,
        *,
        _encoded: bytes | None = None,
    ) -> None:
        _check_name(protocol)
        if not isinstance(session_id, bytes) or not 1 <= len(session_id) <= MAX_SESSION_ID:
            raise ValueError(f"a session id is 1 to {MAX_SESSION_ID} bytes")
        if not isinstance(round, int) or not 0 <= round <= MAX_ROUND:
            raise ValueError(f"round must be in [0, {MAX_ROUND}]")
        if not isinstance(sender, int) or not 0 <= sender <= MAX_PARTICIPANT_ID:
            raise ValueError("sender must be a participant id in [0, 2**32)")
        if recipient is not None and (
            not isinstance(recipient, int) or not 0 <= recipient <= MAX_PARTICIPANT_ID
        ):
            raise ValueError("recipient must be None (broadcast) or a participant id")
        if not isinstance(payload, bytes):
            raise TypeError("payload must be bytes")
        for name, value in (
            ("protocol", protocol),
            ("session_id", session_id),
            ("round", round),
            ("sender", sender),
            ("recipient", recipient),
            ("payload", payload),
            ("_encoded", _encoded),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Message is immutable")

    @property
    def is_broadcast(self) -> bool:
        return self.recipient is None

    def to_bytes(self) -> bytes:
        encoded = self._encoded
        if encoded is None:
            name = self.protocol.encode("ascii")
            parts = [
                MAGIC,
                bytes([VERSION, len(name)]),
                name,
                bytes([len(self.session_id)]),
                self.session_id,
                self.round.to_bytes(2, "big"),
                self.sender.to_bytes(4, "big"),
                b"\x00" if self.recipient is None else b"\x01" + self.recipient.to_bytes(4, "big"),
                len(self.payload).to_bytes(4, "big"),
                self.payload,
            ]
            encoded = b"".join(parts)
            object.__setattr__(self, "_encoded", encoded)
        return encoded

    @classmethod
    def from_bytes(cls, data: bytes) -> Message:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MessageDecodeError("a protocol message is bytes")
        data = bytes(data)
        view = memoryview(data)
        pos = 0

        def take(n: int, what: str) -> bytes:
            nonlocal pos
            if pos + n > len(data):
                raise MessageDecodeError(f"protocol message truncated while reading {what}")
            out = bytes(view[pos : pos + n])
            pos += n
            return out

        if take(3, "magic") != MAGIC:
            raise MessageDecodeError("not a cosigner protocol message (bad magic)")
        version = take(1, "version")[0]
        if version != VERSION:
            raise MessageDecodeError(f"unsupported protocol message version {version}")
        name_bytes = take(take(1, "protocol name length")[0], "protocol name")
        try:
            name = name_bytes.decode("ascii")
            _check_name(name)
        except (UnicodeDecodeError, ValueError):
            raise MessageDecodeError("invalid protocol name in message") from None
        sid_len = take(1, "session id length")[0]
        if not 1 <= sid_len <= MAX_SESSION_ID:
            raise MessageDecodeError(f"a session id is 1 to {MAX_SESSION_ID} bytes")
        session_id = take(sid_len, "session id")
        round_ = int.from_bytes(take(2, "round"), "big")
        sender = int.from_bytes(take(4, "sender"), "big")
        flag = take(1, "recipient flag")[0]
        recipient: int | None
        if flag == 0:
            recipient = None
        elif flag == 1:
            recipient = int.from_bytes(take(4, "recipient"), "big")
        else:
            raise MessageDecodeError("recipient flag must be 0 (broadcast) or 1 (private)")
        payload_len = int.from_bytes(take(4, "payload length"), "big")
        payload = take(payload_len, "payload")
        if pos != len(data):
            raise MessageDecodeError(f"{len(data) - pos} trailing bytes after protocol message")
        return cls(name, session_id, round_, sender, recipient, payload, _encoded=data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        to = "all" if self.recipient is None else str(self.recipient)
        return (
            f"<Message {self.protocol} session={self.session_id.hex()[:16]} round={self.round} "
            f"{self.sender}->{to} payload={len(self.payload)} bytes>"
        )


__all__ = ["MAGIC", "VERSION", "Message"]
