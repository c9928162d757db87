"""The pairwise triple setup: one batch random OT per pair of parties, run once.

Spec: ``docs/ecdsa/ot_based_ecdsa/triples.md``, "Setup Phase" (protocol
``Triples-Setup``). For an unordered pair ``P_a < P_b`` (the parties' total
order, i.e. the lower participant id first):

* ``P_a``, the **lower** party, is the sender of the ``Batch-Random-OT`` of
  size λ and learns both key matrices ``K^0``, ``K^1``;
* ``P_b``, the **higher** party, samples ``Δ ∈ F_2^λ``, is the receiver with
  ``Δ`` as its choice bits and learns ``Δ`` and ``K^{Δ_i}_i``.

In every OT extension that later uses this setup the roles flip (spec, "Note
that the sender was the receiver in the original setup"): the higher party,
which holds ``Δ``, is the extension *sender*; the lower party, which holds
``K^0, K^1``, is the extension *receiver*. Naming the sides ``LOWER`` and
``HIGHER`` avoids that ambiguity everywhere in this package.

Message flow::

    LOWER                                     HIGHER
    setup_lower_start(rng)
        -- BaseOtSenderMessage -->
                                              setup_higher_respond(msg, rng)
                                              -> PairSetup (done)
        <-- BaseOtReceiverMessage --
    setup_lower_finish(state, msg)
    -> PairSetup (done)

The spec requires this exchange to run over a private channel. The
resulting :class:`PairSetup` is long-lived secret material: one setup serves
every later extension between the two parties, as long as each extension's
session id is unique (the extension receiver also mixes in a fresh nonce).
"""

from __future__ import annotations

import enum

from cosigner.ecdsa.ot import _codec
from cosigner.ecdsa.ot.base_ot import (
    KEYS_SIZE,
    BaseOtReceiverMessage,
    BaseOtSenderMessage,
    BaseOtSenderState,
    base_ot_receiver_respond,
    base_ot_sender_finish,
    base_ot_sender_start,
)
from cosigner.ecdsa.ot.bits import LAMBDA_BYTES
from cosigner.ecdsa.ot.errors import OtParameterError
from cosigner.groups import RandomBytes, system_random


class PairRole(enum.IntEnum):
    """Which side of a pair a party is on, by participant order."""

    LOWER = 0
    """Lower id: base OT sender, holds K^0 and K^1; OT extension receiver and MTA receiver."""
    HIGHER = 1
    """Higher id: samples Δ, holds K^Δ; OT extension sender and MTA sender."""


class PairSetup:
    """One party's result of ``Triples-Setup`` with one peer. Secret; reusable.

    Build it with the setup step functions or :meth:`lower` / :meth:`higher`;
    restore it with :meth:`from_bytes`.
    """

    __slots__ = ("_a", "_b", "role")

    def __init__(self, role: PairRole, a: bytes, b: bytes) -> None:
        self.role = PairRole(role)
        first = LAMBDA_BYTES if self.role is PairRole.HIGHER else KEYS_SIZE
        if len(a) != first or len(b) != KEYS_SIZE:
            raise OtParameterError("pair setup material has the wrong size")
        self._a = bytes(a)  # LOWER: K^0;  HIGHER: Δ
        self._b = bytes(b)  # LOWER: K^1;  HIGHER: K^Δ

    @classmethod
    def lower(cls, k0: bytes, k1: bytes) -> PairSetup:
        return cls(PairRole.LOWER, k0, k1)

    @classmethod
    def higher(cls, delta: bytes, k_delta: bytes) -> PairSetup:
        return cls(PairRole.HIGHER, delta, k_delta)

    def _require(self, role: PairRole) -> None:
        if self.role is not role:
            raise OtParameterError(
                f"this step needs the {role.name} side's pair setup, "
                f"but this setup is the {self.role.name} side's"
            )

    @property
    def k0(self) -> bytes:
        """``K^0`` (LOWER only): λ rows of 16 bytes."""
        self._require(PairRole.LOWER)
        return self._a

    @property
    def k1(self) -> bytes:
        """``K^1`` (LOWER only): λ rows of 16 bytes."""
        self._require(PairRole.LOWER)
        return self._b

    @property
    def delta(self) -> bytes:
        """``Δ`` (HIGHER only): λ bits, 16 bytes, LSB first."""
        self._require(PairRole.HIGHER)
        return self._a

    @property
    def k_delta(self) -> bytes:
        """``K^{Δ_i}_i`` (HIGHER only): λ rows of 16 bytes."""
        self._require(PairRole.HIGHER)
        return self._b

    def to_bytes(self) -> bytes:
        w = _codec.Writer(_codec.TAG_PAIR_SETUP)
        w.u8(int(self.role))
        w.raw(self._a)
        w.raw(self._b)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> PairSetup:
        r = _codec.Reader(data, _codec.TAG_PAIR_SETUP, "PairSetup")
        role_value = r.u8("role")
        if role_value not in (PairRole.LOWER, PairRole.HIGHER):
            raise r.error(f"unknown role {role_value}")
        role = PairRole(role_value)
        a = r.take(LAMBDA_BYTES if role is PairRole.HIGHER else KEYS_SIZE, "first key")
        b = r.take(KEYS_SIZE, "second key")
        r.done()
        return cls(role, a, b)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PairSetup):
            return NotImplemented
        return self.role is other.role and self._a == other._a and self._b == other._b

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PairSetup(role={self.role.name}, <secret>)"


def setup_lower_start(
    rng: RandomBytes = system_random,
) -> tuple[BaseOtSenderState, BaseOtSenderMessage]:
    """LOWER, step 1 of 2: start the base OT as its sender; send the message to HIGHER."""
    return base_ot_sender_start(rng)


def setup_higher_respond(
    message: BaseOtSenderMessage, rng: RandomBytes = system_random
) -> tuple[PairSetup, BaseOtReceiverMessage]:
    """HIGHER, only step: sample Δ, answer the base OT with Δ as choices; done."""
    delta = rng(LAMBDA_BYTES)
    k_delta, reply = base_ot_receiver_respond(delta, message, rng)
    return PairSetup.higher(delta, k_delta), reply


def setup_lower_finish(state: BaseOtSenderState, message: BaseOtReceiverMessage) -> PairSetup:
    """LOWER, step 2 of 2: finish the base OT; done."""
    k0, k1 = base_ot_sender_finish(state, message)
    return PairSetup.lower(k0, k1)


__all__ = [
    "PairRole",
    "PairSetup",
    "setup_higher_respond",
    "setup_lower_finish",
    "setup_lower_start",
]
