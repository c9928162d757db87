"""Key material and dealer key generation (RFC 9591 Appendix C).

* :func:`keygen_with_dealer` and :func:`split`: Shamir secret sharing with a
  Feldman VSS commitment (Appendix C.1 ``trusted_dealer_keygen``,
  ``secret_share_shard``, Appendix C.2 ``vss_commit``, ``vss_verify``,
  ``derive_group_info``).
* :class:`SecretShare` is what a dealer sends one participant;
  :meth:`KeyPackage.from_secret_share` verifies it against the commitment.
* :class:`KeyPackage` is one signer's long-lived material;
  :class:`PublicKeyPackage` is what a coordinator needs to aggregate and
  verify.
* :func:`compute_lagrange_coefficient` is Section 4.2
  ``derive_interpolating_value``, generalized to any evaluation point for
  repair.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cosigner.frost.ciphersuite import Ciphersuite
from cosigner.frost.errors import (
    DuplicateIdentifier,
    InvalidParameters,
    InvalidSecretShare,
    UnknownIdentifier,
)
from cosigner.frost.identifier import Identifier, IdMapping, normalize_identifiers
from cosigner.frost.serialization import (
    ELEMENT,
    IDENTIFIER,
    SCALAR,
    U16,
    IdMap,
    ListOf,
    Optional,
    PublicSerializable,
    SecretSerializable,
)
from cosigner.groups import Element, RandomBytes, system_random

MAX_PARTICIPANTS = 65535


def validate_num_of_signers(min_signers: int, max_signers: int) -> None:
    """The Zcash Foundation's checks: 2 <= min_signers <= max_signers <= 65535."""
    if type(min_signers) is not int or type(max_signers) is not int:
        raise InvalidParameters("min_signers and max_signers must be integers")
    if min_signers < 2:
        raise InvalidParameters("min_signers must be at least 2")
    if max_signers < min_signers:
        raise InvalidParameters("max_signers must be at least min_signers")
    if max_signers > MAX_PARTICIPANTS:
        raise InvalidParameters(f"at most {MAX_PARTICIPANTS} participants are supported")


def default_identifiers(suite: Ciphersuite, max_signers: int) -> list[Identifier]:
    return [Identifier.for_suite(suite, i) for i in range(1, max_signers + 1)]


def evaluate_polynomial(suite: Ciphersuite, coefficients: Sequence[int], x: int) -> int:
    """Horner evaluation of ``sum(coefficients[k] * x^k)`` modulo the group order."""
    q = suite.group.order
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % q
    return acc


def evaluate_vss(suite: Ciphersuite, commitment: Sequence[Element], x: int) -> Element:
    """``sum(C_k * x^k)``: the public image of the committed polynomial at ``x``."""
    q = suite.group.order
    pairs = []
    power = 1
    for c in commitment:
        pairs.append((power, c))
        power = power * x % q
    return suite.group.multi_mul(pairs)


def vss_commit(suite: Ciphersuite, coefficients: Sequence[int]) -> tuple[Element, ...]:
    return tuple(suite.group.base_mul(c) for c in coefficients)


def compute_lagrange_coefficient(
    suite: Ciphersuite, identifiers: Iterable[int], identifier: int, x: int = 0
) -> int:
    """The Lagrange coefficient of ``identifier`` over ``identifiers``, evaluated at ``x``."""
    q = suite.group.order
    xs = list(identifiers)
    if len(set(xs)) != len(xs):
        raise DuplicateIdentifier("duplicate identifiers in the signer set")
    if identifier not in xs:
        raise UnknownIdentifier(f"identifier {int(identifier)} is not in the signer set")
    num = 1
    den = 1
    for xj in xs:
        if xj == identifier:
            continue
        num = num * (x - xj) % q
        den = den * (identifier - xj) % q
    return num * pow(den, -1, q) % q


