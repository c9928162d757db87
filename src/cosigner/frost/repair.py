"""Share repair: the Repairable Threshold Scheme (RTS).

Not part of RFC 9591. This is the RTS of Laing and Stinson, "A Survey and
Refinement of Repairable Threshold Schemes" (eprint 2017/1155),
with the interface of the Zcash Foundation's ``frost-core``
(``keys/repairable.rs``, 3.0 names): a participant ``r`` who lost its share
gets it back from a set of at least ``min_signers`` helpers, and no helper
learns it.

1. :func:`repair_share_part1`: helper ``i`` computes
   ``zeta_i = prod_{j != i} (r - x_j) / (x_i - x_j)`` over the helper set (the
   Lagrange coefficient of ``i`` evaluated at ``r``) and splits
   ``zeta_i * s_i`` into one random :class:`Delta` per helper (the first
   helpers in ascending id order get random values, the largest id gets the
   remainder). Each delta goes to its helper over a confidential channel.
2. :func:`repair_share_part2`: helper ``j`` sums the deltas it received (its
   own included) into a :class:`Sigma` and sends it to ``r``.
3. :func:`repair_share_part3`: ``r`` sums the sigmas,
   ``s_r = sum_i zeta_i s_i``, and builds its :class:`KeyPackage`.

Beyond the Zcash Foundation's checks, part 1 refuses a participant that is
itself one of the helpers, and part 3 refuses fewer sigmas than the threshold
and checks the repaired share against the verifying share the public key
package lists for ``r`` (when it lists one), so a helper that sent a wrong
value is caught instead of yielding a silently broken key package.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cosigner.frost.ciphersuite import Ciphersuite
from cosigner.frost.errors import (
    CiphersuiteMismatch,
    InvalidParameters,
    InvalidSecretShare,
    UnknownIdentifier,
)
from cosigner.frost.identifier import Identifier, normalize_identifiers
from cosigner.frost.keys import (
    KeyPackage,
    PublicKeyPackage,
    compute_lagrange_coefficient,
    generate_coefficients,
)
from cosigner.frost.serialization import SCALAR, SecretSerializable
from cosigner.groups import RandomBytes


class _RepairScalar(SecretSerializable):
    """A secret scalar exchanged during repair; never printed, compared in constant time."""

    FIELDS = (("value", SCALAR),)
    __slots__ = ("suite", "value")

    def __init__(self, suite: Ciphersuite, value: int) -> None:
        self.suite = suite
        self.value = value % suite.group.order

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.suite.name}, <redacted>)"


class Delta(_RepairScalar):
    """What helper ``i`` sends helper ``j`` in part one: one additive piece of ``zeta_i s_i``."""

    TYPE_TAG = 14
    TYPE_NAME = "repair_delta"
    __slots__ = ()


class Sigma(_RepairScalar):
    """What helper ``j`` sends the participant in part two: the sum of its deltas."""

    TYPE_TAG = 15
    TYPE_NAME = "repair_sigma"
    __slots__ = ()


def repair_share_part1(
    helpers: Sequence[int],
    key_package: KeyPackage,
    rng: RandomBytes,
    participant: int,
) -> dict[Identifier, Delta]:
    """Part one, run by each helper: the deltas to send to every helper (itself included).

    ``helpers`` are the identifiers of all helpers (at least ``min_signers``,
    the caller's own among them); ``participant`` is the one repairing its
    share. Returns the deltas keyed by the helper each must be sent to.
    """
    suite = key_package.suite
    ids = normalize_identifiers(suite, helpers)
    target = Identifier.for_suite(suite, participant)
    if len(ids) < key_package.min_signers:
        raise InvalidParameters(
            f"{len(ids)} helpers; at least min_signers = {key_package.min_signers} are needed"
        )
    own = key_package.identifier
    if own not in ids:
        raise UnknownIdentifier(f"helper {int(own)} is not in the helper set")
    if target in ids:
        raise InvalidParameters(f"participant {int(target)} cannot help repair its own share")
    ordered = sorted(ids)
    q = suite.group.order
    zeta = compute_lagrange_coefficient(suite, ordered, own, target)
    randoms = generate_coefficients(suite, len(ordered) - 1, rng)
    deltas = {i: Delta(suite, r) for i, r in zip(ordered[:-1], randoms, strict=True)}
    deltas[ordered[-1]] = Delta(suite, (zeta * key_package.signing_share - sum(randoms)) % q)
    return deltas


def _suite_of(values: Sequence[Delta] | Sequence[Sigma], cls: type, what: str) -> Ciphersuite:
    if not values:
        raise InvalidParameters(f"no {what} values given")
    suite = values[0].suite
    for v in values:
        if not isinstance(v, cls):
            raise InvalidParameters(f"expected {cls.__name__} values, got {type(v).__name__}")
        if v.suite is not suite:
            raise CiphersuiteMismatch(f"the {what} values are for different ciphersuites")
    return suite


def repair_share_part2(deltas: Iterable[Delta]) -> Sigma:
    """Part two, run by each helper: the sum of the deltas it received from every helper."""
    values = list(deltas)
    suite = _suite_of(values, Delta, "delta")
    return Sigma(suite, sum(d.value for d in values))


def repair_share_part3(
    sigmas: Iterable[Sigma], identifier: int, public_key_package: PublicKeyPackage
) -> KeyPackage:
    """Part three, run by the participant: its repaired :class:`KeyPackage`.

    ``public_key_package`` must carry ``min_signers`` and can come from any
    helper. If it lists a verifying share for ``identifier``, the repaired
    share must match it, else :class:`InvalidSecretShare` (which helper sent
    a wrong value cannot be told from the sigmas alone).
    """
    values = list(sigmas)
    suite = _suite_of(values, Sigma, "sigma")
    if public_key_package.suite is not suite:
        raise CiphersuiteMismatch("the public key package is for another ciphersuite")
    min_signers = public_key_package.min_signers
    if min_signers is None:
        raise InvalidParameters(
            "the public key package does not record min_signers; set it to the group's threshold"
        )
    if len(values) < min_signers:
        raise InvalidParameters(f"{len(values)} sigmas; one from each of at least {min_signers}")
    ident = Identifier.for_suite(suite, identifier)
    signing_share = sum(s.value for s in values) % suite.group.order
    verifying_share = suite.group.base_mul(signing_share)
    expected = public_key_package.verifying_shares.get(ident)
    if expected is not None and expected != verifying_share:
        raise InvalidSecretShare(
            f"the repaired share of {int(ident)} does not match its verifying share; "
            "a helper sent a wrong value"
        )
    return KeyPackage._trusted(
        suite,
        ident,
        signing_share,
        verifying_share,
        public_key_package.verifying_key,
        min_signers,
    )
