"""Share refresh: new shares of the same group key, with a dealer or by DKG.

Not part of RFC 9591. Proactive secret sharing after Herzberg, Jarecki,
Krawczyk and Yung ("Proactive Secret Sharing", CRYPTO 1995): every share
``s_j`` becomes ``s_j + g(j)`` for a random polynomial ``g`` with
``g(0) = 0``, so the group secret and key stay the same while old shares stop
combining with new ones. Leaving an identifier out of the refresh removes that
participant: its old share no longer fits the new polynomial. The interface
is the Zcash Foundation's ``frost-core`` (``keys/refresh.rs``):

* Dealer: :func:`compute_refreshing_shares` draws ``g`` and returns one
  :class:`RefreshingShare` per listed participant plus the new
  :class:`PublicKeyPackage`; each participant applies its share with
  :func:`refresh_share`.
* DKG: :func:`refresh_dkg_part1`, :func:`refresh_dkg_part2` and
  :func:`refresh_dkg_shares` are the DKG of :mod:`cosigner.frost.dkg` with
  every constant term forced to zero, so ``g = sum_l g_l``.

The constant term's commitment is the identity, which has no encoding; as in
the Zcash Foundation's code it is never sent. A commitment on the wire holds
``[b_1 G, ..., b_(t-1) G]`` and every receiver puts the identity back in
front itself, which is what guarantees ``g(0) = 0``: no participant, honest or
not, can move the group key.

Where this module deliberately differs from the Zcash Foundation's:

* :func:`refresh_share` updates the key package's ``verifying_share`` to
  the new ``s_j * G`` (ZF keeps the stale old value) and refuses a refreshing
  share addressed to another identifier.
* :func:`refresh_dkg_part2` checks the proof of knowledge. ZF's round-one
  proof is computed as in the DKG but over the zero constant term, with the
  first *sent* element ``b_1 G`` in the challenge: ``mu = k``. The statement
  it proves is about the (implicit) identity commitment, so the sound check is
  ``R == mu * G - c * identity``, i.e. ``R == mu * G``; that is what is
  verified, so ZF's proofs pass here and ours pass there. It proves nothing
  beyond well-formedness, and nothing more is needed: the PoK in the DKG stops
  rogue-key choices of the constant term, which here is fixed to zero by the
  receiver, and each participant's higher coefficients are pinned by the
  Feldman check of the shares it sends.
* :func:`refresh_dkg_part2` refuses this participant's own package, and
  :func:`refresh_dkg_shares` names the culprit of a bad share and checks that
  the old key package belongs to the old public key package.
* ``post_dkg`` is not applied, as in ZF: for ``secp256k1-tr`` the old key
  is already tweaked, and adding shares of zero keeps it consistent.
"""

from __future__ import annotations

from collections.abc import Sequence

from cosigner.frost.ciphersuite import Ciphersuite
from cosigner.frost.dkg import (
    Round1Package,
    Round2Package,
    Round2SecretPackageBase,
    SecretPackageBase,
    compute_proof_of_knowledge,
    round1_packages_for,
    round2_inputs_for,
    sum_received_shares,
    verify_proof_of_knowledge,
)
from cosigner.frost.errors import (
    CiphersuiteMismatch,
    InvalidDkgState,
    InvalidParameters,
    InvalidSecretShare,
    UnknownIdentifier,
)
from cosigner.frost.identifier import Identifier, IdMapping, normalize_identifiers
from cosigner.frost.keys import (
    KeyPackage,
    PublicKeyPackage,
    evaluate_polynomial,
    evaluate_vss,
    generate_coefficients,
    validate_num_of_signers,
    vss_commit,
)
from cosigner.frost.serialization import (
    ELEMENT,
    IDENTIFIER,
    SCALAR,
    U16,
    ListOf,
    SecretSerializable,
)
from cosigner.groups import Element, RandomBytes, system_random


def _with_zero_constant(suite: Ciphersuite, commitment: Sequence[Element]) -> list[Element]:
    """The full commitment of a zero-constant polynomial: the identity, then the sent ones."""
    return [suite.group.identity, *commitment]


