"""Settings from the environment, development secrets, and the encryption helpers."""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from cosigner.server import Secret, Settings, SettingsError
from cosigner.server.crypto import (
    ExportKeyError,
    SealedStateError,
    StateCipher,
    open_x25519_export,
    seal_to_x25519,
)
from cosigner.server.sessions import TokenCodec


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_secrets_from_the_environment() -> None:
    env = {
        "COSIGNER_ENV": "production",
        "COSIGNER_SESSION_SECRET": b64u(b"a" * 32),
        "COSIGNER_ED25519_MASTER_SECRET": b64u(b"b" * 48),
        "COSIGNER_STORE_URL": "postgresql://db/cosigner",
        "COSIGNER_ORIGINS": "https://a.example, https://b.example",
        "COSIGNER_RP_ID": "a.example",
        "COSIGNER_THRESHOLD_SESSION_MAX_USES": "5",
    }
    settings = Settings.from_env(env)
    assert settings.session_secret.reveal() == b"a" * 32
    assert settings.origins == ("https://a.example", "https://b.example")
    assert settings.threshold_session_max_uses == 5
    assert settings.secp256k1_master_secret is None and settings.dev_secrets_file is None
    text = repr(settings) + str(settings.session_secret)
    assert b64u(b"a" * 32) not in text and "aaaa" not in text and "<redacted>" in text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COSIGNER_SESSION_SECRET", "too-short"),
        ("COSIGNER_SESSION_SECRET", "a" * 43 + "="),
        ("COSIGNER_THRESHOLD_SESSION_TTL_S", "601"),
        ("COSIGNER_THRESHOLD_SESSION_MAX_USES", "21"),
        ("COSIGNER_MAX_BODY_BYTES", "lots"),
        ("COSIGNER_ENV", "staging"),
    ],
)
def test_bad_values_are_refused(name: str, value: str) -> None:
    env = {
        "COSIGNER_ENV": "production",
        "COSIGNER_SESSION_SECRET": b64u(b"a" * 32),
        "COSIGNER_ED25519_MASTER_SECRET": b64u(b"b" * 32),
        name: value,
    }
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert value not in caught.value.message or name == "COSIGNER_ENV"


def test_production_needs_the_session_secret_and_disables_schemes_without_one() -> None:
    with pytest.raises(SettingsError, match="COSIGNER_SESSION_SECRET"):
        Settings.from_env({"COSIGNER_ENV": "production"})
    settings = Settings.from_env(
        {"COSIGNER_ENV": "production", "COSIGNER_SESSION_SECRET": b64u(b"a" * 32)}
    )
    assert settings.ed25519_master_secret is None and settings.dev_secrets_file is None


def test_shared_store_needs_secrets_even_in_development() -> None:
    with pytest.raises(SettingsError, match="shared store"):
        Settings.from_env({"COSIGNER_STORE_URL": "redis://localhost:6379/0"})
    settings = Settings.from_env(
        {
            "COSIGNER_STORE_URL": "redis://localhost:6379/0",
            "COSIGNER_SESSION_SECRET": b64u(b"a" * 32),
            "COSIGNER_ED25519_MASTER_SECRET": b64u(b"b" * 32),
        }
    )
    assert settings.secp256k1_master_secret is None and settings.dev_secrets_file is None


def test_development_secrets_are_made_once_beside_the_database(tmp_path: Path) -> None:
    env = {"COSIGNER_STORE_URL": f"sqlite:///{tmp_path}/cosigner.db"}
    first = Settings.from_env(env)
    path = tmp_path / "cosigner.secrets"
    assert first.dev_secrets_file == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = Settings.from_env(env)
    assert second.session_secret.reveal() == first.session_secret.reveal()
    assert first.ed25519_master_secret is not None and second.ed25519_master_secret is not None
    assert second.ed25519_master_secret.reveal() == first.ed25519_master_secret.reveal()
    os.chmod(path, 0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        Settings.from_env(env)


def test_loud_warning(caplog: pytest.LogCaptureFixture) -> None:
    from cosigner.server.settings import warn_about_dev_secrets

    settings = Settings.from_env({"COSIGNER_STORE_URL": "memory://"})
    with caplog.at_level(logging.WARNING, logger="cosigner.server"):
        warn_about_dev_secrets(settings)
    text = caplog.text
    assert "DEVELOPMENT secrets" in text and "COSIGNER_ENV=production" in text
    assert settings.session_secret.to_b64url() not in text


def test_state_cipher_binds_kind_and_id() -> None:
    cipher = StateCipher(b"m" * 32, "threshold-ed25519-frost-2p-v1")
    blob = cipher.seal(b"nonces", kind="sign", record_id="abc")
    assert b"nonces" not in blob
    assert cipher.open(blob, kind="sign", record_id="abc") == b"nonces"
    for kind, record_id in (("sign", "abd"), ("other", "abc")):
        with pytest.raises(SealedStateError):
            cipher.open(blob, kind=kind, record_id=record_id)
    other = StateCipher(b"m" * 32, "threshold-secp256k1-ecdsa-2p-v1")
    with pytest.raises(SealedStateError):
        other.open(blob, kind="sign", record_id="abc")
    assert "redacted" in repr(cipher)


def test_export_sealing_round_trip() -> None:
    recipient = X25519PrivateKey.generate()
    public = recipient.public_key().public_bytes_raw()
    sealed = seal_to_x25519(public, b"share", context=b"ctx")
    assert open_x25519_export(recipient, sealed, context=b"ctx") == b"share"
    with pytest.raises(ExportKeyError):
        open_x25519_export(recipient, sealed, context=b"other")
    with pytest.raises(ExportKeyError):
        open_x25519_export(X25519PrivateKey.generate(), sealed, context=b"ctx")
    with pytest.raises(ExportKeyError):
        seal_to_x25519(bytes(32), b"share", context=b"ctx")


def test_token_codec_never_prints_its_key() -> None:
    codec = TokenCodec(Secret(b"k" * 32).reveal(), lambda: 0)
    assert "k" * 8 not in repr(codec)
