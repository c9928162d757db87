"""Distributed key generation: Pedersen DKG with proofs of knowledge.

RFC 9591 specifies key generation only with a trusted dealer (Appendix C)
and leaves distributed key generation out of scope. This module follows the
FROST paper (Komlo and Goldberg, eprint 2020/852, Figure 1 "KeyGen") in
exactly the form the Zcash Foundation's ``frost-core`` uses
(``keys/dkg.rs``), so that its ``vectors_dkg.json`` pass and package values
can be exchanged with it:

* :func:`part1` (Round 1, steps 1 to 4): a random polynomial
  ``f_i(x) = a_i0 + a_i1 x + ... + a_i(t-1) x^(t-1)``, its commitment
  ``C_i = [a_i0 G, ..., a_i(t-1) G]`` and a Schnorr proof of knowledge of
  ``a_i0``: ``k`` random, ``R = k G`` (the suite's :meth:`proof_nonce` may
  negate both; Taproot keeps ``R`` even), ``c = HDKG(id || C_i[0] || R)``,
  ``mu = k + a_i0 c``. The :class:`Round1Package` is broadcast.
* :func:`part2` (Round 1 step 5 and Round 2 step 1): verify every other
  participant's proof, naming the culprit, and send each ``l`` its share
  ``f_i(l)`` in a :class:`Round2Package` over a confidential, authenticated
  channel.
* :func:`part3` (Round 2 steps 2 to 4): verify each received share against
  its sender's commitment (Feldman VSS), naming the culprit, and compute
  ``s_i = sum_l f_l(i)``, the verifying shares and the group key
  ``sum_l C_l[0]``; then the ciphersuite's ``post_dkg`` hook (Taproot applies
  the BIP-341 tweak with no script tree).

The protocol assumes the round-one packages reach everyone identically (a
broadcast channel, or an echo round on top of this module) and that the map
keys the caller passes are the authenticated senders.

The checks are ZF's, with typed errors (:class:`InvalidProofOfKnowledge` and
:class:`InvalidSecretShare` name the culprit; package-set mistakes raise
:class:`InvalidDkgState`). A few are added: packages refuse identity
elements, the secret packages check that their commitment matches their
secret when built or decoded, and :func:`part3` re-checks the commitment
lengths it was given.

:func:`keygen_local` runs all three parts for every participant in one
process, for tests, demos and benchmarks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from cosigner.frost.ciphersuite import Ciphersuite
from cosigner.frost.errors import (
    CiphersuiteMismatch,
    InvalidDkgState,
    InvalidParameters,
    InvalidProofOfKnowledge,
    InvalidSecretShare,
)
from cosigner.frost.identifier import Identifier, IdMapping, normalize_identifiers
from cosigner.frost.keys import (
    KeyPackage,
    PublicKeyPackage,
    default_identifiers,
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
    SIGNATURE,
    U16,
    ListOf,
    PublicSerializable,
    SecretSerializable,
    Serializable,
)
from cosigner.groups import Element, RandomBytes, system_random

# -- proof of knowledge ---------------------------------------------------------------


def proof_of_knowledge_challenge(
    suite: Ciphersuite,
    identifier: int,
    verifying_key: Element,
    R: Element,  # noqa: N803
) -> int:
    """``c = HDKG(SerializeScalar(id) || SerializeElement(phi_0) || SerializeElement(R))``."""
    return suite.HDKG(
        suite.encode_scalar(identifier)
        + suite.encode_element(verifying_key)
        + suite.encode_element(R)
    )


def compute_proof_of_knowledge(
    suite: Ciphersuite,
    identifier: int,
    secret: int,
    verifying_key: Element,
    rng: RandomBytes = system_random,
) -> bytes:
    """A Schnorr proof ``(R, mu = k + secret * c)``, in the suite's signature encoding.

    ``verifying_key`` is the element hashed into the challenge; for the DKG it
    is ``secret * G``.
    """
    q = suite.group.order
    k = suite.group.random_scalar(rng)
    k, R = suite.proof_nonce(k, suite.group.base_mul(k))  # noqa: N806
    c = proof_of_knowledge_challenge(suite, identifier, verifying_key, R)
    return suite.serialize_signature(R, (k + secret * c) % q)


def verify_proof_of_knowledge(
    suite: Ciphersuite,
    identifier: Identifier,
    verifying_key: Element,
    proof: bytes,
    *,
    proven_key: Element | None = None,
) -> None:
    """Check ``R == mu * G - c * phi``; raise :class:`InvalidProofOfKnowledge` naming the sender.

    ``c`` hashes ``verifying_key``; ``phi`` is ``proven_key`` when given (the
    refresh protocol hashes one element and proves a statement about another,
    see :mod:`cosigner.frost.refresh`), else ``verifying_key``.
    """
    R, mu = suite.deserialize_signature(proof)  # noqa: N806
    c = proof_of_knowledge_challenge(suite, identifier, verifying_key, R)
    phi = verifying_key if proven_key is None else proven_key
    if suite.group.base_mul(mu) - phi * c != R:
        raise InvalidProofOfKnowledge(
            f"participant {int(identifier)} sent a proof of knowledge that does not verify",
            [identifier],
        )


# -- packages -----------------------------------------------------------------------


def _elements(suite: Ciphersuite, values: Sequence[Element], what: str) -> tuple[Element, ...]:
    out = tuple(values)
    for e in out:
        if not isinstance(e, Element) or e.group is not suite.group:
            raise InvalidParameters(f"{what} must hold {suite.group.name} elements")
        if e.is_identity:
            raise InvalidParameters(f"{what} contains the identity element")
    return out


class SecretPackageBase(SecretSerializable):
    """The fields every DKG and refresh secret package shares: its owner, ``t`` and ``n``.

    Its ``__repr__`` shows those and redacts the rest.
    """

    __slots__ = ()
    identifier: Identifier
    min_signers: int
    max_signers: int

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.suite.name}, identifier={int(self.identifier)}, "
            f"min_signers={self.min_signers}, max_signers={self.max_signers}, <redacted>)"
        )


class Round1SecretPackage(SecretPackageBase):
    """What a participant keeps between :func:`part1` and :func:`part2`: its polynomial."""

    TYPE_TAG = 8
    TYPE_NAME = "dkg_round1_secret_package"
    FIELDS = (
        ("identifier", IDENTIFIER),
        ("coefficients", ListOf(SCALAR)),
        ("commitment", ListOf(ELEMENT)),
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
        commitment: Sequence[Element] | None,
        min_signers: int,
        max_signers: int,
    ) -> None:
        """``commitment`` is computed from ``coefficients`` when None, else checked against them."""
        validate_num_of_signers(min_signers, max_signers)
        q = suite.group.order
        coeffs = tuple(c % q for c in coefficients)
        if len(coeffs) != min_signers:
            raise InvalidParameters(f"expected {min_signers} coefficients, got {len(coeffs)}")
        if coeffs[0] == 0:
            raise InvalidParameters("the constant coefficient (the secret) must be non-zero")
        expected = vss_commit(suite, coeffs)
        if commitment is not None and tuple(commitment) != expected:
            raise InvalidParameters("the commitment does not match the coefficients")
        self.suite = suite
        self.identifier = Identifier.for_suite(suite, identifier)
        self.coefficients = coeffs
        self.commitment = expected
        self.min_signers = min_signers
        self.max_signers = max_signers


class Round1Package(PublicSerializable):
    """A participant's broadcast: its VSS commitment and proof of knowledge of the secret."""

    TYPE_TAG = 7
    TYPE_NAME = "dkg_round1_package"
    FIELDS = (("commitment", ListOf(ELEMENT)), ("proof_of_knowledge", SIGNATURE))
    __slots__ = ("commitment", "proof_of_knowledge", "suite")

    def __init__(
        self, suite: Ciphersuite, commitment: Sequence[Element], proof_of_knowledge: bytes
    ) -> None:
        self.commitment = _elements(suite, commitment, "a VSS commitment")
        if not self.commitment:
            raise InvalidParameters("a VSS commitment has at least one coefficient")
        if not isinstance(proof_of_knowledge, bytes | bytearray):
            raise InvalidParameters("the proof of knowledge must be bytes")
        try:
            suite.deserialize_signature(bytes(proof_of_knowledge))
        except Exception as exc:  # InvalidSignature: a malformed encoding
            raise InvalidParameters(f"malformed proof of knowledge: {exc}") from None
        self.suite = suite
        self.proof_of_knowledge = bytes(proof_of_knowledge)

    def __repr__(self) -> str:
        return (
            f"Round1Package({self.suite.name}, commitment[0]="
            f"{self.commitment[0].to_bytes().hex()}, {len(self.commitment)} coefficients)"
        )