def _zero_constant_value(suite: Ciphersuite, coefficients: Sequence[int], x: int) -> int:
    """``g(x) = b_1 x + ... + b_(t-1) x^(t-1)`` from the non-constant coefficients."""
    return evaluate_polynomial(suite, [0, *coefficients], x)


def _commitment_elements(
    suite: Ciphersuite, commitment: Sequence[Element], count: int
) -> tuple[Element, ...]:
    out = tuple(commitment)
    if len(out) != count:
        raise InvalidParameters(f"expected {count} commitment elements, got {len(out)}")
    for e in out:
        if not isinstance(e, Element) or e.group is not suite.group or e.is_identity:
            raise InvalidParameters(
                f"a commitment must hold non-identity {suite.group.name} elements"
            )
    return out


# -- trusted dealer ----------------------------------------------------------------------


class RefreshingShare(SecretSerializable):
    """What a refreshing dealer sends one participant: ``g(j)`` and ``[b_1 G, ...]``."""

    TYPE_TAG = 11
    TYPE_NAME = "refreshing_share"
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
        self.suite = suite
        self.identifier = Identifier.for_suite(suite, identifier)
        self.signing_share = signing_share % suite.group.order
        self.commitment = tuple(commitment)
        if not self.commitment:
            raise InvalidParameters("a refreshing commitment has at least one element")
        _commitment_elements(suite, self.commitment, len(self.commitment))

    def verify(self) -> Element:
        """``g(j) * G == sum_k C[k] * j^k`` with ``C[0]`` the identity; returns ``g(j) * G``."""
        image = self.suite.group.base_mul(self.signing_share)
        full = _with_zero_constant(self.suite, self.commitment)
        if evaluate_vss(self.suite, full, self.identifier) != image:
            raise InvalidSecretShare("the refreshing share does not match the dealer's commitment")
        return image

    def __repr__(self) -> str:
        return f"RefreshingShare({self.suite.name}, identifier={int(self.identifier)}, <redacted>)"


def compute_refreshing_shares(
    public_key_package: PublicKeyPackage,
    identifiers: Sequence[int],
    rng: RandomBytes = system_random,
) -> tuple[dict[Identifier, RefreshingShare], PublicKeyPackage]:
    """The dealer's side: a refreshing share for each listed participant and the new public package.

    ``identifiers`` must be a subset of the package's participants, at least
    ``min_signers`` of them; those left out are removed from the group. The
    threshold stays ``public_key_package.min_signers``.
    """
    suite = public_key_package.suite
    min_signers = public_key_package.min_signers
    if min_signers is None:
        raise InvalidParameters(
            "the public key package does not record min_signers; set it to the group's threshold"
        )
    ids = normalize_identifiers(suite, identifiers)
    validate_num_of_signers(min_signers, len(ids))
    unknown = [int(i) for i in ids if i not in public_key_package.verifying_shares]
    if unknown:
        raise UnknownIdentifier(f"participants {unknown} are not in the public key package")
    coefficients = generate_coefficients(suite, min_signers - 1, rng)
    commitment = vss_commit(suite, coefficients)
    shares: dict[Identifier, RefreshingShare] = {}
    verifying_shares: dict[Identifier, Element] = {}
    for ident in ids:
        value = _zero_constant_value(suite, coefficients, ident)
        shares[ident] = RefreshingShare(suite, ident, value, commitment)
        verifying_shares[ident] = public_key_package.verifying_shares[ident] + suite.group.base_mul(
            value
        )
    del coefficients
    refreshed = PublicKeyPackage(
        suite, verifying_shares, public_key_package.verifying_key, min_signers
    )
    return shares, refreshed


