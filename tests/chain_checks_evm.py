"""Checker for ``vectors/chains/evm/*.json``, called by test_chain_vectors.py.

Each vector is recognized by what it carries, not by its file name:

* ``tx`` and ``signing_hash``: a transaction payload;
* ``raw_signed`` without ``tx``: a signed transaction whose payload is read
  back from its RLP (the EIP-7702 vector is published that way);
* ``typed_data``: an EIP-712 payload;
* ``message_hex``: an EIP-191 personal_sign message.

For every vector: the sign request's bytes equal the published digest, the
``ui_model`` fields rebuild the same request, and where a signature is known
(a private key signed by LocalKeyEngine, or the published r/s) ``finalize``
yields the published raw transaction, hash, signature and signer, accepts
the right ``from`` and refuses a wrong one. An unrecognized vector fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rlp  # type: ignore[import-untyped, unused-ignore]

from cosigner.chains.engines import LocalKeyEngine
from cosigner.chains.errors import FinalizeError
from cosigner.chains.evm import EvmAdapter, parse_transaction, parse_typed_data
from cosigner.chains.evm.messages import personal_sign_preimage
from cosigner.chains.intent import SigningIntent

ADAPTER = EvmAdapter()
OTHER_ADDRESS = "0x000000000000000000000000000000000000dEaD"

_TYPED_FIELDS = {
    1: ["chainId", "nonce", "gasPrice", "gas", "to", "value", "data", "accessList"],
    2: [
        "chainId",
        "nonce",
        "maxPriorityFeePerGas",
        "maxFeePerGas",
        "gas",
        "to",
        "value",
        "data",
        "accessList",
    ],
}
_TYPED_FIELDS[4] = [*_TYPED_FIELDS[2], "authorizationList"]
_ADDRESS_FIELDS = {"to", "address"}
_BYTES_FIELDS = {"data"}


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(value, 16) if value.startswith("0x") else int(value)


def _quantity(raw: bytes) -> str:
    return hex(int.from_bytes(raw, "big"))


def payload_from_raw(raw: bytes) -> tuple[dict[str, Any], int, int, int]:
    """A transaction payload and its (y_parity, r, s), read back from signed bytes."""
    if raw[0] >= 0xC0:
        nonce, gas_price, gas, to, value, data, v, r, s = rlp.decode(raw)
        v_int = int.from_bytes(v, "big")
        chain_id = None if v_int in (27, 28) else (v_int - 35) // 2
        y_parity = (v_int - 27) if chain_id is None else (v_int - 35 - 2 * chain_id)
        payload: dict[str, Any] = {
            "type": 0,
            "chainId": chain_id,
            "nonce": _quantity(nonce),
            "gasPrice": _quantity(gas_price),
            "gas": _quantity(gas),
            "to": "0x" + to.hex() if to else None,
            "value": _quantity(value),
            "data": "0x" + data.hex(),
        }
        return payload, y_parity, int.from_bytes(r, "big"), int.from_bytes(s, "big")
    tx_type = raw[0]
    items = rlp.decode(raw[1:])
    names = _TYPED_FIELDS[tx_type]
    payload = {"type": tx_type}
    for name, item in zip(names, items, strict=False):
        if name == "accessList":
            payload[name] = [
                {"address": "0x" + a.hex(), "storageKeys": ["0x" + k.hex() for k in keys]}
                for a, keys in item
            ]
        elif name == "authorizationList":
            payload[name] = [
                {
                    "chainId": _quantity(c),
                    "address": "0x" + a.hex(),
                    "nonce": _quantity(n),
                    "yParity": _quantity(y),
                    "r": _quantity(r_),
                    "s": _quantity(s_),
                }
                for c, a, n, y, r_, s_ in item
            ]
        elif name in _ADDRESS_FIELDS:
            payload[name] = "0x" + item.hex() if item else None
        elif name in _BYTES_FIELDS:
            payload[name] = "0x" + item.hex()
        else:
            payload[name] = _quantity(item)
    y, r, s = items[len(names) :]
    return payload, int.from_bytes(y, "big"), int.from_bytes(r, "big"), int.from_bytes(s, "big")


def _signature(r: int, s: int, y_parity: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])


def _sign(intent: SigningIntent, private_key_hex: str) -> bytes:
    engine = LocalKeyEngine()
    engine.add_secp256k1("vector", bytes.fromhex(private_key_hex.removeprefix("0x")))
    return engine.sign(intent.sign_requests[0], "vector")


class _File:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.failures: list[str] = []
        self.checked = 0

    def expect(self, name: str, what: str, ours: Any, theirs: Any) -> None:
        if ours != theirs:
            self.failures.append(f"{name}: {what}: ours {ours!r} != vector {theirs!r}")

    def check_rebuild(self, name: str, kind: str, intent: SigningIntent) -> None:
        again = ADAPTER.build_intent(kind, intent.ui_model["fields"])
        self.expect(
            name,
            "sign requests rebuilt from ui_model fields",
            [r.to_dict() for r in again.sign_requests],
            [r.to_dict() for r in intent.sign_requests],
        )
        self.expect(name, "normal form is a fixed point", again.ui_model, intent.ui_model)

    def check_from(
        self, name: str, kind: str, payload: dict[str, Any], signature: bytes, signer: str
    ) -> None:
        right = ADAPTER.build_intent(kind, {**payload, "from": signer.lower()})
        self.expect(name, "finalize with the right from", right.finalize([signature]).chain, "evm")
        wrong = ADAPTER.build_intent(kind, {**payload, "from": OTHER_ADDRESS})
        try:
            wrong.finalize([signature])
        except FinalizeError:
            return
        self.failures.append(f"{name}: finalize accepted a signature not made by 'from'")

    # -- transactions -------------------------------------------------------------

    def transaction(self, vector: dict[str, Any]) -> None:
        name = vector["name"]
        if "tx" in vector:
            payload = dict(vector["tx"])
            known = None
        else:
            payload, y_parity, r, s = payload_from_raw(bytes.fromhex(vector["raw_signed"][2:]))
            known = _signature(r, s, y_parity)
        intent = ADAPTER.build_intent("transaction", payload)
        request = intent.sign_requests[0]
        self.expect(name, "signing hash", "0x" + request.message.hex(), vector["signing_hash"])
        if "signing_preimage" in vector:
            preimage = parse_transaction(payload).signing_preimage()
            self.expect(name, "signing preimage", "0x" + preimage.hex(), vector["signing_preimage"])
        if "type" in vector:
            self.expect(name, "type", intent.ui_model["fields"]["type"], str(_int(vector["type"])))
        self.check_rebuild(name, "transaction", intent)

        if "private_key" in vector:
            signature = _sign(intent, vector["private_key"])
        elif known is not None:
            signature = known
        elif "r" in vector:
            signature = _signature(_int(vector["r"]), _int(vector["s"]), _int(vector["y_parity"]))
        else:
            self.failures.append(f"{name}: no private key, signature or raw transaction")
            return
        result = intent.finalize([signature])
        self.expect(name, "raw signed", "0x" + (result.raw or b"").hex(), vector["raw_signed"])
        self.expect(name, "tx hash", result.hash, vector["tx_hash"])
        extra = result.extra
        if "r" in vector:
            self.expect(name, "r", _int(extra["r"]), _int(vector["r"]))
            self.expect(name, "s", _int(extra["s"]), _int(vector["s"]))
        if "v" in vector:
            self.expect(name, "v", extra["v"], vector["v"])
        if "y_parity" in vector:
            self.expect(name, "yParity", extra["yParity"], vector["y_parity"])
        if "sender" in vector:
            self.expect(name, "sender", extra["from"], vector["sender"])
            self.check_from(name, "transaction", payload, signature, vector["sender"])
        for index, auth in enumerate(intent.ui_model["display"].get("authorizations", [])):
            self.expect(
                name, f"authorization {index} recovers", auth["authority"].startswith("0x"), True
            )
        self.checked += 1

    # -- EIP-712 ------------------------------------------------------------------

    def typed_data(self, vector: dict[str, Any]) -> None:
        name = vector["name"]
        payload = vector["typed_data"]
        intent = ADAPTER.build_intent("typed_data", payload)
        display = intent.ui_model["display"]
        self.expect(name, "digest", "0x" + intent.sign_requests[0].message.hex(), vector["digest"])
        if "domain_separator" in vector:
            self.expect(
                name, "domain separator", display["domainSeparator"], vector["domain_separator"]
            )
        if "struct_hash" in vector:
            self.expect(name, "struct hash", display["messageHash"], vector["struct_hash"])
        encoder = parse_typed_data(payload).encoder
        for key, value in vector.items():
            if key.startswith("encode_type_"):
                self.expect(name, key, encoder.encode_type(key.removeprefix("encode_type_")), value)
            elif key.startswith("type_hash_"):
                type_hash = encoder.type_hash(key.removeprefix("type_hash_"))
                self.expect(name, key, "0x" + type_hash.hex(), value)
        self.check_rebuild(name, "typed_data", intent)
        self._message_signature(name, "typed_data", payload, intent, vector)
        self.checked += 1

    # -- EIP-191 ------------------------------------------------------------------

    def personal_sign(self, vector: dict[str, Any]) -> None:
        name = vector["name"]
        payload: dict[str, Any] = {"message": vector["message_hex"], "encoding": "hex"}
        intent = ADAPTER.build_intent("personal_sign", payload)
        self.expect(
            name, "digest (hex)", "0x" + intent.sign_requests[0].message.hex(), vector["digest"]
        )
        if "message_utf8" in vector:
            text = ADAPTER.build_intent("personal_sign", {"message": vector["message_utf8"]})
            self.expect(
                name,
                "digest (utf8)",
                text.sign_requests[0].message,
                intent.sign_requests[0].message,
            )
            self.check_rebuild(name, "personal_sign", text)
        if "preimage" in vector:
            preimage = personal_sign_preimage(bytes.fromhex(vector["message_hex"][2:]))
            self.expect(name, "preimage", "0x" + preimage.hex(), vector["preimage"])
        self.check_rebuild(name, "personal_sign", intent)
        self._message_signature(name, "personal_sign", payload, intent, vector)
        self.checked += 1

    def _message_signature(
        self,
        name: str,
        kind: str,
        payload: dict[str, Any],
        intent: SigningIntent,
        vector: dict[str, Any],
    ) -> None:
        if "private_key" in vector:
            signature = _sign(intent, vector["private_key"])
        elif "signature" in vector:
            published = bytes.fromhex(vector["signature"][2:])
            signature = published[:64] + bytes([published[64] - 27])
        else:
            return
        extra = intent.finalize([signature]).extra
        if "signature" in vector:
            self.expect(name, "signature", extra["signature"], vector["signature"])
        for key in ("r", "s"):
            if key in vector:
                self.expect(name, key, _int(extra[key]), _int(vector[key]))
        if "v" in vector:
            self.expect(name, "v", extra["v"], vector["v"])
        if "signer" in vector:
            self.expect(name, "signer", extra["signer"], vector["signer"])
            self.check_from(name, kind, payload, signature, vector["signer"])


def check_evm_file(path: Path, data: Any) -> None:
    checks = _File(path)
    vectors = data.get("vectors") if isinstance(data, dict) else None
    assert isinstance(vectors, list) and vectors, f"{path.name}: no 'vectors' list"
    for vector in vectors:
        if "typed_data" in vector:
            checks.typed_data(vector)
        elif "message_hex" in vector:
            checks.personal_sign(vector)
        elif "signing_hash" in vector and ("tx" in vector or "raw_signed" in vector):
            checks.transaction(vector)
        else:
            checks.failures.append(
                f"{vector.get('name', '?')}: unrecognized EVM vector shape (keys {sorted(vector)})"
            )
    assert not checks.failures, f"{path.name}:\n" + "\n".join(checks.failures)
    assert checks.checked == len(vectors)