class Round2Package(SecretSerializable):
    """The secret share ``f_i(l)`` that participant ``i`` sends to participant ``l``."""

    TYPE_TAG = 9
    TYPE_NAME = "dkg_round2_package"
    FIELDS = (("signing_share", SCALAR),)
    __slots__ = ("signing_share", "suite")

    def __init__(self, suite: Ciphersuite, signing_share: int) -> None:
        self.suite = suite
        self.signing_share = signing_share % suite.group.order

    def __repr__(self) -> str:
        return f"Round2Package({self.suite.name}, <redacted>)"


class Round2SecretPackageBase(SecretPackageBase):
    """What a participant keeps between parts two and three: its own share and its commitment.

    A subclass says which commitments it accepts and how they extend to the
    full one the share is checked against (``share * G == sum_k C[k] * i^k``).
    """

    FIELDS = (
        ("identifier", IDENTIFIER),
        ("commitment", ListOf(ELEMENT)),
        ("secret_share", SCALAR),
        ("min_signers", U16),
        ("max_signers", U16),
    )
    __slots__ = (
        "commitment",
        "identifier",
        "max_signers",
        "min_signers",
        "secret_share",
        "suite",
    )

    def __init__(
        self,
        suite: Ciphersuite,
        identifier: int,
        commitment: Sequence[Element],
        secret_share: int,
        min_signers: int,
        max_signers: int,
    ) -> None:
        validate_num_of_signers(min_signers, max_signers)
        self.suite = suite
        self.identifier = Identifier.for_suite(suite, identifier)
        self.commitment = self._checked_commitment(suite, commitment, min_signers)
        self.secret_share = secret_share % suite.group.order
        full = self._full_commitment(suite, self.commitment)
        if evaluate_vss(suite, full, self.identifier) != suite.group.base_mul(self.secret_share):
            raise InvalidParameters("the secret share does not match the commitment")
        self.min_signers = min_signers
        self.max_signers = max_signers

    @staticmethod
    def _checked_commitment(
        suite: Ciphersuite, commitment: Sequence[Element], min_signers: int
    ) -> tuple[Element, ...]:
        raise NotImplementedError

    @staticmethod
    def _full_commitment(suite: Ciphersuite, commitment: Sequence[Element]) -> Sequence[Element]:
        raise NotImplementedError


