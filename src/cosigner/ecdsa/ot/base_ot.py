"""Batch random OT: the "simplest" OT protocol of CO15, λ = 128 instances at once.

Spec: ``docs/ecdsa/ot_based_ecdsa/triples.md``, "Random Oblivious Transfer",
section "'Simplest' OT Protocol" (protocol ``Batch-Random-OT``), after
[CO15] (https://eprint.iacr.org/2015/267). Rust counterpart:
``src/ecdsa/ot_based_ecdsa/triples/batch_random_ot.rs``.

Message flow (one round trip)::

    sender                                   receiver (choice bits b_1..b_λ)
    base_ot_sender_start(rng)
        -- BaseOtSenderMessage (Y) -->
                                             base_ot_receiver_respond(b, msg, rng)
                                             -> K^{b_i}_i  (done)
        <-- BaseOtReceiverMessage (X_1..X_λ) --
    base_ot_sender_finish(state, msg)
    -> K^0_i, K^1_i  (done)

Steps 1-2 are :func:`base_ot_sender_start`, 3-6 :func:`base_ot_receiver_respond`,
7-8 :func:`base_ot_sender_finish`. The key derivation function
``H_(i, Y, X_i)`` of the spec is SHA-256 over a domain tag, ``i`` as a
little-endian u64, the compressed encodings of ``X_i``, ``Y`` and the
Diffie-Hellman point, truncated to λ bits: the Rust layout with our own tag.
The point at infinity, which only a cheating receiver can cause, hashes as
33 zero bytes.

Keys are returned as 128 rows of 16 bytes (row ``i`` is ``K_i•``), bits
least significant first; see :mod:`cosigner.ecdsa.ot.bits`.
"""

from __future__ import annotations

import hashlib
from typing import Final

from cosigner.ecdsa.ot import _codec
from cosigner.ecdsa.ot._state import SingleUse
from cosigner.ecdsa.ot.bits import LAMBDA, LAMBDA_BYTES
from cosigner.ecdsa.ot.errors import OtParameterError
from cosigner.groups import SECP256K1, Element, RandomBytes, system_random

_KDF_DST: Final = b"cosigner/ecdsa/ot/v1/batch-random-ot"
KEYS_SIZE: Final = LAMBDA * LAMBDA_BYTES
"""Bytes in one key matrix: λ rows of λ bits."""


def _point_bytes(p: Element) -> bytes:
    return bytes(33) if p.is_identity else p.to_bytes()


def kdf(i: int, big_x_i: bytes, big_y: bytes, point: Element) -> bytes:
    """``H_(i, Y, X_i)(point)``: λ bits from SHA-256, domain separated."""
    h = hashlib.sha256(_KDF_DST)
    h.update(i.to_bytes(8, "little"))
    h.update(big_x_i)
    h.update(big_y)
    h.update(_point_bytes(point))
    return h.digest()[:LAMBDA_BYTES]


class BaseOtSenderMessage:
    """Sender to receiver: ``Y = y * G`` (spec step 2)."""

    __slots__ = ("big_y",)

    def __init__(self, big_y: Element) -> None:
        self.big_y = big_y

    def to_bytes(self) -> bytes:
        w = _codec.Writer(_codec.TAG_BASE_OT_SENDER_MESSAGE)
        w.element(self.big_y)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> BaseOtSenderMessage:
        r = _codec.Reader(data, _codec.TAG_BASE_OT_SENDER_MESSAGE, "BaseOtSenderMessage")
        big_y = r.element("Y")
        r.done()
        return cls(big_y)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseOtSenderMessage):
            return NotImplemented
        return self.big_y == other.big_y

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BaseOtSenderMessage(Y={self.big_y!r})"


class BaseOtReceiverMessage:
    """Receiver to sender: ``X_i = b_i * Y + x_i * G`` for i in [λ] (spec step 6)."""

    __slots__ = ("big_x",)

    def __init__(self, big_x: tuple[Element, ...]) -> None:
        if len(big_x) != LAMBDA:
            raise OtParameterError(f"a base OT response has {LAMBDA} points, got {len(big_x)}")
        self.big_x = big_x

    def to_bytes(self) -> bytes:
        w = _codec.Writer(_codec.TAG_BASE_OT_RECEIVER_MESSAGE)
        for p in self.big_x:
            w.element(p)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> BaseOtReceiverMessage:
        r = _codec.Reader(data, _codec.TAG_BASE_OT_RECEIVER_MESSAGE, "BaseOtReceiverMessage")
        big_x = tuple(r.element(f"X[{i}]") for i in range(LAMBDA))
        r.done()
        return cls(big_x)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseOtReceiverMessage):
            return NotImplemented
        return self.big_x == other.big_x

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BaseOtReceiverMessage({len(self.big_x)} points)"


