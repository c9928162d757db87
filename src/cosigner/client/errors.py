"""The errors of the client side: a server's error answer, a refusal of the client's own."""

from __future__ import annotations

from cosigner.errors import CosignerError


class ApiError(CosignerError):
    """A non-2xx answer: ``status``, and the body's ``code`` and ``message``.

    ``code`` is the server's stable error code (``pool_empty``,
    ``stale_session_state``, ``session_exhausted``, ...), so callers branch on it.
    """

    def __init__(self, status: int, code: str, message: str, *, retried: bool = False) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retried = retried
        """Whether this answer is to a repeat of the request (see
        :class:`cosigner.client.http.FailoverTransport`): the first attempt may have been
        performed by an instance that died before it answered."""


class ClientError(CosignerError):
    """Something the client itself refuses: no login yet, a key of the wrong scheme, ..."""

    code = "client_error"


class TransportError(CosignerError):
    """No answer came: the server is unreachable, the request timed out, or the URL is bad.

    The request may or may not have been performed by the server.
    """

    code = "transport_error"


class BadResponseError(ClientError):
    """A 2xx answer the client cannot read: not a JSON object, or without a field it needs."""

    code = "bad_response"


class KeyMismatchError(ClientError):
    """The client share does not fit the key: the passkey's PRF output is not the key's.

    Presigning checks ``x * G`` against the group key (Cait-Sith presign step
    2.5), so a client share from another passkey, user or rpId is caught there,
    before any presignature exists.
    """

    code = "prf_key_mismatch"


__all__ = [
    "ApiError",
    "BadResponseError",
    "ClientError",
    "KeyMismatchError",
    "TransportError",
]
