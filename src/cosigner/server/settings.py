"""Server configuration from ``COSIGNER_*`` environment variables.

Plain environment parsing, no framework: :meth:`Settings.from_env` reads a
mapping (``os.environ`` by default) and refuses a bad value with a
:class:`SettingsError` that names the variable. Secrets are base64url
(unpadded, at least 32 bytes) and are held in :class:`Secret`, whose
``repr`` never shows the value.

Secrets, in order of preference:

1. the environment: ``COSIGNER_SESSION_SECRET`` (signs app and threshold
   session tokens), ``COSIGNER_ED25519_MASTER_SECRET`` (derives every relayer
   Ed25519 share, so it must be kept and backed up: losing it loses every
   key), ``COSIGNER_SECP256K1_MASTER_SECRET`` (the same for threshold ECDSA);
2. in development only (``COSIGNER_ENV`` is not ``production``) and only for
   a SQLite or in-memory store: the missing ones generated once into
   ``cosigner.secrets`` beside the database file, mode 0600, with a loud
   warning on every start.

A PostgreSQL or Redis store is shared by several instances, which must
share the secrets too, so they come from the environment there. In
production the session secret is required; a scheme whose master secret is
missing is disabled (its routes answer ``threshold_disabled``, and the
server warns at startup).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cosigner.errors import CosignerError

log = logging.getLogger("cosigner.server")

PREFIX: Final = "COSIGNER_"
DEFAULT_STORE_URL: Final = "sqlite:///./cosigner.db"
DEV_SECRETS_FILE: Final = "cosigner.secrets"
MIN_SECRET_BYTES: Final = 32
MAX_THRESHOLD_SESSION_TTL_S: Final = 600
MAX_THRESHOLD_SESSION_USES: Final = 20

Getter = Callable[[str, str], str]
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_SECRET_NAMES: Final = {
    "session_secret": "SESSION_SECRET",
    "ed25519_master_secret": "ED25519_MASTER_SECRET",
    "secp256k1_master_secret": "SECP256K1_MASTER_SECRET",
}


class SettingsError(CosignerError, ValueError):
    """A configuration value the server cannot start with."""

    code = "invalid_settings"


@dataclass(frozen=True, slots=True)
class Secret:
    """Secret bytes that never print."""

    _value: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self._value, bytes) or len(self._value) < MIN_SECRET_BYTES:
            raise SettingsError(f"a secret is at least {MIN_SECRET_BYTES} bytes")

    def reveal(self) -> bytes:
        return self._value

    @classmethod
    def generate(cls) -> Secret:
        return cls(secrets.token_bytes(MIN_SECRET_BYTES))

    @classmethod
    def from_b64url(cls, text: str, name: str) -> Secret:
        return cls(_decode_secret(text, name))

    def to_b64url(self) -> str:
        return base64.urlsafe_b64encode(self._value).rstrip(b"=").decode("ascii")

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app needs besides its store; see the module docstring for secrets."""

    session_secret: Secret
    ed25519_master_secret: Secret | None = None
    secp256k1_master_secret: Secret | None = None
    store_url: str = DEFAULT_STORE_URL
    environment: str = "development"
    rp_id: str = "localhost"
    rp_name: str = "cosigner"
    origins: tuple[str, ...] = ("http://localhost:8080",)
    require_user_verification: bool = True
    app_session_ttl_s: int = 24 * 3600
    threshold_session_ttl_s: int = MAX_THRESHOLD_SESSION_TTL_S
    threshold_session_max_uses: int = MAX_THRESHOLD_SESSION_USES
    challenge_ttl_s: int = 300
    signing_session_ttl_s: int = 60
    presign_session_ttl_s: int = 120
    max_body_bytes: int = 64 * 1024
    google_client_ids: tuple[str, ...] = ()
    google_issuers: tuple[str, ...] = ("https://accounts.google.com", "accounts.google.com")
    google_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    google_jwks_cache_s: int = 3600
    purge_interval_s: int = 300
    presignature_max_age_s: int = 7 * 24 * 3600
    """Available presignatures older than this are discarded by the periodic purge (0: never)."""
    dev_secrets_file: str | None = None
    """Where development secrets came from, when they did (for the startup warning)."""

    def __post_init__(self) -> None:
        if not self.rp_id or not self.origins:
            raise SettingsError("COSIGNER_RP_ID and COSIGNER_ORIGINS must not be empty")
        _in_range("THRESHOLD_SESSION_TTL_S", self.threshold_session_ttl_s, 1, 600)
        _in_range("THRESHOLD_SESSION_MAX_USES", self.threshold_session_max_uses, 1, 20)
        _in_range("APP_SESSION_TTL_S", self.app_session_ttl_s, 60, 90 * 24 * 3600)
        _in_range("CHALLENGE_TTL_S", self.challenge_ttl_s, 10, 3600)
        _in_range("SIGNING_SESSION_TTL_S", self.signing_session_ttl_s, 5, 300)
        _in_range("PRESIGN_SESSION_TTL_S", self.presign_session_ttl_s, 10, 300)
        _in_range("MAX_BODY_BYTES", self.max_body_bytes, 1024, 16 * 1024 * 1024)
        _in_range("PURGE_INTERVAL_S", self.purge_interval_s, 0, 24 * 3600)
        if self.presignature_max_age_s != 0:
            _in_range("PRESIGNATURE_MAX_AGE_S", self.presignature_max_age_s, 60, 365 * 24 * 3600)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def google_enabled(self) -> bool:
        return bool(self.google_client_ids)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``COSIGNER_*`` variables; generates development secrets where allowed."""
        env = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return env.get(PREFIX + name, default).strip()

        environment = get("ENV", "development").lower()
        if environment not in ("development", "production"):
            raise SettingsError("COSIGNER_ENV is development or production")
        store_url = get("STORE_URL", DEFAULT_STORE_URL)
        found = {
            attr: Secret.from_b64url(env[PREFIX + name], PREFIX + name)
            for attr, name in _SECRET_NAMES.items()
            if env.get(PREFIX + name, "").strip()
        }
        dev_file: str | None = None
        if environment == "production":
            if "session_secret" not in found:
                raise SettingsError(
                    "COSIGNER_ENV=production and COSIGNER_SESSION_SECRET is not set: set it "
                    "(base64url, 32 bytes or more) in the environment"
                )
        elif len(found) < len(_SECRET_NAMES):
            override = get("SECRETS_FILE", "")
            if override or _is_local(store_url):
                path = _dev_secrets_path(store_url, override)
                generated = _load_or_create_dev_secrets(path) if path else _ephemeral()
                for attr, value in generated.items():
                    found.setdefault(attr, value)
                dev_file = str(path) if path is not None else "(in memory)"
            elif "session_secret" not in found:
                raise SettingsError(
                    "a shared store (PostgreSQL, Redis) needs COSIGNER_SESSION_SECRET and the "
                    "master secrets in the environment, the same on every instance"
                )
        return cls(
            session_secret=found["session_secret"],
            ed25519_master_secret=found.get("ed25519_master_secret"),
            secp256k1_master_secret=found.get("secp256k1_master_secret"),
            store_url=store_url,
            environment=environment,
            rp_id=get("RP_ID", "localhost"),
            rp_name=get("RP_NAME", "cosigner"),
            origins=_list(get("ORIGINS", "http://localhost:8080")),
            require_user_verification=_bool("REQUIRE_USER_VERIFICATION", get, True),
            app_session_ttl_s=_int("APP_SESSION_TTL_S", get, 24 * 3600),
            threshold_session_ttl_s=_int("THRESHOLD_SESSION_TTL_S", get, 600),
            threshold_session_max_uses=_int("THRESHOLD_SESSION_MAX_USES", get, 20),
            challenge_ttl_s=_int("CHALLENGE_TTL_S", get, 300),
            signing_session_ttl_s=_int("SIGNING_SESSION_TTL_S", get, 60),
            presign_session_ttl_s=_int("PRESIGN_SESSION_TTL_S", get, 120),
            max_body_bytes=_int("MAX_BODY_BYTES", get, 64 * 1024),
            google_client_ids=_list(get("GOOGLE_CLIENT_IDS", "")),
            google_issuers=_list(
                get("GOOGLE_ISSUERS", "https://accounts.google.com,accounts.google.com")
            ),
            google_jwks_url=get("GOOGLE_JWKS_URL", "https://www.googleapis.com/oauth2/v3/certs"),
            google_jwks_cache_s=_int("GOOGLE_JWKS_CACHE_S", get, 3600),
            purge_interval_s=_int("PURGE_INTERVAL_S", get, 300),
            presignature_max_age_s=_int("PRESIGNATURE_MAX_AGE_S", get, 7 * 24 * 3600),
            dev_secrets_file=dev_file,
        )


def warn_about_dev_secrets(settings: Settings) -> None:
    """The loud warning about development secrets; a warning per disabled scheme."""
    for name, secret in (
        ("COSIGNER_ED25519_MASTER_SECRET", settings.ed25519_master_secret),
        ("COSIGNER_SECP256K1_MASTER_SECRET", settings.secp256k1_master_secret),
    ):
        if secret is None:
            log.warning("%s is not set: that threshold scheme is disabled", name)
    if settings.dev_secrets_file is None:
        return
    lines = [
        "!" * 78,
        "!! cosigner is using DEVELOPMENT secrets from " + settings.dev_secrets_file,
        "!! Every relayer share derives from them: lose the file and every key is lost;",
        "!! leak it and every relayer share leaks. For production set COSIGNER_ENV=production",
        "!! and COSIGNER_SESSION_SECRET, COSIGNER_ED25519_MASTER_SECRET and",
        "!! COSIGNER_SECP256K1_MASTER_SECRET (base64url, 32+ bytes) from a secret manager.",
        "!" * 78,
    ]
    for line in lines:
        log.warning(line)


# -- parsing helpers ---------------------------------------------------------------------


def _decode_secret(text: str, name: str) -> bytes:
    text = text.strip()
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise SettingsError(f"{name} must be unpadded base64url")
    try:
        value = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SettingsError(f"{name} must be unpadded base64url") from None
    if len(value) < MIN_SECRET_BYTES:
        raise SettingsError(f"{name} must decode to at least {MIN_SECRET_BYTES} bytes")
    return value


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _int(name: str, get: Getter, default: int) -> int:
    text = get(name, str(default))
    try:
        return int(text)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a whole number") from None


def _bool(name: str, get: Getter, default: bool) -> bool:
    text = get(name, "1" if default else "0").lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{PREFIX}{name} must be true or false")


def _in_range(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise SettingsError(f"{PREFIX}{name} must be between {low} and {high}")


# -- development secrets -----------------------------------------------------------------


def _is_local(store_url: str) -> bool:
    return store_url.split("://", 1)[0].lower() in ("sqlite", "memory")


def _dev_secrets_path(store_url: str, override: str) -> Path | None:
    """Beside the SQLite file, or None for an in-memory store."""
    if override:
        return Path(override)
    if not store_url.lower().startswith("sqlite:///"):
        return None
    db = Path(store_url[len("sqlite:///") :].split("?", 1)[0])
    return db.parent / DEV_SECRETS_FILE


def _ephemeral() -> dict[str, Secret]:
    return {attr: Secret.generate() for attr in _SECRET_NAMES}


def _load_or_create_dev_secrets(path: Path) -> dict[str, Secret]:
    """Read the file, or create it with fresh secrets (mode 0600, never overwritten)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_dev_secrets(path)
    except OSError as exc:
        raise SettingsError(f"cannot create the development secrets file: {exc}") from None
    values = _ephemeral()
    text = json.dumps({attr: s.to_b64url() for attr, s in values.items()}, indent=2)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return values


def _read_dev_secrets(path: Path) -> dict[str, Secret]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SettingsError(
            f"the development secrets file is readable by others (mode {mode:o}); chmod 600 it"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SettingsError("the development secrets file is not readable JSON") from None
    if not isinstance(data, dict):
        raise SettingsError("the development secrets file is not a JSON object")
    out: dict[str, Secret] = {}
    for attr in _SECRET_NAMES:
        value = data.get(attr)
        if isinstance(value, str):
            out[attr] = Secret.from_b64url(value, f"{path.name}:{attr}")
    if "session_secret" not in out or "ed25519_master_secret" not in out:
        raise SettingsError("the development secrets file lacks a secret; restore it")
    return out
