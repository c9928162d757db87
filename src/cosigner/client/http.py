"""JSON over HTTP to the co-signing server: one request, one checked answer.

:class:`Api` wraps an ``httpx.Client`` (or Starlette's ``TestClient``, which
is one): ``post(path, body, token)`` sends JSON with an optional bearer
token and returns the JSON body of a 2xx answer, or raises
:class:`~cosigner.client.errors.ApiError` with the server's ``code``.
Binary values travel as unpadded base64url (:func:`b64u`, :func:`unb64u`).
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from cosigner.client.errors import ApiError


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def check(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 2xx response, or :class:`ApiError`."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if not response.is_success:
        raise ApiError(
            response.status_code, str(body.get("code", "")), str(body.get("message", ""))
        )
    return body


class Api:
    """The server at the other end of an ``httpx.Client``."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def post(self, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        headers = bearer(token) if token else {}
        return check(self.http.post(path, json=body, headers=headers))

    def get(self, path: str, token: str | None = None) -> dict[str, Any]:
        headers = bearer(token) if token else {}
        return check(self.http.get(path, headers=headers))


__all__ = ["Api", "b64u", "bearer", "check", "unb64u"]
