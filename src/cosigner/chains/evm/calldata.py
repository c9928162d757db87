"""What a transaction's calldata asks a contract to do, for the person approving it.

Display only: nothing here changes the signed bytes. A call is decoded when
its 4-byte selector is a known method and the rest is exactly that method's
Solidity ABI encoding (static arguments only, 32-byte words, addresses with
12 zero bytes of padding); otherwise the selector and length are shown as
they are, with the reason the arguments could not be decoded.

Known methods are the ERC-20 (https://eips.ethereum.org/EIPS/eip-20)
``transfer``, ``approve`` and ``transferFrom``. Token amounts are in the
token's base units: its ``decimals`` live on chain and are not in the payload.
"""

from __future__ import annotations

from typing import Any

from cosigner.chains.evm.values import UINT256_MAX, to_checksum_address

_METHODS: dict[bytes, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    bytes.fromhex("a9059cbb"): (
        "transfer(address,uint256)",
        "ERC-20 transfer",
        (("to", "address"), ("amount", "uint256")),
    ),
    bytes.fromhex("095ea7b3"): (
        "approve(address,uint256)",
        "ERC-20 approve",
        (("spender", "address"), ("amount", "uint256")),
    ),
    bytes.fromhex("23b872dd"): (
        "transferFrom(address,address,uint256)",
        "ERC-20 transferFrom",
        (("from", "address"), ("to", "address"), ("amount", "uint256")),
    ),
}


def describe_calldata(data: bytes, contract: str | None) -> dict[str, Any]:
    """A readable account of ``data`` sent to ``contract`` (None for contract creation)."""
    if contract is None:
        return {"action": "deploy a contract", "initCodeLength": f"{len(data)} bytes"}
    if not data:
        return {"action": "plain transfer of the native currency (no calldata)"}
    if len(data) < 4:
        return {
            "action": "call with calldata shorter than a 4-byte method selector",
            "dataLength": f"{len(data)} bytes",
        }
    selector = data[:4]
    known = _METHODS.get(selector)
    if known is None:
        return {
            "action": "contract call",
            "selector": "0x" + selector.hex(),
            "method": "unknown (not a method this adapter decodes)",
            "dataLength": f"{len(data)} bytes",
        }
    signature, title, arguments = known
    out: dict[str, Any] = {
        "action": title,
        "selector": "0x" + selector.hex(),
        "method": signature,
        "token": contract,
    }
    words = data[4:]
    if len(words) != 32 * len(arguments):
        out["arguments"] = None
        out["warning"] = (
            f"calldata is {len(data)} bytes, not the {4 + 32 * len(arguments)} bytes of "
            f"{signature}; the arguments are not decoded"
        )
        return out
    decoded: dict[str, str] = {}
    for index, (name, kind) in enumerate(arguments):
        word = words[32 * index : 32 * index + 32]
        if kind == "address":
            if any(word[:12]):
                out["arguments"] = None
                out["warning"] = f"argument {name!r} is not a well-formed address word"
                return out
            decoded[name] = to_checksum_address(word[12:])
        else:
            amount = int.from_bytes(word, "big")
            decoded[name] = f"{amount} (token base units)"
            if signature.startswith("approve") and amount == UINT256_MAX:
                out["warning"] = "unlimited approval: the spender may move every token you hold"
    out["arguments"] = decoded
    return out