class Round2SecretPackage(Round2SecretPackageBase):
    """What a participant keeps between :func:`part2` and :func:`part3`: ``f_i(i)`` and ``C_i``."""

    TYPE_TAG = 10
    TYPE_NAME = "dkg_round2_secret_package"
    __slots__ = ()

    @staticmethod
    def _checked_commitment(
        suite: Ciphersuite, commitment: Sequence[Element], min_signers: int
    ) -> tuple[Element, ...]:
        out = _elements(suite, commitment, "a VSS commitment")
        if len(out) != min_signers:
            raise InvalidParameters(f"expected {min_signers} commitments")
        return out

    @staticmethod
    def _full_commitment(suite: Ciphersuite, commitment: Sequence[Element]) -> Sequence[Element]:
        return commitment


# -- helpers shared with refresh ----------------------------------------------------------

P = TypeVar("P", bound=Serializable)


def normalize_packages(
    suite: Ciphersuite, packages: IdMapping[P], cls: type[P], what: str
) -> dict[Identifier, P]:
    """Packages keyed by checked identifiers, each of ``cls`` and of ``suite``, sorted by id."""
    if not isinstance(packages, Mapping):
        raise InvalidDkgState(f"{what} must be a mapping from identifier to package")
    out: dict[Identifier, P] = {}
    for ident, package in packages.items():
        i = Identifier.for_suite(suite, ident)
        if not isinstance(package, cls):
            raise InvalidDkgState(f"the {what} entry of {int(i)} is not a {cls.__name__}")
        if package.suite is not suite:
            raise CiphersuiteMismatch(
                f"the {what} entry of {int(i)} is for {package.suite.name}, not {suite.name}"
            )
        out[i] = package
    return dict(sorted(out.items()))


