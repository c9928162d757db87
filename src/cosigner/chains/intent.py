"""The seam between chains and signers: SigningIntent, SignRequest, finalize.

After seed 001: an adapter turns a chain payload into a :class:`SigningIntent`
(a reviewable ``ui_model``, the exact :class:`SignRequest` list, and a
``finalize`` function); a signer engine turns each request into a signature;
``finalize`` turns the signatures into the chain's broadcastable artifacts.

Contract every adapter keeps:

* ``ui_model`` is plain JSON: ``{"chain", "kind", "summary", "fields",
  "display"}``. ``fields`` holds every input that changes the signed bytes,
  normalized and readable (checksummed addresses, decimal integers as
  strings, hex for bytes); ``display`` holds derived values for a person
  (amounts in display units, decoded method names). No hidden fields:
  ``adapter.build_intent(kind, ui_model["fields"])`` yields the same sign
  requests, byte for byte.
* A bad payload raises :class:`~cosigner.chains.errors.PayloadError` naming
  the field path; nothing is signed.
* Signatures exchanged with engines: ``ed25519`` 64 bytes; ``secp256k1`` 65
  bytes ``r || s || recovery_id`` with low ``s``; ``p256`` per the chain
  (Tempo documents its encodings).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cosigner.chains.errors import FinalizeError

Algorithm = Literal["ed25519", "secp256k1", "p256"]
ALGORITHMS: tuple[str, ...] = ("ed25519", "secp256k1", "p256")


@dataclass(frozen=True, slots=True)
class SignRequest:
    """One thing to sign: the algorithm, the exact bytes, and a label for people.

    ``message`` is a 32-byte digest for EVM, Tempo and NEAR (``prehashed``) and
    the raw message bytes for Solana, whose signatures cover the message itself.
    """

    algorithm: str
    message: bytes
    label: str
    prehashed: bool = True

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r}")
        if self.prehashed and len(self.message) != 32:
            raise ValueError("a prehashed sign request carries a 32-byte digest")

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "message": "0x" + self.message.hex(),
            "label": self.label,
            "prehashed": self.prehashed,
        }


@dataclass(frozen=True, slots=True)
class Finalized:
    """A chain's signed artifacts.

    ``raw``: the broadcastable bytes (signed transaction) or None for messages;
    ``hash``: the transaction hash or id as the chain writes it;
    ``extra``: chain-specific public values (``v``, ``yParity``, ``r``, ``s``,
    base64 forms, the signature as the chain encodes it).
    """

    chain: str
    kind: str
    raw: bytes | None
    hash: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SigningIntent:
    chain: str
    kind: str
    ui_model: Mapping[str, Any]
    sign_requests: tuple[SignRequest, ...]
    _finalize: Callable[[Sequence[bytes]], Finalized]

    def finalize(self, signatures: Sequence[bytes]) -> Finalized:
        """Turn one signature per sign request (in order) into the chain's artifacts."""
        if len(signatures) != len(self.sign_requests):
            raise FinalizeError(
                f"{len(self.sign_requests)} signatures expected, got {len(signatures)}"
            )
        for request, signature in zip(self.sign_requests, signatures, strict=True):
            if not isinstance(signature, bytes | bytearray):
                raise FinalizeError(f"the signature for {request.label!r} must be bytes")
        return self._finalize([bytes(s) for s in signatures])


class ChainAdapter(Protocol):
    chain: str
    kinds: tuple[str, ...]

    def build_intent(self, kind: str, payload: Mapping[str, Any]) -> SigningIntent: ...


def make_ui_model(
    chain: str,
    kind: str,
    summary: str,
    fields: Mapping[str, Any],
    display: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "chain": chain,
        "kind": kind,
        "summary": summary,
        "fields": dict(fields),
        "display": dict(display or {}),
    }