class SecretShare(SecretSerializable):
    """What a dealer sends to one participant: its share and the VSS commitment."""

    TYPE_TAG = 6
    TYPE_NAME = "secret_share"
    FIELDS = (
        ("identifier", IDENTIFIER),
        ("signing_share", SCALAR),
        ("commitment", ListOf(ELEMENT)),
    )
    __slots__ = ("commitment", "identifier", "signing_share", "suite")

    def __init__(
        self,
        suite: Ciphersuite,
        identifier: int,
        signing_share: int,
        commitment: Sequence[Element],
    ) -> None:
        if len(commitment) < 2:
            raise InvalidParameters("a VSS commitment has at least two coefficients")
        self.suite = suite
        self.identifier = Identifier.for_suite(suite, identifier)
        self.signing_share = signing_share % suite.group.order
        self.commitment = tuple(commitment)

    def verify(self) -> tuple[Element, Element]:
        """RFC 9591 Appendix C.2 vss_verify; returns (verifying share, group key)."""
        verifying_share = self.suite.group.base_mul(self.signing_share)
        if evaluate_vss(self.suite, self.commitment, self.identifier) != verifying_share:
            raise InvalidSecretShare(
                "the secret share does not match the dealer's commitment", [self.identifier]
            )
        return verifying_share, self.commitment[0]

    def __repr__(self) -> str:
        return f"SecretShare({self.suite.name}, identifier={int(self.identifier)}, <redacted>)"


class KeyPackage(SecretSerializable):
    """One signer's key material: its secret share and the public values it signs for."""

    TYPE_TAG = 1
    TYPE_NAME = "key_package"
    FIELDS = (
        ("identifier", IDENTIFIER),
        ("signing_share", SCALAR),
        ("verifying_share", ELEMENT),
        ("verifying_key", ELEMENT),
        ("min_signers", U16),
    )
    __slots__ = (
        "identifier",
        "min_signers",
        "signing_share",
        "suite",
        "verifying_key",
        "verifying_share",
    )

    def __init__(
        self,
        suite: Ciphersuite,
        identifier: int,
        signing_share: int,
        verifying_share: Element,
        verifying_key: Element,
        min_signers: int,
    ) -> None:
        if type(min_signers) is not int or min_signers < 1:
            raise InvalidParameters("min_signers must be a positive integer")
        self.suite = suite
        self.identifier = Identifier.for_suite(suite, identifier)
        self.signing_share = signing_share % suite.group.order
        self.verifying_share = verifying_share
        self.verifying_key = verifying_key
        self.min_signers = min_signers
        if suite.group.base_mul(self.signing_share) != verifying_share:
            raise InvalidParameters("the verifying share does not match the signing share")

    @classmethod
    def _trusted(
        cls,
        suite: Ciphersuite,
        identifier: Identifier,
        signing_share: int,
        verifying_share: Element,
        verifying_key: Element,
        min_signers: int,
    ) -> KeyPackage:
        """Build from values this library just derived consistently (skips the share check)."""
        kp = object.__new__(cls)
        kp.suite = suite
        kp.identifier = identifier
        kp.signing_share = signing_share % suite.group.order
        kp.verifying_share = verifying_share
        kp.verifying_key = verifying_key
        kp.min_signers = min_signers
        return kp

    @classmethod
    def from_secret_share(cls, share: SecretShare) -> KeyPackage:
        """Verify a dealer's share against its commitment and build the key package."""
        verifying_share, verifying_key = share.verify()
        return cls(
            share.suite,
            share.identifier,
            share.signing_share,
            verifying_share,
            verifying_key,
            len(share.commitment),
        )

    def __repr__(self) -> str:
        return (
            f"KeyPackage({self.suite.name}, identifier={int(self.identifier)}, "
            f"verifying_key={self.verifying_key.to_bytes().hex()}, "
            f"min_signers={self.min_signers}, signing_share=<redacted>)"
        )


class PublicKeyPackage(PublicSerializable):
    """The group's public key and every participant's verifying share."""

    TYPE_TAG = 2
    TYPE_NAME = "public_key_package"
    FIELDS = (
        ("verifying_shares", IdMap(ELEMENT)),
        ("verifying_key", ELEMENT),
        ("min_signers", Optional(U16)),
    )
    __slots__ = ("min_signers", "suite", "verifying_key", "verifying_shares")

    def __init__(
        self,
        suite: Ciphersuite,
        verifying_shares: IdMapping[Element],
        verifying_key: Element,
        min_signers: int | None = None,
    ) -> None:
        self.suite = suite
        shares = {Identifier.for_suite(suite, i): e for i, e in verifying_shares.items()}
        self.verifying_shares: dict[Identifier, Element] = dict(sorted(shares.items()))
        self.verifying_key = verifying_key
        if min_signers is not None and (type(min_signers) is not int or min_signers < 1):
            raise InvalidParameters("min_signers must be a positive integer")
        self.min_signers = min_signers

    def __repr__(self) -> str:
        return (
            f"PublicKeyPackage({self.suite.name}, verifying_key="
            f"{self.verifying_key.to_bytes().hex()}, participants="
            f"{[int(i) for i in self.verifying_shares]}, min_signers={self.min_signers})"
        )