def check_round1_inputs(
    own: Identifier, expected_count: int, round1: Mapping[Identifier, object]
) -> None:
    """The round-one package-set checks of ZF part2 and part3: one from every other participant."""
    if len(round1) != expected_count:
        raise InvalidDkgState(
            f"expected round-one packages from {expected_count} other participants, "
            f"got {len(round1)}"
        )
    if own in round1:
        raise InvalidDkgState(f"the round-one packages include this participant's own ({own})")


def check_commitment_lengths(
    packages: Mapping[Identifier, Round1Package], expected: int, sent: str
) -> None:
    """Every package commits to ``expected`` elements, else name the sender.

    ``sent`` says what a package held, with ``{}`` for its length.
    """
    for ident, package in packages.items():
        if len(package.commitment) != expected:
            raise InvalidDkgState(
                f"participant {int(ident)} {sent.format(len(package.commitment))}; "
                f"expected {expected}"
            )


def round1_packages_for(
    secret_package: SecretPackageBase,
    round1_packages: IdMapping[Round1Package],
    commitment_length: int,
    sent: str,
) -> dict[Identifier, Round1Package]:
    """The checked round-one packages of part two (see :func:`check_commitment_lengths`)."""
    suite = secret_package.suite
    packages = normalize_packages(suite, round1_packages, Round1Package, "round-one packages")
    check_round1_inputs(secret_package.identifier, secret_package.max_signers - 1, packages)
    check_commitment_lengths(packages, commitment_length, sent)
    return packages


def round2_inputs_for(
    secret_package: SecretPackageBase,
    round1_packages: IdMapping[Round1Package],
    round2_packages: IdMapping[Round2Package],
    commitment_length: int,
    sent: str,
) -> tuple[dict[Identifier, Round1Package], dict[Identifier, Round2Package]]:
    """The checked round-one and round-two packages of part three."""
    suite = secret_package.suite
    r1 = normalize_packages(suite, round1_packages, Round1Package, "round-one packages")
    r2 = normalize_packages(suite, round2_packages, Round2Package, "round-two packages")
    check_round2_inputs(secret_package.identifier, secret_package.max_signers - 1, r1, r2)
    check_commitment_lengths(r1, commitment_length, sent)
    return r1, r2


def sum_received_shares(
    suite: Ciphersuite,
    own: Identifier,
    own_share: int,
    shares: Mapping[Identifier, Round2Package],
    commitments: Mapping[Identifier, Sequence[Element]],
) -> int:
    """``own_share`` plus every received share, each checked by :func:`verify_received_share`."""
    q = suite.group.order
    total = own_share
    for ident, share in shares.items():
        verify_received_share(suite, own, ident, share.signing_share, commitments[ident])
        total = (total + share.signing_share) % q
    return total


