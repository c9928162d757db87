"""Chain intents at ``authorize``: rebuild the intent, recompute its digest, bind its bytes.

A client that authorizes a chain payload sends the payload and the digest
of the intent it showed the user. The server rebuilds the intent with the
same adapter, recomputes the digest and refuses a mismatch
(``intent_digest_mismatch``), so the bytes it later co-signs are the bytes
of the intent the user reviewed.

Intent digest, version 1 (hex of the messages, canonical JSON, UTF-8)::

    SHA-256(b"cosigner/intent-digest/v1\\x00" || canonical_json({
        "chain": chain, "kind": kind,
        "signRequests": [{"algorithm", "message": hex, "prehashed"}, ...]}))

Adapters keep the contract that ``ui_model["fields"]`` determines the sign
requests byte for byte, so the digest covers everything the user reviewed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any, Final

from cosigner.chains import adapter
from cosigner.chains.errors import PayloadError
from cosigner.chains.intent import SigningIntent
from cosigner.errors import CosignerError

log = logging.getLogger("cosigner.server")

INTENT_DIGEST_TAG: Final = b"cosigner/intent-digest/v1\x00"


def intent_digest(intent: SigningIntent) -> bytes:
    """The version-1 intent digest of :mod:`this module <cosigner.server.intents>`."""
    body = {
        "chain": intent.chain,
        "kind": intent.kind,
        "signRequests": [
            {"algorithm": r.algorithm, "message": r.message.hex(), "prehashed": r.prehashed}
            for r in intent.sign_requests
        ],
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(INTENT_DIGEST_TAG + text.encode("utf-8")).digest()


def build_intent(chain: str, kind: str, payload: Mapping[str, Any]) -> SigningIntent:
    """The adapter's intent; any failure is the payload's (``invalid_payload``), never a 500.

    Chains are :func:`cosigner.chains.adapter`'s: ``evm``, ``tempo``, ``near``, ``solana``.
    """
    chain_adapter = adapter(chain)
    try:
        return chain_adapter.build_intent(kind, payload)
    except CosignerError:
        raise
    except Exception:
        # An adapter that fails on a payload other than with PayloadError has a bug to fix;
        # the caller still gets a 400, and the traceback is in the log.
        log.warning("the %s adapter failed on a %s payload", chain, kind, exc_info=True)
        raise PayloadError("payload", f"is not a valid {chain} {kind} payload") from None
