"""Signer engines: map a SignRequest and a key reference to a signature.

* :class:`LocalKeyEngine` holds whole private keys (Ed25519 seeds and
  secp256k1 secrets). It is the export escape hatch, not the default.
* :class:`FrostEngine` runs FROST(Ed25519) among share holders in process
  (the co-signing server and the multisig coordinator reuse it).
* :class:`ThresholdEcdsaEngine` runs threshold ECDSA (triples, presign, sign)
  among secp256k1 share holders in process.

secp256k1 engines return 65 bytes ``r || s || recovery_id`` with low ``s``
(libsecp256k1 always produces low ``s``). Ed25519 engines return the 64-byte
RFC 8032 signature of the request's message bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from coincurve import PrivateKey
from nacl.signing import SigningKey

from cosigner import ecdsa, frost
from cosigner.chains.errors import EngineError
from cosigner.chains.intent import SignRequest


class SignerEngine(Protocol):
    def sign(self, request: SignRequest, key_ref: str) -> bytes: ...


class LocalKeyEngine:
    """Whole keys in this process, by reference. Never prints a key."""

    def __init__(self) -> None:
        self._ed25519: dict[str, SigningKey] = {}
        self._secp256k1: dict[str, PrivateKey] = {}

    def add_ed25519(self, key_ref: str, seed: bytes) -> bytes:
        """Register an Ed25519 key from its 32-byte seed; returns the public key."""
        if len(seed) != 32:
            raise EngineError("an Ed25519 seed is 32 bytes")
        key = SigningKey(bytes(seed))
        self._ed25519[key_ref] = key
        return bytes(key.verify_key)

    def add_secp256k1(self, key_ref: str, secret: bytes) -> bytes:
        """Register a secp256k1 key from its 32-byte secret; returns the compressed public key."""
        try:
            key = PrivateKey(bytes(secret))
        except Exception:
            raise EngineError("not a valid secp256k1 secret key") from None
        self._secp256k1[key_ref] = key
        return bytes(key.public_key.format(compressed=True))

    def public_key(self, key_ref: str) -> bytes:
        if key_ref in self._ed25519:
            return bytes(self._ed25519[key_ref].verify_key)
        if key_ref in self._secp256k1:
            return bytes(self._secp256k1[key_ref].public_key.format(compressed=True))
        raise EngineError(f"unknown key reference {key_ref!r}")

    def sign(self, request: SignRequest, key_ref: str) -> bytes:
        if request.algorithm == "ed25519":
            ed = self._ed25519.get(key_ref)
            if ed is None:
                raise EngineError(f"no Ed25519 key named {key_ref!r}")
            return bytes(ed.sign(request.message).signature)
        if request.algorithm == "secp256k1":
            k1 = self._secp256k1.get(key_ref)
            if k1 is None:
                raise EngineError(f"no secp256k1 key named {key_ref!r}")
            if not request.prehashed:
                raise EngineError("secp256k1 requests must carry a 32-byte digest")
            return bytes(k1.sign_recoverable(request.message, hasher=None))
        raise EngineError(f"the local-key engine does not sign {request.algorithm}")

    def __repr__(self) -> str:
        return f"LocalKeyEngine(keys={sorted([*self._ed25519, *self._secp256k1])})"


class FrostEngine:
    """FROST(Ed25519) among share holders, run in process."""

    def __init__(self) -> None:
        self._groups: dict[
            str, tuple[dict[frost.Identifier, frost.KeyPackage], frost.PublicKeyPackage]
        ] = {}

    def add_group(
        self,
        key_ref: str,
        key_packages: Mapping[int, frost.KeyPackage],
        public_key_package: frost.PublicKeyPackage,
    ) -> bytes:
        """Register the share holders that will sign for ``key_ref``; returns the group key."""
        if public_key_package.suite.name != "ed25519":
            raise EngineError("the FROST engine signs chain requests with FROST(Ed25519)")
        packages = {frost.Identifier(i): kp for i, kp in key_packages.items()}
        self._groups[key_ref] = (packages, public_key_package)
        return public_key_package.verifying_key.to_bytes()

    def public_key(self, key_ref: str) -> bytes:
        try:
            return self._groups[key_ref][1].verifying_key.to_bytes()
        except KeyError:
            raise EngineError(f"unknown key reference {key_ref!r}") from None

    def sign(
        self, request: SignRequest, key_ref: str, signers: Sequence[int] | None = None
    ) -> bytes:
        if request.algorithm != "ed25519":
            raise EngineError(f"the FROST engine does not sign {request.algorithm}")
        group = self._groups.get(key_ref)
        if group is None:
            raise EngineError(f"unknown key reference {key_ref!r}")
        packages, public = group
        chosen = [frost.Identifier(i) for i in signers] if signers else list(packages)
        min_signers = next(iter(packages.values())).min_signers
        chosen = chosen[:min_signers]
        if len(chosen) < min_signers or any(i not in packages for i in chosen):
            raise EngineError(f"{min_signers} known share holders are needed to sign")
        round_one = {i: frost.commit(packages[i]) for i in chosen}
        package = frost.SigningPackage(
            public.suite, {i: c for i, (_, c) in round_one.items()}, request.message
        )
        shares = {i: frost.sign(package, n, packages[i]) for i, (n, _) in round_one.items()}
        return frost.aggregate(package, shares, public)

    def __repr__(self) -> str:
        return f"FrostEngine(groups={sorted(self._groups)})"


class ThresholdEcdsaEngine:
    """Threshold ECDSA on secp256k1 among share holders, run in process."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[int, ecdsa.KeyShare]] = {}

    def add_group(self, key_ref: str, shares: Mapping[int, ecdsa.KeyShare]) -> bytes:
        """Register the share holders that will sign for ``key_ref``; returns the group key."""
        if not shares:
            raise EngineError("no key shares given")
        keys = {share.public_key for share in shares.values()}
        if len(keys) != 1:
            raise EngineError("the key shares belong to different group keys")
        self._groups[key_ref] = dict(shares)
        return keys.pop()

    def public_key(self, key_ref: str) -> bytes:
        group = self._groups.get(key_ref)
        if group is None:
            raise EngineError(f"unknown key reference {key_ref!r}")
        return next(iter(group.values())).public_key

    def sign(
        self, request: SignRequest, key_ref: str, signers: Sequence[int] | None = None
    ) -> bytes:
        if request.algorithm != "secp256k1" or not request.prehashed:
            raise EngineError("the threshold ECDSA engine signs 32-byte secp256k1 digests")
        group = self._groups.get(key_ref)
        if group is None:
            raise EngineError(f"unknown key reference {key_ref!r}")
        threshold = next(iter(group.values())).threshold
        chosen = list(signers) if signers else sorted(group)
        chosen = chosen[:threshold]
        if len(chosen) < threshold or any(i not in group for i in chosen):
            raise EngineError(f"{threshold} known share holders are needed to sign")
        signature = ecdsa.sign_local({i: group[i] for i in chosen}, request.message)
        return signature.to_bytes()

    def __repr__(self) -> str:
        return f"ThresholdEcdsaEngine(groups={sorted(self._groups)})"
