"""JSON over HTTP to the co-signing server: one request, one checked answer.

:class:`Api` wraps an ``httpx.Client`` (or Starlette's ``TestClient``, which
is one): ``post(path, body, token)`` sends JSON with an optional bearer
token and returns the JSON body of a 2xx answer, or raises
:class:`~cosigner.client.errors.ApiError` with the server's ``code``
(:class:`~cosigner.client.errors.TransportError` when no answer came,
:class:`~cosigner.client.errors.BadResponseError` when a 2xx answer is not a
JSON object; :func:`required` reads a field the caller needs).
Binary values travel as unpadded base64url (:func:`b64u`, :func:`unb64u`).

:class:`FailoverTransport` spreads requests over several instances of one
deployment and sends a request again to the next instance when the
connection to one fails.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx

from cosigner.client.errors import ApiError, BadResponseError, TransportError

RETRIED: Final = "cosigner_retried"
"""The response extension :class:`FailoverTransport` sets on the answer to a repeated request."""

FAILOVER_ERRORS: Final = (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ConnectTimeout)
"""Connection failures: refused or timed out (the instance is down), or broken before an
answer came (it died during the request). A read timeout is not one: the instance may still
be working on the request, and answering it."""


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def check(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx response; :class:`ApiError`, or :class:`BadResponseError`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not response.is_success:
        fields = body if isinstance(body, dict) else {}
        raise ApiError(
            response.status_code,
            str(fields.get("code", "")),
            str(fields.get("message", "")),
            retried=bool(response.extensions.get(RETRIED, False)),
        )
    if not isinstance(body, dict):
        raise BadResponseError(f"the server's {response.status_code} answer is not a JSON object")
    return body


def required(answer: Mapping[str, Any], name: str) -> Any:
    """``answer[name]``; :class:`BadResponseError` if ``answer`` is no object or lacks it."""
    if not isinstance(answer, Mapping) or name not in answer:
        raise BadResponseError(f"the server's answer lacks {name!r}")
    return answer[name]


class FailoverTransport(httpx.BaseTransport):
    """Requests to several instances of one server (same store, same secrets), in turn.

    Each request goes to the next base URL in ``base_urls``, round robin.
    When the connection fails (:data:`FAILOVER_ERRORS`), the same request goes
    to the next instance, and so on once around. Only scheme, host and port
    are taken from a base URL: the instances serve the same paths.

    Repeating a request is safe with this server, even when the first attempt
    was performed by an instance that died before answering. What must happen
    once is single-use or a compare-and-swap, so its repeat is refused
    (``not_found`` for a spent ``mpcSessionId`` or finalized signing session,
    ``stale_session_state``), or, for a presign step, answered again with the
    answer the first attempt stored. ``authorize`` is not single-use: its
    repeat is a new authorization and spends another use of the threshold
    session (the first attempt's ``mpcSessionId`` or signing session expires
    unused), unless it is refused, as an ECDSA ``signInit`` naming the
    presignature the first attempt reserved is (``pool_empty``, nothing
    spent). The answer to a repeat carries the ``cosigner_retried``
    extension (and an error :attr:`ApiError.retried
    <cosigner.client.errors.ApiError.retried>`), so the caller knows a refusal
    may be its own first attempt's doing.
    """

    def __init__(self, base_urls: Sequence[str]) -> None:
        if not base_urls:
            raise ValueError("FailoverTransport needs at least one base URL")
        self.base_urls = [httpx.URL(url) for url in base_urls]
        self._transports = [httpx.HTTPTransport() for _ in self.base_urls]
        self._next = 0
        self._lock = threading.Lock()

    def first(self, request: httpx.Request) -> int:
        """The index of the instance to try first for ``request`` (and move on)."""
        with self._lock:
            index = self._next
            self._next = (index + 1) % len(self.base_urls)
            return index

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
        start = self.first(request)
        failure: Exception | None = None
        for attempt in range(len(self.base_urls)):
            index = (start + attempt) % len(self.base_urls)
            base = self.base_urls[index]
            url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
            sent = httpx.Request(
                request.method, url, headers=headers, content=content, extensions=request.extensions
            )
            try:
                response = self._transports[index].handle_request(sent)
                # The whole answer, here: an instance that dies in the middle of its body has
                # failed this request as surely as one that never answered.
                response.read()
            except FAILOVER_ERRORS as exc:
                failure = exc
                continue
            if attempt:
                response.extensions = {**response.extensions, RETRIED: True}
            return response
        assert failure is not None
        raise failure

    def close(self) -> None:
        for transport in self._transports:
            transport.close()


class Api:
    """The server at the other end of an ``httpx.Client``."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def post(self, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        return self._send("POST", path, token, body)

    def get(self, path: str, token: str | None = None) -> dict[str, Any]:
        return self._send("GET", path, token)

    def _send(
        self, method: str, path: str, token: str | None, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        headers = bearer(token) if token else {}
        try:
            response = self.http.request(method, path, json=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            where = path.split("?")[0]
            raise TransportError(f"no answer to {where}: {type(exc).__name__}: {exc}") from exc
        return check(response)


__all__ = [
    "FAILOVER_ERRORS",
    "RETRIED",
    "Api",
    "FailoverTransport",
    "b64u",
    "bearer",
    "check",
    "required",
    "unb64u",
]
