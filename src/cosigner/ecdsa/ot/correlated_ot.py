"""Correlated OT extension (KOS15), for a batch of extensions over one pair setup.

Spec: ``docs/ecdsa/ot_based_ecdsa/triples.md``, "Extended Oblivious
Transfer", section "Correlated OT Extension" (protocol
``Correlated-OT-Extension``), after [KOS15] (https://eprint.iacr.org/2015/546).
Rust counterpart: ``src/ecdsa/ot_based_ecdsa/triples/correlated_ot_extension.rs``.

Roles (see :mod:`cosigner.ecdsa.ot.setup`): the extension **receiver** R is
the LOWER party (it holds ``K^0, K^1``), the extension **sender** S is the
HIGHER party (it holds ``Δ`` and ``K^Δ``). One message, R to S::

    R (LOWER, input X)                          S (HIGHER)
    correlated_ot_receiver(setup, sid, X, ...)
    -> T (done)
        -- CorrelatedOtMessage (nonce, U) -->
                                                correlated_ot_sender(setup, sid, msg, ...)
                                                -> Q = T + X·Δ (done)

Steps 1 and 3 are in :func:`correlated_ot_receiver`, steps 2, 5 and 6 in
:func:`correlated_ot_sender`.

**Session ids.** The spec's PRG is parameterized by a session id that must be
unique per execution; that is what lets one setup serve any number of
extensions. Here one call runs ``count`` extensions of ``rows`` OTs each and
extension ``k`` uses the session id ``(sid, nonce, rows, k)``, where ``sid``
is the caller's batch session id and ``nonce`` 16 fresh random bytes chosen
by R and sent with ``U`` (see :func:`cosigner.ecdsa.ot.bits.prg_expand`). The
caller must still make ``sid`` unique per batch; the nonce is defence in
depth, because a repeated PRG stream would show the sender ``X ⊕ X'``, and it
is R, whose choices that would reveal, that picks it.

Matrices are column major, shape ``(count, λ, rows / 8)`` (see
:mod:`cosigner.ecdsa.ot.bits`). The correlated OT has no state between steps:
each side is a single function.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from cosigner.ecdsa.ot import _codec
from cosigner.ecdsa.ot.bits import (
    LAMBDA,
    U8Array,
    bits_to_array,
    key_rows,
    prg_expand,
)
from cosigner.ecdsa.ot.errors import OtParameterError, OtProtocolError
from cosigner.ecdsa.ot.setup import PairSetup
from cosigner.groups import RandomBytes, system_random

NONCE_SIZE: Final = 16
MAX_ROWS: Final = 1 << 16
"""Most OTs in one extension."""
MAX_TOTAL_ROWS: Final = 1 << 21
"""Most OTs in one batch (``count * rows``): bounds a ``U`` message to 32 MiB."""
MAX_SID_SIZE: Final = 1024


def check_batch_shape(rows: int, count: int) -> None:
    """Refuse extension sizes the package does not handle (raises :class:`OtParameterError`)."""
    if not 0 < rows <= MAX_ROWS or rows % LAMBDA:
        raise OtParameterError(f"an extension has a positive multiple of {LAMBDA} rows")
    if count <= 0 or count * rows > MAX_TOTAL_ROWS:
        raise OtParameterError(
            f"a batch has at least one extension and at most {MAX_TOTAL_ROWS} OTs in all"
        )


def check_sid(sid: bytes) -> None:
    if not isinstance(sid, bytes) or len(sid) > MAX_SID_SIZE:
        raise OtParameterError(f"a session id is at most {MAX_SID_SIZE} bytes")


class CorrelatedOtMessage:
    """R to S (spec step 4): ``U = T^0 + T^1 + X`` and R's nonce, for every extension."""

    __slots__ = ("count", "nonce", "rows", "u")

    def __init__(self, nonce: bytes, u: U8Array) -> None:
        count, width, row_bytes = u.shape
        check_batch_shape(row_bytes * 8, count)
        if len(nonce) != NONCE_SIZE or width != LAMBDA or u.dtype != np.uint8:
            raise OtParameterError("malformed correlated OT message contents")
        self.nonce = bytes(nonce)
        self.rows = row_bytes * 8
        self.count = count
        self.u = u

    def to_bytes(self) -> bytes:
        w = _codec.Writer(_codec.TAG_CORRELATED_OT_MESSAGE)
        w.raw(self.nonce)
        w.u32(self.rows)
        w.u32(self.count)
        w.raw(self.u.tobytes())
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> CorrelatedOtMessage:
        r = _codec.Reader(data, _codec.TAG_CORRELATED_OT_MESSAGE, "CorrelatedOtMessage")
        nonce = r.take(NONCE_SIZE, "nonce")
        rows = r.count("rows", LAMBDA, MAX_ROWS)
        if rows % LAMBDA:
            raise r.error(f"rows must be a multiple of {LAMBDA}")
        count = r.count("count", 1, MAX_TOTAL_ROWS // rows)
        u = r.take(count * LAMBDA * rows // 8, "U")
        r.done()
        array = np.frombuffer(u, dtype=np.uint8).reshape(count, LAMBDA, rows // 8)
        return cls(nonce, array)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CorrelatedOtMessage):
            return NotImplemented
        return self.nonce == other.nonce and np.array_equal(self.u, other.u)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CorrelatedOtMessage(count={self.count}, rows={self.rows})"


def choice_columns(choices: bytes, rows: int, count: int) -> U8Array:
    """``X_ij = b_i 1_j`` in column-major form: every column of extension k is its choice bits.

    ``choices`` holds ``count * rows / 8`` bytes; extension ``k`` owns bytes
    ``[k * rows / 8, (k + 1) * rows / 8)``. The result broadcasts over the
    λ columns, shape ``(count, 1, rows / 8)``.
    """
    return np.frombuffer(choices, dtype=np.uint8).reshape(count, 1, rows // 8)


def correlated_ot_receiver(
    setup: PairSetup,
    sid: bytes,
    x: U8Array,
    rows: int,
    count: int,
    rng: RandomBytes = system_random,
) -> tuple[U8Array, CorrelatedOtMessage]:
    """R (LOWER): spec steps 1, 3 and 4. Returns ``T = T^0`` and the message for S.

    ``x`` is R's input matrix in column-major form, any array that
    broadcasts to ``(count, λ, rows / 8)`` (``(count, 1, rows / 8)`` for a
    random OT, see :func:`choice_columns`).
    """
    check_batch_shape(rows, count)
    check_sid(sid)
    nonce = rng(NONCE_SIZE)
    t0 = prg_expand(key_rows(setup.k0), sid, nonce, rows, count)
    t1 = prg_expand(key_rows(setup.k1), sid, nonce, rows, count)
    u = t0 ^ t1
    u ^= x
    return t0, CorrelatedOtMessage(nonce, u)


def delta_mask(delta: bytes) -> U8Array:
    """``0xff`` for each set bit of Δ, ``0`` otherwise, shaped to broadcast over columns."""
    return (bits_to_array(delta, LAMBDA) * np.uint8(0xFF)).reshape(1, LAMBDA, 1)


def correlated_ot_sender(
    setup: PairSetup, sid: bytes, message: CorrelatedOtMessage, rows: int, count: int
) -> U8Array:
    """S (HIGHER): spec steps 2, 5 and 6. Returns ``Q = Δ·U + T^Δ = T + X·Δ``.

    ``rows`` and ``count`` are what S expects; a message of another shape is
    refused with :class:`OtProtocolError`.
    """
    check_batch_shape(rows, count)
    check_sid(sid)
    if message.rows != rows or message.count != count:
        raise OtProtocolError(
            f"expected {count} extensions of {rows} OTs, "
            f"the peer sent {message.count} of {message.rows}"
        )
    q = prg_expand(key_rows(setup.k_delta), sid, message.nonce, rows, count)
    q ^= message.u & delta_mask(setup.delta)
    return q


__all__ = [
    "MAX_ROWS",
    "MAX_TOTAL_ROWS",
    "NONCE_SIZE",
    "CorrelatedOtMessage",
    "choice_columns",
    "correlated_ot_receiver",
    "correlated_ot_sender",
]
