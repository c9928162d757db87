"""Threshold ECDSA on secp256k1: the Cait-Sith protocol as near/threshold-signatures runs it.

Spec: the ``docs/`` of near/threshold-signatures (docs/ecdsa/ot_based_ecdsa/,
docs/dkg.md, docs/crypto/proofs.md) and of cronokirby/cait-sith. Modules, in
the order the protocol runs:

==========================  ====================================================
:mod:`.keygen`              DKG, refresh, reshare (docs/dkg.md)
:mod:`.ot`                  base OT, OT extension, MTA, pairwise multiplication
:mod:`.triples`             Beaver triple generation, batched (triples.md)
:mod:`.presign`             two-round presigning (signing.md, "Presigning")
:mod:`.sign`                one-round signing (signing.md, "Signing")
:mod:`.proofs`              transcripts, dlog and dlogeq proofs (proofs.md)
:mod:`.commitment`          hash commitments
:mod:`.types`               KeyShare, Triple(Share), Presignature, Signature
:mod:`.two_party`           the fixed two-party scheme of seed 000
:mod:`.local`               every protocol run in one process
==========================  ====================================================

Every protocol is a sans-I/O :class:`cosigner.protocol.Protocol`. Quick use::

    from cosigner import ecdsa
    shares = ecdsa.keygen_local([1, 2, 3], threshold=2)
    sig = ecdsa.sign_local({i: shares[i] for i in (1, 3)}, digest32)
    sig.to_bytes()  # r || s || recovery_id, s low

Participant ``i`` is the scalar ``i + 1``.
"""

from __future__ import annotations

from cosigner.ecdsa.errors import (
    InvalidDigestError,
    KeyShareMismatchError,
    OtViolationError,
    PresignatureConsumedError,
    PresignatureMismatchError,
    SignatureCheckFailedError,
    TripleConsumedError,
    TripleMismatchError,
)
from cosigner.ecdsa.keygen import Keygen, Refresh, Reshare
from cosigner.ecdsa.local import (
    generate_triples_local,
    keygen_local,
    presign_local,
    refresh_local,
    reshare_local,
    sign_local,
    sign_with_presignatures_local,
)
from cosigner.ecdsa.presign import Presign
from cosigner.ecdsa.sign import Sign
from cosigner.ecdsa.triples import TripleGeneration, generate_triples
from cosigner.ecdsa.two_party import two_party_v1_shares
from cosigner.ecdsa.types import KeyShare, Presignature, Signature, Triple, TripleShare

__all__ = [
    "InvalidDigestError",
    "KeyShare",
    "KeyShareMismatchError",
    "Keygen",
    "OtViolationError",
    "Presign",
    "Presignature",
    "PresignatureConsumedError",
    "PresignatureMismatchError",
    "Refresh",
    "Reshare",
    "Sign",
    "Signature",
    "SignatureCheckFailedError",
    "Triple",
    "TripleConsumedError",
    "TripleGeneration",
    "TripleMismatchError",
    "TripleShare",
    "generate_triples",
    "generate_triples_local",
    "keygen_local",
    "presign_local",
    "refresh_local",
    "reshare_local",
    "sign_local",
    "sign_with_presignatures_local",
    "two_party_v1_shares",
]
