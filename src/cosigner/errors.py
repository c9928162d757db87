"""One error vocabulary for the whole library.

Every error a caller can cause is a :class:`CosignerError` subclass with a
stable ``code`` (used by the server to pick an HTTP status and by clients to
branch on) and a sentence that says what went wrong and what to do. Messages
never contain secret material.
"""

from __future__ import annotations

from collections.abc import Iterable


class CosignerError(Exception):
    """Base class of every error raised on purpose by cosigner."""

    code: str = "cosigner_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class DecodeError(CosignerError, ValueError):
    """Bytes or JSON that do not decode to a well-formed object."""

    code = "malformed_encoding"


class InvalidScalarError(DecodeError):
    """A scalar encoding of the wrong length or not reduced modulo the group order."""

    code = "invalid_scalar"


class InvalidElementError(DecodeError):
    """An element encoding that is non-canonical, off the curve or outside the subgroup."""

    code = "invalid_element"


class IdentityElementError(InvalidElementError):
    """The identity element where the specification forbids it."""

    code = "identity_element"


def _format_ids(ids: Iterable[int]) -> str:
    return ", ".join(str(i) for i in ids)


class CulpritError(CosignerError):
    """An error caused by identified participants; ``culprits`` names them."""

    def __init__(self, message: str, culprits: Iterable[int] = ()) -> None:
        self.culprits: tuple[int, ...] = tuple(sorted(int(c) for c in culprits))
        if self.culprits:
            message = f"{message} (culprits: {_format_ids(self.culprits)})"
        super().__init__(message)
