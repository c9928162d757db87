"""Round one: nonces and commitments (RFC 9591 Sections 4.1 and 5.1).

:func:`commit` draws a hiding and a binding nonce with ``nonce_generate``
(random bytes hashed together with the signing share through H3, so a weak
random source alone does not expose the nonce) and returns the secret
:class:`SigningNonces` with the public :class:`SigningCommitments`.

A :class:`SigningNonces` object is single-use: round two consumes it, and a
second use raises :class:`~cosigner.frost.errors.NonceReuseError`. It has no
serialization on purpose; a signer that must keep nonces across processes
stores them under its own durable single-use discipline.
"""

from __future__ import annotations

from cosigner.frost.ciphersuite import Ciphersuite
from cosigner.frost.errors import NonceReuseError
from cosigner.frost.keys import KeyPackage
from cosigner.frost.serialization import ELEMENT, Serializable
from cosigner.groups import Element, RandomBytes, system_random


def nonce_generate(suite: Ciphersuite, secret: int, rng: RandomBytes = system_random) -> int:
    """RFC 9591 Section 4.1: ``H3(random_bytes(32) || SerializeScalar(secret))``."""
    return suite.H3(rng(32) + suite.encode_scalar(secret))


class SigningCommitments(Serializable):
    """A signer's public round-one output: the hiding and binding nonce commitments."""

    TYPE_TAG = 3
    TYPE_NAME = "signing_commitments"
    FIELDS = (("hiding", ELEMENT), ("binding", ELEMENT))
    __slots__ = ("binding", "hiding", "suite")

    def __init__(self, suite: Ciphersuite, hiding: Element, binding: Element) -> None:
        self.suite = suite
        self.hiding = hiding
        self.binding = binding

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SigningCommitments):
            return NotImplemented
        return (
            self.suite is other.suite
            and self.hiding == other.hiding
            and self.binding == other.binding
        )

    def __hash__(self) -> int:
        return hash((self.suite.name, self.hiding, self.binding))

    def __repr__(self) -> str:
        return (
            f"SigningCommitments({self.suite.name}, "
            f"hiding={self.hiding!r}, binding={self.binding!r})"
        )


class SigningNonces:
    """A signer's secret round-one output. Single use; never printed."""

    __slots__ = ("_binding", "_hiding", "_used", "commitments", "suite")

    def __init__(self, suite: Ciphersuite, hiding: int, binding: int) -> None:
        q = suite.group.order
        self.suite = suite
        self._hiding = hiding % q
        self._binding = binding % q
        self._used = False
        self.commitments = SigningCommitments(
            suite, suite.group.base_mul(self._hiding), suite.group.base_mul(self._binding)
        )

    @property
    def used(self) -> bool:
        return self._used

    def consume(self) -> tuple[int, int]:
        """Return (hiding, binding) once; afterwards the object is spent and its values erased."""
        if self._used:
            raise NonceReuseError(
                "these signing nonces were already used; run round one again for a new signature"
            )
        self._used = True
        values = (self._hiding, self._binding)
        self._hiding = self._binding = 0
        return values

    def __repr__(self) -> str:
        state = "used" if self._used else "unused"
        return f"SigningNonces({self.suite.name}, {state}, <redacted>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SigningNonces cannot be pickled: a copy would allow nonce reuse")


def commit(
    key_package: KeyPackage, rng: RandomBytes = system_random
) -> tuple[SigningNonces, SigningCommitments]:
    """RFC 9591 Section 5.1 ``commit``: fresh nonces and their commitments."""
    suite = key_package.suite
    hiding = nonce_generate(suite, key_package.signing_share, rng)
    binding = nonce_generate(suite, key_package.signing_share, rng)
    nonces = SigningNonces(suite, hiding, binding)
    return nonces, nonces.commitments