def public_key_package_from_commitments(
    suite: Ciphersuite, commitments: Mapping[Identifier, Sequence[Element]]
) -> PublicKeyPackage:
    """ZF ``PublicKeyPackage::from_dkg_commitments``: sum the commitments, evaluate at every id.

    ``verifying_key = sum_l C_l[0]`` and ``Y_j = sum_k Csum[k] * j^k``;
    ``min_signers`` is the commitment length.
    """
    group = suite.group
    lengths = {len(c) for c in commitments.values()}
    if len(lengths) != 1:
        raise InvalidDkgState("the commitments have different lengths")
    (t,) = lengths
    summed = [group.sum(c[k] for c in commitments.values()) for k in range(t)]
    shares = {j: evaluate_vss(suite, summed, j) for j in sorted(commitments)}
    return PublicKeyPackage(suite, shares, summed[0], t)


# -- the three parts --------------------------------------------------------------------

_COMMITTED = "committed to {} coefficients"


def part1(
    suite: Ciphersuite | str,
    identifier: int,
    max_signers: int,
    min_signers: int,
    rng: RandomBytes = system_random,
) -> tuple[Round1SecretPackage, Round1Package]:
    """Round one: a random polynomial of degree ``min_signers - 1``, its commitment and a PoK.

    Keep the :class:`Round1SecretPackage`; broadcast the :class:`Round1Package`.
    """
    from cosigner.frost.ciphersuite import ciphersuite

    suite = ciphersuite(suite) if isinstance(suite, str) else suite
    validate_num_of_signers(min_signers, max_signers)
    ident = Identifier.for_suite(suite, identifier)
    coefficients = [suite.group.random_scalar(rng)]
    coefficients += generate_coefficients(suite, min_signers - 1, rng)
    secret = Round1SecretPackage(suite, ident, coefficients, None, min_signers, max_signers)
    proof = compute_proof_of_knowledge(
        suite, ident, secret.coefficients[0], secret.commitment[0], rng
    )
    return secret, Round1Package(suite, secret.commitment, proof)


def part2(
    secret_package: Round1SecretPackage, round1_packages: IdMapping[Round1Package]
) -> tuple[Round2SecretPackage, dict[Identifier, Round2Package]]:
    """Round two: verify the others' proofs, then compute the share ``f_i(l)`` for each ``l``.

    ``round1_packages`` maps every *other* participant's identifier to its
    round-one package. Send each returned :class:`Round2Package` only to the
    participant it is keyed by, encrypted; keep the :class:`Round2SecretPackage`.
    """
    suite = secret_package.suite
    own = secret_package.identifier
    packages = round1_packages_for(
        secret_package, round1_packages, secret_package.min_signers, _COMMITTED
    )
    outgoing: dict[Identifier, Round2Package] = {}
    for ident, package in packages.items():
        verify_proof_of_knowledge(suite, ident, package.commitment[0], package.proof_of_knowledge)
        outgoing[ident] = Round2Package(
            suite, evaluate_polynomial(suite, secret_package.coefficients, ident)
        )
    own_share = evaluate_polynomial(suite, secret_package.coefficients, own)
    round2_secret = Round2SecretPackage(
        suite,
        own,
        secret_package.commitment,
        own_share,
        secret_package.min_signers,
        secret_package.max_signers,
    )
    return round2_secret, outgoing


def check_round2_inputs(
    own: Identifier,
    expected_count: int,
    round1: Mapping[Identifier, object],
    round2: Mapping[Identifier, object],
) -> None:
    """The package-set checks of ZF part3, shared with the DKG refresh."""
    check_round1_inputs(own, expected_count, round1)
    if own in round2:
        raise InvalidDkgState(f"the round-two packages include this participant's own ({own})")
    if len(round1) != len(round2):
        raise InvalidDkgState(
            f"{len(round1)} round-one packages but {len(round2)} round-two packages"
        )
    missing = [int(i) for i in round1 if i not in round2]
    if missing:
        raise InvalidDkgState(f"no round-two package from participants {missing}")


