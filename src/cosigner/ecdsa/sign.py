"""Signing: one round in which each party sends its share and the coordinator combines.

Follows docs/ecdsa/ot_based_ecdsa/signing.md, "Signing", with presignature
``(R, k_i, sigma_i)`` where ``R = k^-1 * G`` and ``sigma = k * x``:

Rerandomization (when ``entropy`` is given)
    ``delta = HKDF(X, tweak, h, R, P2, rho)``; ``R <- delta * R``,
    ``sigma_i <- (sigma_i + tweak * k_i) / delta``, ``k_i <- k_i / delta``
    (the tweak is always 0 here: no key derivation)
Round 1 (message round 0)
    1.1-1.2 linearize ``k_i`` and ``sigma_i`` with ``lambda(P2)_i``
    1.3 ``s_i = h * k_i + R_x * sigma_i``
    1.4 send ``s_i`` privately to the coordinator
Coordinator
    1.5-1.6 ``s = sum s_j``; 1.7 low-s: ``s <- -s`` if ``s > n / 2``;
    1.8 assert that ``(R, s)`` verifies for ``h`` under ``X``

The output (coordinator only; the others get ``None``) is a
:class:`~cosigner.ecdsa.types.Signature`: ``r = R_x mod n``, the low ``s``
and the recovery id (bit 0 the parity of the y coordinate of the point the
signature commits to, bit 1 set when ``R_x >= n``), which Ethereum's
``ecrecover`` and ``coincurve`` accept as is.

A presignature is bound to its participant set: signing refuses it with any
other set (``P2 = P1`` here, stricter than the specification's subset, so
no group of parties can use a presignature that others also hold), and the
session consumes it when it is constructed.

HKDF of the rerandomization: HKDF-SHA3-256 with near/threshold-signatures'
salt, the entropy as input key material and, as info, a counter byte then
``X || tweak || h || R || participant ids (u32 each)``; a result that is zero
or not below ``n`` moves to the next counter.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from cosigner.ecdsa import math
from cosigner.ecdsa.errors import (
    InvalidDigestError,
    PresignatureMismatchError,
    SignatureCheckFailedError,
)
from cosigner.ecdsa.math import G, N
from cosigner.ecdsa.types import (
    Presignature,
    Signature,
    recovery_id_for,
    verify_ecdsa,
    x_coordinate,
)
from cosigner.groups import Element, RandomBytes, system_random
from cosigner.protocol.base import PRIVATE, Key, Outgoing, Protocol, to_one
from cosigner.protocol.codec import PayloadReader
from cosigner.protocol.errors import InvalidParametersError

RERANDOMIZATION_SALT = bytes.fromhex(
    "328a47c2b8794445255c1647608df5db85c68bb0e7170abec534df2764a45831"
)


def _hkdf_sha3(salt: bytes, ikm: bytes, info: bytes) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha3_256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha3_256).digest()


def rerandomization_delta(
    public_key: bytes,
    digest: bytes,
    big_r: Element,
    participants: Iterable[int],
    entropy: bytes,
    tweak: int = 0,
) -> int:
    """``delta = HKDF(X, tweak, h, R, participants, rho)``, a non-zero scalar."""
    body = (
        public_key
        + tweak.to_bytes(32, "big")
        + digest
        + big_r.to_bytes()
        + b"".join(p.to_bytes(4, "big") for p in participants)
    )
    counter = 0
    while True:
        okm = _hkdf_sha3(RERANDOMIZATION_SALT, entropy, bytes([counter]) + body)
        delta = int.from_bytes(okm, "big")
        if 0 < delta < N:
            return delta
        counter += 1


def check_digest(digest: bytes) -> None:
    if not isinstance(digest, bytes) or len(digest) != 32:
        raise InvalidDigestError("the message digest must be exactly 32 bytes")


class Sign(Protocol):
    """One participant's signing session; see the module docstring."""

    NAME = "ecdsa/sign"
    STATE_FIELDS = ("coordinator", "public_key", "digest", "big_r", "s_i")

    coordinator: int
    public_key: bytes
    digest: bytes
    big_r: Element
    s_i: int

    def __init__(
        self,
        *,
        session_id: bytes,
        presignature: Presignature,
        digest: bytes,
        coordinator: int,
        participants: Iterable[int] | None = None,
        public_key: bytes | None = None,
        entropy: bytes | None = None,
        rng: RandomBytes = system_random,
    ) -> None:
        signers = presignature.participants if participants is None else participants
        super().__init__(
            session_id=session_id, me=presignature.participant_id, participants=signers, rng=rng
        )
        check_digest(digest)
        if self.participants != presignature.participants:
            raise PresignatureMismatchError(
                f"this presignature was made by participants {list(presignature.participants)} "
                f"and can only be used by exactly them, not {list(self.participants)}"
            )
        if public_key is not None and public_key != presignature.public_key:
            raise PresignatureMismatchError("this presignature was made for another key")
        if coordinator not in self.participants:
            raise InvalidParametersError(f"coordinator {coordinator} is not a participant")
        if entropy is not None and (not isinstance(entropy, bytes) or len(entropy) != 32):
            raise InvalidParametersError("rerandomization entropy is 32 bytes")
        presignature.consume()
        big_r, k, sigma = presignature.big_r, presignature.k, presignature.sigma
        if entropy is not None:
            delta = rerandomization_delta(
                presignature.public_key, digest, big_r, self.participants, entropy
            )
            delta_inv = pow(delta, -1, N)
            big_r = big_r * delta
            sigma = sigma * delta_inv % N
            k = k * delta_inv % N
        # 1.1-1.3
        lam = math.lagrange(self.participants, self.me)
        h = math.scalar_from_digest(digest)
        r = x_coordinate(big_r) % N
        self.s_i = lam * (h * k + r * sigma) % N
        self.coordinator = coordinator
        self.public_key = presignature.public_key
        self.digest = digest
        self.big_r = big_r

    def _expected(self, round: int) -> Iterable[Key]:
        if round == 0 and self.me == self.coordinator:
            return [(p, PRIVATE) for p in self.others]
        return ()

    def _start(self) -> list[Outgoing]:
        if self.me == self.coordinator:
            return []
        # 1.4
        return [to_one(self.coordinator, self.s_i.to_bytes(32, "big"))]

    def _decode(self, round: int, sender: int, channel: int, payload: bytes) -> Any:
        r = PayloadReader(payload, f"{self.NAME} signature share")
        s_j = r.scalar()
        r.finish()
        return s_j

    def _finish_round(self, round: int, messages: Mapping[Key, Any]) -> list[Outgoing]:
        if self.me != self.coordinator:
            self._finish(None)
            return []
        # 1.5-1.6
        s = (self.s_i + sum(self._by_sender(messages, PRIVATE).values())) % N
        r = x_coordinate(self.big_r) % N
        # 1.7
        negated = math.is_high(s)
        if negated:
            s = N - s
        # 1.8
        if (
            s == 0
            or r == 0
            or not verify_ecdsa(G.decode_element(self.public_key), self.digest, r, s)
        ):
            raise SignatureCheckFailedError(
                "the combined signature does not verify: a participant sent a wrong signature "
                "share or used another presignature"
            )
        self._finish(Signature(r, s, recovery_id_for(self.big_r, negated)))
        return []


__all__ = ["Sign", "check_digest", "rerandomization_delta"]
