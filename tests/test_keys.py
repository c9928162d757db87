"""Two-party share derivation (cosigner.keys): pinned vectors, the documented framing, FROST use."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner import frost, keys
from cosigner.groups import ED25519, SECP256K1

VECTORS = json.loads((Path(__file__).parent / "vectors" / "keys_v1.json").read_text())["cases"]


def _group(scheme_id: str):  # type: ignore[no-untyped-def]
    return keys.scheme(scheme_id).group


@pytest.mark.parametrize("case", VECTORS, ids=lambda c: f"{c['scheme_id']}:{c['user_id']}")
def test_pinned_vectors(case: dict[str, str]) -> None:
    sid = case["scheme_id"]
    group = _group(sid)
    xc = keys.derive_client_share(
        bytes.fromhex(case["prf_first"]),
        user_id=case["user_id"],
        rp_id=case["rp_id"],
        scheme_id=sid,
    )
    assert group.encode_scalar(xc).hex() == case["x_client"]
    cvs = keys.verifying_share(xc, scheme_id=sid)
    assert cvs.hex() == case["client_verifying_share"]
    xr = keys.derive_relayer_share(
        bytes.fromhex(case["master_secret"]),
        user_id=case["user_id"],
        rp_id=case["rp_id"],
        client_verifying_share=cvs,
        scheme_id=sid,
    )
    assert group.encode_scalar(xr).hex() == case["x_relayer"]
    rvs = keys.verifying_share(xr, scheme_id=sid)
    assert rvs.hex() == case["relayer_verifying_share"]
    s = keys.scheme(sid)
    assert group.encode_scalar(s.client_share(xc)).hex() == case["client_protocol_share"]
    assert group.encode_scalar(s.relayer_share(xr)).hex() == case["relayer_protocol_share"]
    gpk = keys.group_public_key(cvs, rvs, scheme_id=sid)
    assert gpk.hex() == case["group_public_key"]
    assert group.base_mul(xc + xr).to_bytes() == gpk
    if "ethereum_address" in case:
        assert keys.ethereum_address(gpk) == case["ethereum_address"]
        x = (xc + xr) % SECP256K1.order
        assert Account.from_key(x.to_bytes(32, "big")).address == case["ethereum_address"]


def _hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 written out, independent of the library the module uses."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _lp(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


@pytest.mark.parametrize("case", VECTORS, ids=lambda c: f"{c['scheme_id']}:{c['user_id']}")
def test_documented_framing(case: dict[str, str]) -> None:
    """The docstring's recipe, followed literally, gives the pinned values."""
    sid = case["scheme_id"]
    order = _group(sid).order
    salt = b"cosigner/2p-share/v1/" + sid.encode()
    user, rp = case["user_id"].encode(), case["rp_id"].encode()
    info = b"client-share" + _lp(user) + _lp(rp) + b"\x00"
    okm = _hkdf(bytes.fromhex(case["prf_first"]), salt, info, 48)
    xc = int.from_bytes(okm, "big") % order
    assert _group(sid).encode_scalar(xc).hex() == case["x_client"]
    info = (
        b"relayer-share"
        + _lp(user)
        + _lp(rp)
        + _lp(bytes.fromhex(case["client_verifying_share"]))
        + b"\x00"
    )
    okm = _hkdf(bytes.fromhex(case["master_secret"]), salt, info, 48)
    assert _group(sid).encode_scalar(int.from_bytes(okm, "big") % order).hex() == case["x_relayer"]


@settings(max_examples=25, deadline=None)
@given(
    prf=st.binary(min_size=32, max_size=64),
    user=st.text(min_size=1, max_size=20),
    rp=st.text(min_size=1, max_size=20),
)
def test_domain_separation(prf: bytes, user: str, rp: str) -> None:
    a = keys.derive_client_share(prf, user_id=user, rp_id=rp)
    assert a == keys.derive_client_share(prf, user_id=user, rp_id=rp)
    assert 0 < a < SECP256K1.order
    assert a != keys.derive_client_share(prf, user_id=user + "x", rp_id=rp)
    assert a != keys.derive_client_share(prf, user_id=user, rp_id=rp + "x")
    b = keys.derive_client_share(prf, user_id=user, rp_id=rp, scheme_id=keys.SCHEME_ED25519_2P_V1)
    assert 0 < b < ED25519.order and b != a


def test_relayer_share_is_bound_to_the_client_share() -> None:
    master = bytes(range(32))
    v1 = keys.verifying_share(5)
    v2 = keys.verifying_share(6)
    r1 = keys.derive_relayer_share(master, user_id="u", rp_id="r", client_verifying_share=v1)
    r2 = keys.derive_relayer_share(master, user_id="u", rp_id="r", client_verifying_share=v2)
    assert r1 != r2


def test_bad_inputs_get_typed_errors() -> None:
    with pytest.raises(keys.KeyDerivationError):
        keys.derive_client_share(b"short", user_id="u", rp_id="r")
    with pytest.raises(keys.KeyDerivationError):
        keys.derive_client_share(bytes(32), user_id="", rp_id="r")
    with pytest.raises(keys.KeyDerivationError):
        keys.derive_client_share(bytes(32), user_id="u", rp_id="r", scheme_id="nope")
    with pytest.raises(keys.KeyDerivationError):
        keys.derive_relayer_share(
            bytes(32), user_id="u", rp_id="r", client_verifying_share=b"\x02" + bytes(32)
        )
    with pytest.raises(keys.KeyDerivationError):
        keys.group_public_key(keys.verifying_share(5), keys.verifying_share(SECP256K1.order - 5))
    with pytest.raises(keys.KeyDerivationError):
        keys.ethereum_address(b"\x05" * 33)


def test_frost_two_party_v1_signs_under_the_additive_key() -> None:
    case = next(c for c in VECTORS if c["scheme_id"] == keys.SCHEME_ED25519_2P_V1)
    xc = ED25519.decode_scalar(bytes.fromhex(case["x_client"]))
    xr = ED25519.decode_scalar(bytes.fromhex(case["x_relayer"]))
    packages, public = keys.frost_two_party_v1(xc, xr)
    assert public.verifying_key.to_bytes().hex() == case["group_public_key"]
    message = b"two-party FROST"
    n1, c1 = frost.commit(packages[1])
    n2, c2 = frost.commit(packages[2])
    package = frost.SigningPackage("ed25519", {1: c1, 2: c2}, message)
    shares = {1: frost.sign(package, n1, packages[1]), 2: frost.sign(package, n2, packages[2])}
    signature = frost.aggregate(package, shares, public)
    Ed25519PublicKey.from_public_bytes(public.verifying_key.to_bytes()).verify(signature, message)
    with pytest.raises(keys.KeyDerivationError):
        keys.frost_two_party_v1(5, ED25519.order - 5)
