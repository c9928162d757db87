"""EIP-7702 authorizations: an account's signature that lets a contract's code run as it.

EIP-7702 (https://eips.ethereum.org/EIPS/eip-7702) authority signs

    keccak(0x05 || rlp([chain_id, address, nonce]))

with ``chain_id`` 0 meaning every chain, ``address`` the delegate whose code
the account will run (the zero address clears a delegation) and ``nonce``
the account's nonce when the authorization is processed (below 2**64). The
signed tuple ``[chain_id, address, nonce, y_parity, r, s]`` goes into a type-4
transaction's ``authorizationList``, which anyone may send: once signed, the
authorization is out of the signer's hands, so the summary says so.

Payload: ``chainId``, ``address``, ``nonce`` and an optional ``from`` (the
authority, checked by ``finalize``). ``finalize`` returns the signed tuple in
the form :mod:`.transactions` accepts in ``authorizationList``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cosigner.chains.errors import FinalizeError
from cosigner.chains.evm.signatures import recover_checked, split_signature
from cosigner.chains.evm.transactions import (
    SignedAuthorization,
    authorization_signing_hash,
    parse_authorization_fields,
)
from cosigner.chains.evm.values import (
    chain_text,
    hex32,
    hex_text,
    reject_unknown,
    to_checksum_address,
)
from cosigner.chains.intent import Finalized

_KEYS = frozenset(("chainId", "address", "nonce", "from"))


def parse_authorization(
    payload: Mapping[str, Any],
) -> tuple[int, bytes, str, int, dict[str, Any], bytes]:
    """``(chain_id, address, address_text, nonce, normal form, digest)`` of a payload."""
    reject_unknown(payload, _KEYS, "", "EIP-7702 authorizations")
    chain_id, address, address_text, nonce = parse_authorization_fields(payload, "")
    fields: dict[str, Any] = {
        "chainId": str(chain_id),
        "address": address_text,
        "nonce": str(nonce),
    }
    return (
        chain_id,
        address,
        address_text,
        nonce,
        fields,
        authorization_signing_hash(chain_id, address, nonce),
    )


def describe_authorization(
    chain_id: int,
    address: bytes,
    address_text: str,
    nonce: int,
    digest: bytes,
    authority: str | None,
) -> tuple[str, dict[str, Any]]:
    chain = "every chain (chainId 0)" if chain_id == 0 else chain_text(chain_id)
    clears = not any(address)
    display: dict[str, Any] = {
        "standard": "EIP-7702 set-code authorization",
        "delegate": f"{address_text} (clears the delegation)" if clears else address_text,
        "chain": chain,
        "nonce": str(nonce),
        "digest": hex_text(digest),
    }
    if authority is not None:
        display["authority"] = authority
    warnings = [
        "anyone holding this signed authorization can submit it in a transaction"
        + ("" if clears else ", after which the delegate's code acts for the account")
    ]
    if chain_id == 0:
        warnings.append("chainId 0: the authorization is valid on every chain")
    display["warnings"] = warnings
    who = authority or "your account"
    if clears:
        summary = f"clear the EIP-7702 delegation of {who} on {chain} (account nonce {nonce})"
    else:
        summary = (
            f"let the code at {address_text} act as {who} on {chain} "
            f"(EIP-7702, account nonce {nonce})"
        )
    return summary, display


def finalize_authorization(
    chain_id: int,
    address: bytes,
    address_text: str,
    nonce: int,
    digest: bytes,
    label: str,
    authority: tuple[bytes, str] | None,
    signatures: Sequence[bytes],
) -> Finalized:
    signature = signatures[0]
    r, s, y_parity = split_signature(signature, label)
    recovered = recover_checked(digest, signature, label)
    if authority is not None and recovered != authority[0]:
        raise FinalizeError(
            f"the signature recovers to {to_checksum_address(recovered)}, "
            f"not to the payload's from {authority[1]}"
        )
    signed = SignedAuthorization(chain_id, address, address_text, nonce, y_parity, r, s)
    return Finalized(
        "evm",
        "authorization",
        None,
        None,
        {
            "authorization": signed.to_json(),
            "authority": to_checksum_address(recovered),
            "yParity": y_parity,
            "r": hex32(r),
            "s": hex32(s),
            "digest": hex_text(digest),
        },
    )
