"""Google sign-in: verifying an OpenID Connect ``id_token`` against a JWKS.

OpenID Connect Core 1.0, section 3.1.3.7 (ID token validation), as Google
documents it: the signature by a key from the issuer's JWKS (RS256), ``iss``
one of the configured issuers, ``aud`` one of the configured client ids,
``exp`` in the future, ``iat`` not in the future (60 s leeway each), and a
non-empty ``sub``. The issuer, the client ids and the JWKS URL are settings,
so tests and other OIDC providers serve their own JWKS.

Keys are cached for ``google_jwks_cache_s``; a token signed by an unknown
key id refetches the set, at most once a minute, so a key rotation is picked
up without letting bad tokens hammer the JWKS endpoint.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx
import jwt

from cosigner.server.errors import NotVerified, ProviderUnavailable
from cosigner.store import Clock

ALGORITHMS: Final = ("RS256",)
LEEWAY_S: Final = 60
MIN_REFETCH_S: Final = 60
MAX_TOKEN_CHARS: Final = 16 * 1024


@dataclass(frozen=True, slots=True)
class GoogleIdentity:
    subject: str
    email: str | None
    email_verified: bool


class GoogleVerifier:
    def __init__(
        self,
        *,
        client_ids: Sequence[str],
        issuers: Sequence[str],
        jwks_url: str,
        cache_s: int,
        http: httpx.Client,
        clock: Clock,
    ) -> None:
        self._client_ids = list(client_ids)
        self._issuers = list(issuers)
        self._jwks_url = jwks_url
        self._cache_ms = cache_s * 1000
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at_ms: int | None = None

    def _fetch(self) -> None:
        try:
            response = self._http.get(self._jwks_url, timeout=5.0)
            response.raise_for_status()
            document = response.json()
            jwks = jwt.PyJWKSet.from_dict(document)
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError, jwt.PyJWKError):
            raise ProviderUnavailable(
                "the identity provider's signing keys could not be fetched; try again later"
            ) from None
        self._keys = {k.key_id: k for k in jwks.keys if k.key_id}
        self._fetched_at_ms = self._clock()

    def _key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            now = self._clock()
            stale = self._fetched_at_ms is None or now - self._fetched_at_ms >= self._cache_ms
            may_refetch = self._fetched_at_ms is None or now - self._fetched_at_ms >= (
                MIN_REFETCH_S * 1000
            )
            if stale or (kid not in self._keys and may_refetch):
                self._fetch()
            key = self._keys.get(kid)
        if key is None:
            raise NotVerified("the id token is signed by a key the provider does not publish")
        return key

    def verify(self, id_token: str) -> GoogleIdentity:
        if len(id_token) > MAX_TOKEN_CHARS:
            raise NotVerified("the id token is too long")
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError:
            raise NotVerified("the id token is not a JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS or not isinstance(kid, str):
            raise NotVerified(f"the id token must be signed with {', '.join(ALGORITHMS)} and a kid")
        key = self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self._client_ids,
                issuer=self._issuers,
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "iat", "iss", "aud", "sub"],
                },
            )
        except jwt.InvalidAudienceError:
            raise NotVerified("the id token was issued for another client") from None
        except jwt.InvalidIssuerError:
            raise NotVerified("the id token comes from another issuer") from None
        except jwt.InvalidTokenError:
            raise NotVerified("the id token's signature or claims do not verify") from None
        now_s = self._clock() / 1000
        exp, iat, sub = claims.get("exp"), claims.get("iat"), claims.get("sub")
        if not isinstance(exp, int | float) or now_s > exp + LEEWAY_S:
            raise NotVerified("the id token has expired: sign in again")
        if not isinstance(iat, int | float) or iat > now_s + LEEWAY_S:
            raise NotVerified("the id token was issued in the future")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise NotVerified("the id token has no usable subject")
        email = claims.get("email")
        return GoogleIdentity(
            subject=sub,
            email=email if isinstance(email, str) else None,
            email_verified=claims.get("email_verified") is True,
        )
