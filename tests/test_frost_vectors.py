"""Every JSON vector file under COSIGNER_FROST_VECTORS, dispatched on its schema.

The folder (default ``../shared/vectors/frost`` next to the repository) holds
one subfolder per ciphersuite. Each file is checked according to what it
contains, so a new file in a known schema needs no code change:

* RFC 9591 Appendix E / ZF ``vectors.json``: ``round_one_outputs`` ...
* ZF ``vectors_dkg.json``: numbered participants with proofs of knowledge;
* ZF ``repair-share.json``: ``scalar_generation`` / ``sigma_generation``;
* ZF ``elements.json``: an element that must not decode;
* ZF ``samples.json``: sample values our encodings must accept and round-trip.

Files of a ciphersuite cosigner does not implement are reported as skipped,
by name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import coincurve
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner import frost
from cosigner.errors import DecodeError
from cosigner.frost.keys import KeyPackage, PublicKeyPackage, split
from cosigner.frost.round1 import SigningNonces
from cosigner.groups import Secp256k1Element
from frost_vector_checks import check_dkg_vector, check_repair_vector

REPO = Path(__file__).resolve().parent.parent
VECTORS = Path(
    os.environ.get("COSIGNER_FROST_VECTORS", REPO.parent / "shared" / "vectors" / "frost")
)

# Config names as the files spell them, for files outside a suite-named folder.
CONFIG_NAMES = {
    "FROST(Ed25519, SHA-512)": "ed25519",
    "FROST(secp256k1, SHA-256)": "secp256k1",
    "FROST(ristretto255, SHA-512)": "ristretto255",
    "FROST(secp256k1, SHA-256, TR)": "secp256k1-tr",
}
IMPLEMENTED = {s.name for s in frost.all_ciphersuites()}


def _files() -> list[Path]:
    if not VECTORS.is_dir():
        return []
    return sorted(VECTORS.glob("*/*.json"))


def _suite_for(path: Path, data: dict[str, Any]) -> str | None:
    # The folder names the ciphersuite; some ZF files carry a copied config name
    # (secp256k1-tr says secp256k1, ristretto255's DKG file says Ed25519).
    folder = path.parent.name
    if folder in IMPLEMENTED:
        return folder
    if folder in {"p256", "ed448"}:
        return None
    config = data.get("config", {})
    return CONFIG_NAMES.get(config.get("name", ""))


def test_vector_folder_present() -> None:
    assert VECTORS.is_dir(), f"FROST vectors not found at {VECTORS}; set COSIGNER_FROST_VECTORS"
    assert _files(), f"no vector files under {VECTORS}"


@pytest.mark.parametrize("path", _files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_vector_file(path: Path) -> None:
    data = json.loads(path.read_text())
    suite_name = _suite_for(path, data)
    if suite_name is None:
        pytest.skip(f"ciphersuite of {path.parent.name}/{path.name} is not implemented")
    suite = frost.ciphersuite(suite_name)
    if "round_one_outputs" in data:
        check_signing_vector(suite, data)
    elif "scalar_generation" in data or "sigma_generation" in data:
        check_repair_vector(suite, data)
    elif "elements" in data:
        check_elements_vector(suite, data)
    elif isinstance(data.get("inputs"), dict) and "1" in data["inputs"]:
        check_dkg_vector(suite, data)
    elif {"identifier", "element1", "element2", "scalar1"} <= set(data):
        check_samples_vector(suite, data)
    else:
        pytest.fail(f"{path.parent.name}/{path.name}: unknown vector schema")


def _h(x: str) -> bytes:
    return bytes.fromhex(x)


def check_signing_vector(suite: frost.Ciphersuite, data: dict[str, Any]) -> None:
    """RFC 9591 Appendix E: key shares, nonces, binding factors, shares and signature."""
    config, inputs = data["config"], data["inputs"]
    min_signers = int(config["MIN_PARTICIPANTS"])
    max_signers = int(config["MAX_PARTICIPANTS"])
    group = suite.group
    message = _h(inputs["message"])
    vk_hex = inputs.get("group_public_key") or inputs["verifying_key_key"]
    verifying_key = suite.decode_element(_h(vk_hex))

    # Appendix C: the dealer's polynomial gives exactly the listed shares.
    secret = suite.decode_scalar(_h(inputs["group_secret_key"]))
    assert group.base_mul(secret) == verifying_key
    coefficients = [suite.decode_scalar(_h(c)) for c in inputs["share_polynomial_coefficients"]]
    shares, public = split(suite, secret, min_signers, max_signers, coefficients=coefficients)
    listed = {p["identifier"]: _h(p["participant_share"]) for p in inputs["participant_shares"]}
    assert {int(i): suite.encode_scalar(s.signing_share) for i, s in shares.items()} == listed
    assert public.verifying_key == verifying_key

    key_packages = {
        i: KeyPackage.from_secret_share(s) for i, s in shares.items() if int(i) in listed
    }
    participants = [int(i) for i in inputs["participant_list"]]

    # Round one: nonces from the recorded randomness, then commitments.
    nonces: dict[int, SigningNonces] = {}
    for out in data["round_one_outputs"]["outputs"]:
        ident = int(out["identifier"])
        share_enc = suite.encode_scalar(key_packages[ident].signing_share)
        hiding = suite.H3(_h(out["hiding_nonce_randomness"]) + share_enc)
        binding = suite.H3(_h(out["binding_nonce_randomness"]) + share_enc)
        assert suite.encode_scalar(hiding).hex() == out["hiding_nonce"]
        assert suite.encode_scalar(binding).hex() == out["binding_nonce"]
        nonces[ident] = SigningNonces(suite, hiding, binding)
        c = nonces[ident].commitments
        assert c.hiding.to_bytes().hex() == out["hiding_nonce_commitment"]
        assert c.binding.to_bytes().hex() == out["binding_nonce_commitment"]
    assert sorted(nonces) == sorted(participants)

    package = frost.SigningPackage(suite, {i: nonces[i].commitments for i in participants}, message)
    effective_key = suite.pre_aggregate(public).verifying_key
    inputs_by_id = package.binding_factor_inputs(effective_key)
    factors = package.signing_data(effective_key).binding_factors
    for out in data["round_one_outputs"]["outputs"]:
        ident = int(out["identifier"])
        assert inputs_by_id[frost.Identifier(ident)].hex() == out["binding_factor_input"]
        assert suite.encode_scalar(factors[frost.Identifier(ident)]).hex() == out["binding_factor"]

    # Round two.
    sig_shares = {i: frost.sign(package, nonces[i], key_packages[i]) for i in participants}
    for out in data["round_two_outputs"]["outputs"]:
        ident = int(out["identifier"])
        assert suite.encode_scalar(sig_shares[ident].share).hex() == out["sig_share"]
        frost.verify_signature_share(package, ident, sig_shares[ident], public)

    # Aggregate, and check the signature with our verifier and an independent one.
    signature = frost.aggregate(package, sig_shares, public)
    assert signature.hex() == data["final_output"]["sig"]
    frost.verify(suite, verifying_key, message, signature)
    _independent_verify(suite, verifying_key, message, signature)
    with pytest.raises(frost.InvalidSignature):
        frost.verify(suite, verifying_key, message + b"!", signature)
    # The public key package also round-trips through our encodings.
    assert PublicKeyPackage.from_bytes(public.to_bytes()) == public


def _independent_verify(
    suite: frost.Ciphersuite, key: Any, message: bytes, signature: bytes
) -> None:
    if suite.name == "ed25519":
        Ed25519PublicKey.from_public_bytes(key.to_bytes()).verify(signature, message)
    elif suite.name == "secp256k1-tr":
        assert isinstance(key, Secp256k1Element)
        assert coincurve.PublicKeyXOnly(key.x_only()).verify(signature, message)


def check_elements_vector(suite: frost.Ciphersuite, data: dict[str, Any]) -> None:
    """ZF elements.json: the invalid element fails DeserializeElement with a typed error."""
    invalid = _h(data["elements"]["invalid_element"])
    with pytest.raises(DecodeError):
        suite.decode_element(invalid)
    # Also inside a larger object: a VSS commitment carrying it.
    good = suite.group.base_mul(7).to_bytes()
    share = frost.SecretShare(suite, 1, 7, [suite.group.base_mul(7), suite.group.base_mul(9)])
    encoded = share.to_bytes()
    assert good in encoded
    corrupted = encoded.replace(good, invalid[: len(good)].ljust(len(good), b"\x00"), 1)
    with pytest.raises(DecodeError):
        frost.SecretShare.from_bytes(corrupted)


def check_samples_vector(suite: frost.Ciphersuite, data: dict[str, Any]) -> None:
    """ZF samples.json: the sample values decode and our objects built from them round-trip."""
    ident = frost.Identifier.for_suite(suite, suite.decode_scalar(_h(data["identifier"])))
    e1 = suite.decode_element(_h(data["element1"]))
    e2 = suite.decode_element(_h(data["element2"]))
    scalar = suite.decode_scalar(_h(data["scalar1"]))
    r, z = suite.deserialize_signature(_h(data["proof_of_knowledge"]))
    assert suite.serialize_signature(r, z).hex() == data["proof_of_knowledge"]
    commitments = frost.SigningCommitments(suite, e1, e2)
    assert frost.SigningCommitments.from_bytes(commitments.to_bytes()) == commitments
    share = frost.SignatureShare(suite, scalar)
    assert frost.SignatureShare.from_json(share.to_json()) == share
    public = frost.PublicKeyPackage(suite, {ident: e1}, e2, None)
    assert frost.PublicKeyPackage.from_bytes(public.to_bytes()) == public
