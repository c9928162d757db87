"""A request-body size limit, enforced before the route sees the body.

A ``Content-Length`` over the limit is refused at once; otherwise the body is
read here (bodies are small: a limit of 64 KiB by default) and refused as
soon as it passes the limit, chunked or not. Either way the answer is
``body_too_large`` 413, and the route never sees a partial body. A body
within the limit is handed on in one piece.

:func:`content_length_refusal` and :func:`read_body` are the two checks; the
middleware and the fast path (:mod:`cosigner.server.fastpath`) both use them.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cosigner.server.errors import error_response


class BodyTooLarge(Exception):
    """The body passed the limit while it was read."""


def too_large_response(max_bytes: int) -> JSONResponse:
    return error_response(
        "body_too_large", f"the request body is over the limit of {max_bytes} bytes"
    )


def content_length_refusal(values: Iterable[bytes], max_bytes: int) -> JSONResponse | None:
    """The answer to the request's ``Content-Length`` headers (in order), or None if they pass.

    A value that is not a decimal number is ``invalid_body``; one over ``max_bytes`` is
    ``body_too_large``.
    """
    for value in values:
        if not value.isdigit():
            return error_response("invalid_body", "the Content-Length header is not a number")
        if int(value) > max_bytes:
            return too_large_response(max_bytes)
    return None


async def read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole request body; None if the client went away first.

    Raises :class:`BodyTooLarge` as soon as the body passes ``max_bytes``.
    """
    message = await receive()
    if message["type"] != "http.request":
        return None
    body: bytes = message.get("body", b"")
    if len(body) > max_bytes:
        raise BodyTooLarge
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = content_length_refusal(
            (value for name, value in scope.get("headers", ()) if name == b"content-length"),
            self.max_bytes,
        )
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.max_bytes)
        except BodyTooLarge:
            await too_large_response(self.max_bytes)(scope, receive, send)
            return
        if body is None:
            # The client went away before sending its body; nothing to answer.
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