def refresh_share(refreshing_share: RefreshingShare, current_key_package: KeyPackage) -> KeyPackage:
    """A participant's side: verify the refreshing share and add it to the current share."""
    suite = current_key_package.suite
    if refreshing_share.suite is not suite:
        raise CiphersuiteMismatch("the refreshing share is for another ciphersuite")
    if refreshing_share.identifier != current_key_package.identifier:
        raise InvalidParameters(
            f"this refreshing share is for participant {int(refreshing_share.identifier)}, "
            f"not {int(current_key_package.identifier)}"
        )
    if len(refreshing_share.commitment) + 1 != current_key_package.min_signers:
        raise InvalidParameters(
            f"the refreshing share is for threshold {len(refreshing_share.commitment) + 1}, "
            f"the key package's is {current_key_package.min_signers}"
        )
    image = refreshing_share.verify()
    return KeyPackage._trusted(
        suite,
        current_key_package.identifier,
        current_key_package.signing_share + refreshing_share.signing_share,
        current_key_package.verifying_share + image,
        current_key_package.verifying_key,
        current_key_package.min_signers,
    )


# -- DKG ------------------------------------------------------------------------------


class RefreshRound1SecretPackage(SecretPackageBase):
    """What a participant keeps between refresh parts one and two: ``b_1 .. b_(t-1)``."""

    TYPE_TAG = 12
    TYPE_NAME = "refresh_round1_secret_package"
    FIELDS = (
        ("identifier", IDENTIFIER),
        ("coefficients", ListOf(SCALAR)),
        ("min_signers", U16),
        ("max_signers", U16),
    )
    __slots__ = (
        "coefficients",
        "commitment",
        "identifier",
        "max_signers",
        "min_signers",
        "suite",
    )

    def __init__(
        self,
        suite: Ciphersuite,
        identifier: int,
        coefficients: Sequence[int],
        min_signers: int,
        max_signers: int,
    ) -> None:
        """``coefficients`` are the ``min_signers - 1`` non-constant ones (the constant is 0)."""
        validate_num_of_signers(min_signers, max_signers)
        q = suite.group.order
        coeffs = tuple(c % q for c in coefficients)
        if len(coeffs) != min_signers - 1:
            raise InvalidParameters(f"expected {min_signers - 1} coefficients, got {len(coeffs)}")
        if any(c == 0 for c in coeffs):
            raise InvalidParameters("refreshing coefficients must be non-zero")
        self.suite = suite
        self.identifier = Identifier.for_suite(suite, identifier)
        self.coefficients = coeffs
        self.commitment = vss_commit(suite, coeffs)
        self.min_signers = min_signers
        self.max_signers = max_signers


class RefreshRound2SecretPackage(Round2SecretPackageBase):
    """What a participant keeps between refresh parts two and three: ``g_i(i)``, commitment."""

    TYPE_TAG = 13
    TYPE_NAME = "refresh_round2_secret_package"
    __slots__ = ()

    @staticmethod
    def _checked_commitment(
        suite: Ciphersuite, commitment: Sequence[Element], min_signers: int
    ) -> tuple[Element, ...]:
        return _commitment_elements(suite, commitment, min_signers - 1)

    @staticmethod
    def _full_commitment(suite: Ciphersuite, commitment: Sequence[Element]) -> Sequence[Element]:
        return _with_zero_constant(suite, commitment)


_SENT = "sent {} refresh commitments"


def refresh_dkg_part1(
    suite: Ciphersuite | str,
    identifier: int,
    max_signers: int,
    min_signers: int,
    rng: RandomBytes = system_random,
) -> tuple[RefreshRound1SecretPackage, Round1Package]:
    """Refresh round one: a zero-constant polynomial, its commitment (identity left out) and PoK.

    ``max_signers`` is the number of participants in this refresh (fewer than
    before removes the others); ``min_signers`` must be the group's threshold.
    """
    from cosigner.frost.ciphersuite import ciphersuite

    suite = ciphersuite(suite) if isinstance(suite, str) else suite
    validate_num_of_signers(min_signers, max_signers)
    ident = Identifier.for_suite(suite, identifier)
    coefficients = generate_coefficients(suite, min_signers - 1, rng)
    secret = RefreshRound1SecretPackage(suite, ident, coefficients, min_signers, max_signers)
    # ZF's proof: the zero constant term, with the first sent element in the challenge.
    proof = compute_proof_of_knowledge(suite, ident, 0, secret.commitment[0], rng)
    return secret, Round1Package(suite, secret.commitment, proof)