def verify_received_share(
    suite: Ciphersuite,
    own: Identifier,
    sender: Identifier,
    share: int,
    commitment: Sequence[Element],
) -> None:
    """Feldman VSS: ``f_l(i) * G == sum_k C_l[k] * i^k``, else name ``sender``."""
    if evaluate_vss(suite, commitment, own) != suite.group.base_mul(share):
        raise InvalidSecretShare(
            f"the share participant {int(sender)} sent does not match its commitment", [sender]
        )


def part3(
    round2_secret_package: Round2SecretPackage,
    round1_packages: IdMapping[Round1Package],
    round2_packages: IdMapping[Round2Package],
) -> tuple[KeyPackage, PublicKeyPackage]:
    """Round three: verify the received shares and derive the key material.

    ``round1_packages`` must be the ones given to :func:`part2`;
    ``round2_packages`` maps each other participant to the share it sent this
    one. Returns this participant's :class:`KeyPackage` and the group's
    :class:`PublicKeyPackage` (identical for every participant).
    """
    secret = round2_secret_package
    suite = secret.suite
    own = secret.identifier
    r1, r2 = round2_inputs_for(
        secret, round1_packages, round2_packages, secret.min_signers, _COMMITTED
    )
    commitments: dict[Identifier, tuple[Element, ...]] = {own: secret.commitment}
    for ident, package in r1.items():
        commitments[ident] = package.commitment
    signing_share = sum_received_shares(suite, own, secret.secret_share, r2, commitments)
    verifying_share = suite.group.base_mul(signing_share)
    public = public_key_package_from_commitments(suite, dict(sorted(commitments.items())))
    if public.verifying_shares[own] != verifying_share:  # pragma: no cover - implied by the checks
        raise InvalidDkgState("the derived verifying share disagrees with the commitments")
    key_package = KeyPackage._trusted(
        suite, own, signing_share, verifying_share, public.verifying_key, secret.min_signers
    )
    return suite.post_dkg(key_package, public)


def keygen_local(
    suite: Ciphersuite | str,
    min_signers: int,
    max_signers: int,
    identifiers: Sequence[int] | None = None,
    rng: RandomBytes = system_random,
) -> tuple[dict[Identifier, KeyPackage], PublicKeyPackage]:
    """Run the whole DKG for ``max_signers`` participants in this process.

    For tests, demos and benchmarks: in a real deployment each participant
    runs :func:`part1`, :func:`part2` and :func:`part3` on its own machine.
    Returns every participant's :class:`KeyPackage` and the common
    :class:`PublicKeyPackage`.
    """
    from cosigner.frost.ciphersuite import ciphersuite

    suite = ciphersuite(suite) if isinstance(suite, str) else suite
    validate_num_of_signers(min_signers, max_signers)
    ids = (
        default_identifiers(suite, max_signers)
        if identifiers is None
        else normalize_identifiers(suite, identifiers)
    )
    if len(ids) != max_signers:
        raise InvalidParameters(f"expected {max_signers} identifiers, got {len(ids)}")
    round1_secrets: dict[Identifier, Round1SecretPackage] = {}
    broadcast: dict[Identifier, Round1Package] = {}
    for i in ids:
        round1_secrets[i], broadcast[i] = part1(suite, i, max_signers, min_signers, rng)
    round2_secrets: dict[Identifier, Round2SecretPackage] = {}
    inbox: dict[Identifier, dict[Identifier, Round2Package]] = {i: {} for i in ids}
    for i in ids:
        others = {j: p for j, p in broadcast.items() if j != i}
        round2_secrets[i], outgoing = part2(round1_secrets.pop(i), others)
        for j, package in outgoing.items():
            inbox[j][i] = package
    key_packages: dict[Identifier, KeyPackage] = {}
    public: PublicKeyPackage | None = None
    for i in ids:
        others = {j: p for j, p in broadcast.items() if j != i}
        key_packages[i], pkp = part3(round2_secrets.pop(i), others, inbox.pop(i))
        if public is None:
            public = pkp
        elif pkp != public:  # pragma: no cover - every participant derives the same package
            raise InvalidDkgState("participants derived different public key packages")
    assert public is not None
    return key_packages, public