class BaseOtSenderState(SingleUse):
    """The sender between its two steps: the secret ``y``. Single-use."""

    __slots__ = ("_y",)

    def __init__(self, y: int) -> None:
        super().__init__()
        y %= SECP256K1.order
        if y == 0:
            raise OtParameterError("the base OT sender secret must be nonzero")
        self._y = y

    def to_bytes(self) -> bytes:
        self._check_storable()
        w = _codec.Writer(_codec.TAG_BASE_OT_SENDER_STATE)
        w.scalar(self._y)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> BaseOtSenderState:
        r = _codec.Reader(data, _codec.TAG_BASE_OT_SENDER_STATE, "BaseOtSenderState")
        y = r.scalar("y")
        r.done()
        if y == 0:
            raise r.error("the sender secret is zero")
        return cls(y)

    def __repr__(self) -> str:
        return "BaseOtSenderState(<secret>)"


def base_ot_sender_start(
    rng: RandomBytes = system_random,
) -> tuple[BaseOtSenderState, BaseOtSenderMessage]:
    """Spec steps 1-2: sample ``y``, send ``Y = y * G``."""
    y = SECP256K1.random_scalar(rng)
    return BaseOtSenderState(y), BaseOtSenderMessage(SECP256K1.base_mul(y))


def base_ot_receiver_respond(
    choices: bytes, message: BaseOtSenderMessage, rng: RandomBytes = system_random
) -> tuple[bytes, BaseOtReceiverMessage]:
    """Spec steps 3-6: the receiver's keys ``K^{b_i}_i`` and its message ``X_1..X_λ``.

    ``choices`` holds the λ choice bits, 16 bytes, LSB first. Returns the
    ``λ * 16`` key bytes (row ``i`` is ``K^{b_i}_i``) and the message.
    """
    if not isinstance(choices, bytes) or len(choices) != LAMBDA_BYTES:
        raise OtParameterError(f"base OT choices are {LAMBDA_BYTES} bytes")
    big_y = message.big_y
    big_y_bytes = big_y.to_bytes()
    keys = []
    big_x = []
    for i in range(LAMBDA):
        bit = (choices[i // 8] >> (i % 8)) & 1
        x_i = SECP256K1.random_scalar(rng)
        x_i_g = SECP256K1.base_mul(x_i)
        # Compute both candidates so the work does not depend on the choice bit.
        big_x_i = (x_i_g, x_i_g + big_y)[bit]
        big_x_i_bytes = big_x_i.to_bytes()
        keys.append(kdf(i, big_x_i_bytes, big_y_bytes, x_i * big_y))
        big_x.append(big_x_i)
    return b"".join(keys), BaseOtReceiverMessage(tuple(big_x))


def base_ot_sender_finish(
    state: BaseOtSenderState, message: BaseOtReceiverMessage
) -> tuple[bytes, bytes]:
    """Spec steps 7-8: ``K^b_i = H_(i, Y, X_i)(y * X_i - b * Z)`` for b in {0, 1}.

    Returns ``(K0, K1)``, each ``λ * 16`` bytes, row ``i`` being ``K^b_i``.
    """
    state._consume()
    y = state._y
    big_y = SECP256K1.base_mul(y)
    big_y_bytes = big_y.to_bytes()
    big_z = y * big_y
    k0 = []
    k1 = []
    for i, big_x_i in enumerate(message.big_x):
        big_x_i_bytes = big_x_i.to_bytes()
        y_big_x_i = y * big_x_i
        k0.append(kdf(i, big_x_i_bytes, big_y_bytes, y_big_x_i))
        k1.append(kdf(i, big_x_i_bytes, big_y_bytes, y_big_x_i - big_z))
    return b"".join(k0), b"".join(k1)


__all__ = [
    "KEYS_SIZE",
    "BaseOtReceiverMessage",
    "BaseOtSenderMessage",
    "BaseOtSenderState",
    "base_ot_receiver_respond",
    "base_ot_sender_finish",
    "base_ot_sender_start",
    "kdf",
]
