"""Identity keys sealed with a passphrase, login statements, and end-to-end envelopes.

* sealing round-trips; a wrong passphrase, an edited header or a swapped
  public key fails; passphrases are compared after NFC normalization; keys
  and owners never print or pickle their secrets;
* envelopes open only for their recipient, authenticate their sender (also
  for a coordinator that cannot decrypt), bind their context, and reveal one
  envelope's key for a complaint without opening any other;
* the envelope and sealed-file decoders, fuzzed, raise only typed errors.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosigner.errors import DecodeError
from cosigner.multisig import Owner
from cosigner.multisig.e2e import (
    Envelope,
    envelope_key,
    open_envelope,
    open_with_key,
    seal,
)
from cosigner.multisig.errors import (
    IdentityDecodeError,
    InvalidEnvelope,
    InvalidIdentityKey,
    InvalidIdentitySignature,
    InvalidLoginSignature,
    WrongPassphrase,
)
from cosigner.multisig.identity import (
    MEMLIMIT_MIN,
    OPSLIMIT_MIN,
    IdentityKey,
    LoginChallenge,
    check_identity_key,
    login_statement,
    open_secret,
    sealed_metadata,
    verify_identity_signature,
    verify_login,
)

from .helpers import identity

FAST = {"opslimit": OPSLIMIT_MIN, "memlimit": MEMLIMIT_MIN}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ALICE, BOB, CAROL = identity(0, "e2e"), identity(1, "e2e"), identity(2, "e2e")


def test_seal_round_trip_and_failures() -> None:
    blob = ALICE.seal("correct horse", **FAST)
    document = json.loads(blob)
    assert (
        document["kdf"] == "argon2id13"
        and document["public"]["public_key"] == ALICE.public_key.hex()
    )
    assert IdentityKey.unseal(blob, "correct horse").public_key == ALICE.public_key
    with pytest.raises(WrongPassphrase):
        IdentityKey.unseal(blob, "wrong horse")
    edited = json.loads(blob)
    edited["public"]["note"] = "added later"
    with pytest.raises(WrongPassphrase):
        IdentityKey.unseal(json.dumps(edited).encode(), "correct horse")
    swapped = json.loads(blob)
    swapped["purpose"] = "something-else"
    with pytest.raises(IdentityDecodeError):
        IdentityKey.unseal(json.dumps(swapped).encode(), "correct horse")
    greedy = json.loads(blob)
    greedy["memlimit"] = 2**40
    with pytest.raises(IdentityDecodeError):
        IdentityKey.unseal(json.dumps(greedy).encode(), "correct horse")
    assert sealed_metadata(blob) == (
        "multisig-identity-key",
        {"public_key": ALICE.public_key.hex()},
    )


def test_passphrases_are_nfc_normalized() -> None:
    composed = unicodedata.normalize("NFC", "contraseña")
    decomposed = unicodedata.normalize("NFD", "contraseña")
    assert composed != decomposed
    blob = BOB.seal(composed, **FAST)
    assert IdentityKey.unseal(blob, decomposed).public_key == BOB.public_key


def test_secrets_do_not_print_or_pickle() -> None:
    owner = Owner(ALICE)
    for obj in (ALICE, owner):
        assert "redacted" in repr(obj)
        with pytest.raises(TypeError):
            pickle.dumps(obj)


def test_identity_keys_and_signatures() -> None:
    with pytest.raises(InvalidIdentityKey):
        check_identity_key(b"\x00" * 31)
    with pytest.raises(InvalidIdentityKey):
        check_identity_key(bytes(32))  # small order
    with pytest.raises(InvalidIdentityKey):
        IdentityKey(b"short")
    signature = ALICE.sign(b"hello")
    verify_identity_signature(ALICE.public_key, b"hello", signature)
    with pytest.raises(InvalidIdentitySignature):
        verify_identity_signature(BOB.public_key, b"hello", signature)
    challenge = LoginChallenge("c_1", b"n" * 32, "cosigner", ALICE.public_key, 0, 100)
    answer = ALICE.sign_login(challenge)
    verify_login(challenge, ALICE.public_key, answer)
    # A login signature is no signature over anything else, and vice versa.
    with pytest.raises(InvalidLoginSignature):
        verify_login(challenge, ALICE.public_key, ALICE.sign(b"n" * 32))
    other = LoginChallenge("c_1", b"n" * 32, "another-server", ALICE.public_key, 0, 100)
    with pytest.raises(InvalidLoginSignature):
        verify_login(other, ALICE.public_key, answer)
    assert login_statement(challenge, ALICE.public_key) != login_statement(other, ALICE.public_key)
    assert LoginChallenge.from_dict(challenge.to_dict()) == challenge


def test_envelope_opens_only_for_its_recipient() -> None:
    envelope = seal(ALICE, BOB.public_key, "g_1", "dkg-1/round2", b"share bytes")
    envelope.verify_signature()  # what the coordinator checks, without decrypting
    assert Envelope.from_bytes(envelope.to_bytes()) == envelope
    assert b"share bytes" not in envelope.to_bytes()
    assert open_envelope(BOB, envelope) == b"share bytes"
    with pytest.raises(InvalidEnvelope):
        open_envelope(CAROL, envelope)
    # Moving the ciphertext to another context, or re-signing it as another sender, fails.
    for forged in (
        Envelope(
            "g_2",
            envelope.round,
            envelope.sender,
            envelope.recipient,
            envelope.ephemeral,
            envelope.ciphertext,
            envelope.signature,
        ),
        Envelope(
            envelope.group_id,
            envelope.round,
            envelope.sender,
            envelope.recipient,
            envelope.ephemeral,
            envelope.ciphertext,
            bytes(64),
        ),
    ):
        with pytest.raises(InvalidEnvelope):
            forged.verify_signature()
    resigned = Envelope(
        envelope.group_id,
        envelope.round,
        CAROL.public_key,
        envelope.recipient,
        envelope.ephemeral,
        envelope.ciphertext,
        b"",
    )
    resigned = Envelope(
        resigned.group_id,
        resigned.round,
        resigned.sender,
        resigned.recipient,
        resigned.ephemeral,
        resigned.ciphertext,
        CAROL.sign(resigned.signed_bytes()),
    )
    resigned.verify_signature()
    with pytest.raises(InvalidEnvelope):
        open_envelope(BOB, resigned)  # the header is the AEAD's associated data


def test_revealed_key_opens_that_envelope_only() -> None:
    first = seal(ALICE, BOB.public_key, "g_1", "dkg-1/round2", b"first")
    second = seal(ALICE, BOB.public_key, "g_1", "dkg-1/round2", b"second")
    key = envelope_key(BOB, first)
    assert open_with_key(first, key) == b"first"
    with pytest.raises(InvalidEnvelope):
        open_with_key(second, key)
    with pytest.raises(InvalidEnvelope):
        envelope_key(CAROL, first)
    with pytest.raises(InvalidEnvelope):
        seal(ALICE, BOB.public_key, "g 1\n", "r", b"")


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_envelope_decoder(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        Envelope.from_bytes(data)


@FUZZ
@given(st.data())
def test_fuzz_envelope_mutations(data: st.DataObject) -> None:
    raw = seal(
        ALICE, BOB.public_key, "g_1", "dkg-1/round2", b"x" * 32, rng=lambda n: b"\x07" * n
    ).to_bytes()
    i = data.draw(st.integers(0, len(raw) - 1))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1 :], raw[:cut], raw + b"\x00"):
        try:
            envelope = Envelope.from_bytes(candidate)
        except DecodeError:
            continue
        try:
            open_envelope(BOB, envelope)
        except InvalidEnvelope:
            continue
        assert candidate == raw


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_fuzz_sealed_file_decoder(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        sealed_metadata(data)
    with contextlib.suppress(DecodeError, WrongPassphrase):
        open_secret("multisig-identity-key", data, "pass")
