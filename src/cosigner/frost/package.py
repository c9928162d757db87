"""The signing package and what every signer derives from it (RFC 9591 Section 4).

A :class:`SigningPackage` fixes the signer set, their round-one commitments
and the message. From it and the group's verifying key come, per Section 4:

* 4.3 ``encode_group_commitment_list``;
* 4.4 ``compute_binding_factors`` (``rho_input = SerializeElement(PK) ||
  H4(msg) || H5(encoded commitments) || SerializeScalar(id)``);
* 4.5 ``compute_group_commitment``;
* 4.6 ``compute_challenge``;
* 4.2 ``derive_interpolating_value`` for each signer.

These are computed once per verifying key and cached on the package, so a
coordinator that also signs, or that verifies shares before aggregating,
does not redo the multiplications.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cosigner.frost.ciphersuite import Ciphersuite
from cosigner.frost.errors import CiphersuiteMismatch, InvalidSigningPackage
from cosigner.frost.identifier import Identifier, IdMapping
from cosigner.frost.keys import compute_lagrange_coefficient
from cosigner.frost.round1 import SigningCommitments
from cosigner.frost.serialization import BYTES, IdMap, Nested, PublicSerializable
from cosigner.groups import Element


@dataclass(frozen=True, slots=True)
class SigningData:
    """What round two, share verification and aggregation all need, computed once."""

    verifying_key: Element
    binding_factors: dict[Identifier, int]
    commitment_shares: dict[Identifier, Element]
    group_commitment: Element
    challenge: int
    lagrange: dict[Identifier, int]


class SigningPackage(PublicSerializable):
    """The commitments of every chosen signer and the message they sign."""

    TYPE_TAG = 5
    TYPE_NAME = "signing_package"
    FIELDS = (("commitments", IdMap(Nested(SigningCommitments))), ("message", BYTES))
    __slots__ = ("_cache", "commitments", "message", "suite")

    def __init__(
        self,
        suite: Ciphersuite | str,
        commitments: IdMapping[SigningCommitments],
        message: bytes,
    ) -> None:
        from cosigner.frost.ciphersuite import ciphersuite

        suite = ciphersuite(suite) if isinstance(suite, str) else suite
        if not isinstance(message, bytes | bytearray):
            raise InvalidSigningPackage("the message must be bytes")
        if not isinstance(commitments, Mapping) or not commitments:
            raise InvalidSigningPackage("a signing package needs at least one signer's commitments")
        normalized: dict[Identifier, SigningCommitments] = {}
        for ident, c in commitments.items():
            i = Identifier.for_suite(suite, ident)
            if not isinstance(c, SigningCommitments):
                raise InvalidSigningPackage(f"commitments of {int(i)} are not SigningCommitments")
            if c.suite is not suite:
                raise CiphersuiteMismatch(
                    f"commitments of {int(i)} are for {c.suite.name}, not {suite.name}"
                )
            if c.hiding.is_identity or c.binding.is_identity:
                raise InvalidSigningPackage(
                    f"signer {int(i)} committed to the identity element; refusing to sign"
                )
            normalized[i] = c
        self.suite = suite
        self.commitments: dict[Identifier, SigningCommitments] = dict(sorted(normalized.items()))
        self.message = bytes(message)
        self._cache: dict[bytes, SigningData] = {}

    @property
    def identifiers(self) -> list[Identifier]:
        return list(self.commitments)

    def encode_group_commitment_list(self) -> bytes:
        """RFC 9591 Section 4.3, identifiers in ascending numeric order."""
        s = self.suite
        return b"".join(
            s.encode_scalar(i) + s.encode_element(c.hiding) + s.encode_element(c.binding)
            for i, c in self.commitments.items()
        )

    def binding_factor_inputs(self, verifying_key: Element) -> dict[Identifier, bytes]:
        s = self.suite
        prefix = (
            s.encode_element(verifying_key)
            + s.H4(self.message)
            + s.H5(self.encode_group_commitment_list())
        )
        return {i: prefix + s.encode_scalar(i) for i in self.commitments}

    def signing_data(self, verifying_key: Element) -> SigningData:
        """Binding factors, group commitment, challenge and Lagrange coefficients for this key."""
        key = verifying_key.to_bytes()
        data = self._cache.get(key)
        if data is None:
            data = self._compute(verifying_key)
            self._cache[key] = data
        return data

    def _compute(self, verifying_key: Element) -> SigningData:
        s = self.suite
        group = s.group
        binding_factors = {i: s.H1(m) for i, m in self.binding_factor_inputs(verifying_key).items()}
        shares = {i: c.hiding + c.binding * binding_factors[i] for i, c in self.commitments.items()}
        group_commitment = group.sum(shares.values())
        if group_commitment.is_identity:
            raise InvalidSigningPackage("the group commitment is the identity element")
        challenge = s.challenge(group_commitment, verifying_key, self.message)
        ids = list(self.commitments)
        lagrange = {i: compute_lagrange_coefficient(s, ids, i) for i in ids}
        return SigningData(
            verifying_key, binding_factors, shares, group_commitment, challenge, lagrange
        )

    def __repr__(self) -> str:
        return (
            f"SigningPackage({self.suite.name}, signers={[int(i) for i in self.commitments]}, "
            f"message={len(self.message)} bytes)"
        )
