"""Errors of the chain adapters: every bad payload names the field path at fault."""

from __future__ import annotations

from cosigner.errors import CosignerError


class PayloadError(CosignerError, ValueError):
    """A payload that does not validate; ``path`` names the field (``tx.calls[0].to``)."""

    code = "invalid_payload"

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class UnsupportedKindError(PayloadError):
    code = "unsupported_kind"


class FinalizeError(CosignerError, ValueError):
    """Signatures that cannot finalize the intent (wrong count, length, key or recovery id)."""

    code = "invalid_signature"


class EngineError(CosignerError):
    """A signer engine that cannot serve a request (wrong algorithm, unknown key)."""

    code = "engine_error"