def generate_coefficients(suite: Ciphersuite, count: int, rng: RandomBytes) -> list[int]:
    return [suite.group.random_scalar(rng) for _ in range(count)]


def split(
    suite: Ciphersuite,
    secret_key: int,
    min_signers: int,
    max_signers: int,
    identifiers: Sequence[int] | None = None,
    rng: RandomBytes = system_random,
    *,
    coefficients: Sequence[int] | None = None,
) -> tuple[dict[Identifier, SecretShare], PublicKeyPackage]:
    """Shamir-split ``secret_key`` (Appendix C.1 ``secret_share_shard`` with ``vss_commit``).

    ``coefficients`` (the ``min_signers - 1`` non-constant coefficients) may be
    given for reproducing test vectors; otherwise they are drawn from ``rng``.
    """
    validate_num_of_signers(min_signers, max_signers)
    q = suite.group.order
    secret_key %= q
    if secret_key == 0:
        raise InvalidParameters("the secret key must be non-zero")
    ids = (
        default_identifiers(suite, max_signers)
        if identifiers is None
        else normalize_identifiers(suite, identifiers)
    )
    if len(ids) != max_signers:
        raise InvalidParameters(f"expected {max_signers} identifiers, got {len(ids)}")
    if coefficients is None:
        coefficients = generate_coefficients(suite, min_signers - 1, rng)
    elif len(coefficients) != min_signers - 1:
        raise InvalidParameters(f"expected {min_signers - 1} coefficients")
    poly = [secret_key, *(c % q for c in coefficients)]
    commitment = vss_commit(suite, poly)
    shares: dict[Identifier, SecretShare] = {}
    verifying_shares: dict[Identifier, Element] = {}
    for ident in ids:
        s = evaluate_polynomial(suite, poly, ident)
        shares[ident] = SecretShare(suite, ident, s, commitment)
        verifying_shares[ident] = suite.group.base_mul(s)
    return shares, PublicKeyPackage(suite, verifying_shares, commitment[0], min_signers)


def keygen_with_dealer(
    suite: Ciphersuite | str,
    min_signers: int,
    max_signers: int,
    identifiers: Sequence[int] | None = None,
    rng: RandomBytes = system_random,
) -> tuple[dict[Identifier, KeyPackage], PublicKeyPackage]:
    """Trusted-dealer key generation (RFC 9591 Appendix C.1) for ``max_signers`` participants.

    Returns each participant's verified :class:`KeyPackage` and the group's
    :class:`PublicKeyPackage`. The group secret exists only inside this call.
    """
    from cosigner.frost.ciphersuite import ciphersuite as _lookup

    suite = _lookup(suite) if isinstance(suite, str) else suite
    secret = suite.group.random_scalar(rng)
    shares, public = split(suite, secret, min_signers, max_signers, identifiers, rng)
    del secret
    key_packages = {i: KeyPackage.from_secret_share(s) for i, s in shares.items()}
    return key_packages, public


def reconstruct(suite: Ciphersuite, key_packages: Iterable[KeyPackage]) -> int:
    """Recover the group secret from at least ``min_signers`` key packages.

    This is the explicit export path: the only place a whole private key exists.
    """
    packages = list(key_packages)
    if not packages:
        raise InvalidParameters("no key packages to reconstruct from")
    min_signers = packages[0].min_signers
    if len(packages) < min_signers:
        raise InvalidParameters(f"at least {min_signers} key packages are needed")
    ids = [p.identifier for p in packages]
    secret = 0
    for p in packages:
        secret += compute_lagrange_coefficient(suite, ids, p.identifier) * p.signing_share
    secret %= suite.group.order
    if suite.group.base_mul(secret) != packages[0].verifying_key:
        raise InvalidParameters("the key packages do not reconstruct the group key")
    return secret