def refresh_dkg_part2(
    secret_package: RefreshRound1SecretPackage, round1_packages: IdMapping[Round1Package]
) -> tuple[RefreshRound2SecretPackage, dict[Identifier, Round2Package]]:
    """Refresh round two: check the others' packages, then send each ``l`` the share ``g_i(l)``."""
    suite = secret_package.suite
    own = secret_package.identifier
    packages = round1_packages_for(
        secret_package, round1_packages, secret_package.min_signers - 1, _SENT
    )
    identity = suite.group.identity
    outgoing: dict[Identifier, Round2Package] = {}
    for ident, package in packages.items():
        verify_proof_of_knowledge(
            suite, ident, package.commitment[0], package.proof_of_knowledge, proven_key=identity
        )
        outgoing[ident] = Round2Package(
            suite, _zero_constant_value(suite, secret_package.coefficients, ident)
        )
    round2_secret = RefreshRound2SecretPackage(
        suite,
        own,
        secret_package.commitment,
        _zero_constant_value(suite, secret_package.coefficients, own),
        secret_package.min_signers,
        secret_package.max_signers,
    )
    return round2_secret, outgoing


def refresh_dkg_shares(
    round2_secret_package: RefreshRound2SecretPackage,
    round1_packages: IdMapping[Round1Package],
    round2_packages: IdMapping[Round2Package],
    old_public_key_package: PublicKeyPackage,
    old_key_package: KeyPackage,
) -> tuple[KeyPackage, PublicKeyPackage]:
    """Refresh round three: verify the received shares and add them to the old key material.

    Returns the refreshed :class:`KeyPackage` and the new
    :class:`PublicKeyPackage` (same group key; only this refresh's
    participants).
    """
    secret = round2_secret_package
    suite = secret.suite
    own = secret.identifier
    if old_key_package.suite is not suite or old_public_key_package.suite is not suite:
        raise CiphersuiteMismatch("the old key packages are for another ciphersuite")
    if secret.min_signers != old_key_package.min_signers:
        raise InvalidParameters(
            f"the refresh is for threshold {secret.min_signers}, "
            f"the key package's is {old_key_package.min_signers}; a refresh cannot change it"
        )
    if old_key_package.identifier != own:
        raise InvalidParameters(
            f"the old key package is participant {int(old_key_package.identifier)}'s, not {own}'s"
        )
    if (
        old_key_package.verifying_key != old_public_key_package.verifying_key
        or old_public_key_package.verifying_shares.get(own) != old_key_package.verifying_share
    ):
        raise InvalidParameters("the old key package does not belong to the old public key package")
    r1, r2 = round2_inputs_for(
        secret, round1_packages, round2_packages, secret.min_signers - 1, _SENT
    )
    commitments: dict[Identifier, list[Element]] = {
        own: _with_zero_constant(suite, secret.commitment)
    }
    for ident, package in r1.items():
        commitments[ident] = _with_zero_constant(suite, package.commitment)
    delta = sum_received_shares(suite, own, secret.secret_share, r2, commitments)
    q = suite.group.order
    signing_share = (old_key_package.signing_share + delta) % q
    verifying_share = suite.group.base_mul(signing_share)

    group = suite.group
    summed = [group.sum(c[k] for c in commitments.values()) for k in range(secret.min_signers)]
    verifying_shares: dict[Identifier, Element] = {}
    for ident in sorted(commitments):
        old = old_public_key_package.verifying_shares.get(ident)
        if old is None:
            raise UnknownIdentifier(
                f"participant {int(ident)} is not in the old public key package"
            )
        verifying_shares[ident] = old + evaluate_vss(suite, summed, ident)
    public = PublicKeyPackage(
        suite, verifying_shares, old_public_key_package.verifying_key, secret.min_signers
    )
    if verifying_shares[own] != verifying_share:  # pragma: no cover - implied by the checks
        raise InvalidDkgState("the refreshed verifying share disagrees with the commitments")
    key_package = KeyPackage._trusted(
        suite,
        own,
        signing_share,
        verifying_share,
        old_key_package.verifying_key,
        secret.min_signers,
    )
    return key_package, public
