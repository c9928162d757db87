"""What a Tempo transaction does, for the person approving it. Display only.

Calls to TIP-20 tokens (addresses ``0x20c0`` followed by ten zero bytes, 6 decimals for
every token: ``tip20.rs`` in tempoxyz/tempo) are decoded here, ``transferWithMemo`` and
``transferFromWithMemo`` included, with amounts in display units. Other calls are
described by :func:`cosigner.chains.evm.calldata.describe_calldata` (ERC-20 transfer,
approve and transferFrom in base units, or the selector).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cosigner.chains.errors import FinalizeError
from cosigner.chains.evm.calldata import describe_calldata
from cosigner.chains.evm.values import (
    UINT256_MAX,
    format_units,
    hex_text,
    keccak256,
    to_checksum_address,
)
from cosigner.chains.tempo.key_authorization import SignedKeyAuthorization
from cosigner.chains.tempo.signature import recover_signer, signature_type
from cosigner.chains.tempo.transaction import EXPIRING_NONCE_KEY, Call, TempoTransaction

TIP20_PREFIX = bytes.fromhex("20c000000000000000000000")
TIP20_DECIMALS = 6

_ARGUMENTS = {
    "transfer(address,uint256)": ("recipient", "amount"),
    "approve(address,uint256)": ("spender", "amount"),
    "transferFrom(address,address,uint256)": ("owner", "recipient", "amount"),
    "transferWithMemo(address,uint256,bytes32)": ("recipient", "amount", "memo"),
    "transferFromWithMemo(address,address,uint256,bytes32)": (
        "owner",
        "recipient",
        "amount",
        "memo",
    ),
}
_TIP20_METHODS = {keccak256(sig.encode())[:4]: (sig, names) for sig, names in _ARGUMENTS.items()}


def is_tip20(address: bytes) -> bool:
    return address.startswith(TIP20_PREFIX)


def decode_tip20_call(to: bytes, data: bytes) -> dict[str, Any] | None:
    """A TIP-20 transfer, approve or transfer-with-memo call to ``to``, decoded; else None."""
    if not is_tip20(to) or len(data) < 4 or data[:4] not in _TIP20_METHODS:
        return None
    signature, names = _TIP20_METHODS[data[:4]]
    words = data[4:]
    if len(words) != 32 * len(names):
        return None
    kinds = signature[signature.index("(") + 1 : -1].split(",")
    out: dict[str, Any] = {
        "action": f"TIP-20 {signature[: signature.index('(')]}",
        "method": signature,
        "token": to_checksum_address(to),
    }
    for i, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        word = words[32 * i : 32 * i + 32]
        if kind == "address":
            if any(word[:12]):
                return None
            out[name] = to_checksum_address(word[12:])
        elif kind == "uint256":
            amount = int.from_bytes(word, "big")
            out["amount"] = format_units(amount, TIP20_DECIMALS)
            out["amountBaseUnits"] = str(amount)
            if signature.startswith("approve") and amount == UINT256_MAX:
                out["warning"] = "unlimited approval: the spender may move every token you hold"
        else:
            out[name] = hex_text(word)
    return out


def describe_call(call: Call) -> tuple[dict[str, Any], str]:
    """The call for the display model, and one line of summary."""
    to = None if call.to is None else to_checksum_address(call.to)
    entry: dict[str, Any] = {"to": to, "value": str(call.value)}
    if call.to is None:
        entry.update(describe_calldata(call.input, None))
        return entry, f"deploy a contract ({len(call.input)} bytes of init code)"
    tip20 = decode_tip20_call(call.to, call.input)
    if tip20 is not None:
        entry.update(tip20)
        amount = f"{tip20['amount']} of TIP-20 {tip20['token']}"
        if "spender" in tip20:
            return entry, f"approve {tip20['spender']} to spend {amount}"
        owner = f" from {tip20['owner']}" if "owner" in tip20 else ""
        memo = f" (memo {tip20['memo']})" if "memo" in tip20 else ""
        return entry, f"transfer {amount}{owner} to {tip20['recipient']}{memo}"
    value = f" with value {call.value}" if call.value else ""
    if not call.input:
        entry["action"] = "call without calldata"
        return entry, f"call {to}{value}"
    entry.update(describe_calldata(call.input, to))
    arguments = entry.get("arguments")
    detail = f" ({', '.join(f'{k} {v}' for k, v in arguments.items())})" if arguments else ""
    return entry, f"{entry['action']} on {to}{detail}{value}"


def timestamp_text(value: int | None) -> str | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + f" ({value})"
    except (OverflowError, OSError, ValueError):
        return f"unix time {value}"


def describe_key_authorization(
    signed: SignedKeyAuthorization, sender: bytes | None
) -> dict[str, Any]:
    auth = signed.authorization
    try:
        signed_by: str | None = to_checksum_address(
            recover_signer(signed.signature, auth.signature_hash())
        )
    except FinalizeError:
        signed_by = None
    out: dict[str, Any] = {
        "keyType": auth.key_type,
        "keyId": to_checksum_address(auth.key_id),
        "chainId": str(auth.chain_id),
        "expires": timestamp_text(auth.expiry) or "never",
        "spending": "unlimited"
        if auth.limits is None
        else [
            {
                "token": to_checksum_address(x.token),
                "limit": f"{format_units(x.limit, TIP20_DECIMALS)} (TIP-20)"
                if is_tip20(x.token)
                else f"{x.limit} base units",
                "resetsEverySeconds": str(x.period) if x.period else None,
            }
            for x in auth.limits
        ],
        "calls": "any"
        if auth.allowed_calls is None
        else [to_checksum_address(scope.target) for scope in auth.allowed_calls],
        "admin": auth.is_admin,
        "signedBy": signed_by,
    }
    if signed_by is None:
        out["warning"] = "the key authorization's signature does not verify"
    elif sender is not None and signed_by != to_checksum_address(sender):
        out["warning"] = "the key authorization is not signed by the sender"
    return out


def describe_transaction(
    tx: TempoTransaction, sender: bytes | None, signer: str
) -> tuple[str, dict[str, Any]]:
    """One summary line and the display model of ``tx``."""
    calls = [describe_call(call) for call in tx.calls]
    display: dict[str, Any] = {
        "transactionType": "Tempo transaction (0x76)",
        "network": f"Tempo chainId {tx.chain_id}",
        "from": None if sender is None else to_checksum_address(sender),
        "signer": signer,
        "calls": [entry for entry, _ in calls],
        "feeToken": "the account's default"
        if tx.fee_token is None
        else to_checksum_address(tx.fee_token),
        "sponsored": tx.fee_payer,
        "maxFeePerGas": str(tx.max_fee_per_gas),
        "maxPriorityFeePerGas": str(tx.max_priority_fee_per_gas),
        "gas": str(tx.gas_limit),
        "maxFee": f"{tx.max_fee_per_gas * tx.gas_limit} (maxFeePerGas x gas, fee token base units)",
        "nonce": "expiring nonce (replay protection by transaction hash)"
        if tx.nonce_key == EXPIRING_NONCE_KEY
        else f"nonce {tx.nonce} of nonce key {tx.nonce_key}",
        "validAfter": timestamp_text(tx.valid_after),
        "validBefore": timestamp_text(tx.valid_before),
        "aaAuthorizations": [
            {
                "chainId": str(a.chain_id),
                "delegateTo": to_checksum_address(a.address),
                "nonce": str(a.nonce),
                "signatureType": signature_type(a.signature),
            }
            for a in tx.aa_authorization_list
        ],
        "keyAuthorization": None
        if tx.key_authorization is None
        else describe_key_authorization(tx.key_authorization, sender),
    }
    summary = f"Tempo transaction on chainId {tx.chain_id}: " + "; ".join(t for _, t in calls)
    if tx.fee_payer:
        summary += "; fees paid by a fee payer"
    if tx.key_authorization is not None:
        key_id = to_checksum_address(tx.key_authorization.authorization.key_id)
        summary += f"; authorizes access key {key_id}"
    if tx.aa_authorization_list:
        summary += f"; {len(tx.aa_authorization_list)} account delegation(s)"
    return summary, display
