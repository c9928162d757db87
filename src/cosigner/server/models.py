"""Base models and field types shared by every route.

Request bodies are :class:`RequestModel`: camelCase on the wire, unknown
fields refused, no type coercion (``"1"`` is not an integer). Binary values
travel as unpadded base64url; ``Annotated[str, B64u(lo, hi)]`` only admits
canonical base64url of ``lo`` to ``hi`` decoded bytes, and :func:`decode`
turns it into bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64u_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Strict unpadded base64url; ValueError on anything else (padding, other alphabets, slack)."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("expected unpadded base64url")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("expected unpadded base64url") from None
    if b64u_encode(data) != text:
        raise ValueError("expected canonical base64url (no stray bits in the last character)")
    return data


def _b64u_chars(n: int) -> int:
    return (4 * n + 2) // 3


@dataclass(frozen=True, slots=True)
class B64u(GroupedMetadata):
    """Metadata for ``Annotated[str, B64u(lo, hi)]``: canonical base64url of lo..hi bytes."""

    min_bytes: int = 0
    max_bytes: int = 4096

    def __iter__(self) -> Iterator[Any]:
        lo, hi = self.min_bytes, self.max_bytes

        def check(text: str) -> str:
            data = b64u_decode(text)
            if not lo <= len(data) <= hi:
                span = f"{lo}" if lo == hi else f"{lo} to {hi}"
                raise ValueError(f"must decode to {span} bytes")
            return text

        yield StringConstraints(
            pattern=r"^[A-Za-z0-9_-]*$", min_length=_b64u_chars(lo), max_length=_b64u_chars(hi)
        )
        yield AfterValidator(check)


def decode(text: str) -> bytes:
    """Bytes of a value a :func:`b64u` type has already checked."""
    return b64u_decode(text)


Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
"""An opaque identifier (user, key, session, challenge)."""

SessionKind = Literal["jwt", "cookie"]
SessionKindField = Annotated[
    SessionKind,
    Field(
        description="jwt: the token is returned in the body; cookie: it is set as a "
        "Secure, HttpOnly, SameSite=Strict cookie and a csrfToken is returned instead"
    ),
]


class RequestModel(BaseModel):
    """A request body: camelCase aliases only, unknown fields refused, strict types."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )


class ResponseModel(BaseModel):
    """A response body: built by field name, sent with camelCase names."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class OkResponse(ResponseModel):
    ok: bool = True
