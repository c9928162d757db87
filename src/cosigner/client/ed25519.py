"""The client's side (participant 1) of two-party FROST(Ed25519) signing, without I/O.

The relayer (participant 2, :mod:`cosigner.server.routes.ed25519`) commits
and answers with its commitments when the signing session opens (``sign/init``,
or ``authorize`` with ``signInit``). :func:`commitments_json` is how the
client's commitments travel; :func:`frost_client_share` is round two: the
client's signature share for the relayer's commitments and the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from cosigner import frost
from cosigner.client.http import b64u, unb64u

CLIENT_ID: Final = 1
RELAYER_ID: Final = 2
_SUITE = frost.ciphersuite("ed25519")
_GROUP = _SUITE.group


def commitments_json(commitments: frost.SigningCommitments) -> dict[str, str]:
    """``clientCommitments`` as the server reads them: hiding and binding, base64url."""
    return {
        "hiding": b64u(commitments.hiding.to_bytes()),
        "binding": b64u(commitments.binding.to_bytes()),
    }


def frost_client_share(
    package: frost.KeyPackage,
    nonces: frost.SigningNonces,
    commitments: frost.SigningCommitments,
    relayer_commitments: Mapping[str, Any],
    message: bytes,
) -> bytes:
    """The client's 32-byte signature share for ``message``.

    ``relayer_commitments`` is the JSON ``relayerCommitments`` of the
    server's answer. Uses ``nonces`` up (they are single-use): never call this
    twice with them.
    """
    relayer = frost.SigningCommitments(
        _SUITE,
        _GROUP.decode_element(unb64u(relayer_commitments["hiding"])),
        _GROUP.decode_element(unb64u(relayer_commitments["binding"])),
    )
    signing_package = frost.SigningPackage(
        _SUITE, {CLIENT_ID: commitments, RELAYER_ID: relayer}, message
    )
    share = frost.sign(signing_package, nonces, package)
    return _GROUP.encode_scalar(share.share)


__all__ = ["CLIENT_ID", "RELAYER_ID", "commitments_json", "frost_client_share"]
