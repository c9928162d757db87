"""The AA authorization list: EIP-7702 delegations with Tempo signatures (``tt_authorization.rs``).

Each entry is ``rlp([chain_id u256, address, nonce u64, signature])`` where the signature is
any Tempo envelope (keychain included); the authority signs the EIP-7702 hash
``keccak256(0x05 || rlp([chain_id, address, nonce]))``
(:func:`cosigner.chains.evm.transactions.authorization_signing_hash`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cosigner.chains.errors import PayloadError
from cosigner.chains.evm.transactions import authorization_signing_hash
from cosigner.chains.evm.values import int_to_min_bytes, rlp_encode
from cosigner.chains.tempo.signature import (
    TempoSignature,
    check_signature,
    decode_signature,
    encode_signature,
)
from cosigner.chains.tempo.wire import (
    RlpItem,
    as_address,
    as_bytes,
    as_list,
    as_uint,
    check_address,
    check_uint,
    rlp_decode,
)


@dataclass(frozen=True, slots=True)
class TempoAuthorization:
    """One entry of the AA authorization list."""

    chain_id: int
    address: bytes
    nonce: int
    signature: TempoSignature

    def signature_hash(self) -> bytes:
        """``keccak256(0x05 || rlp([chain_id, address, nonce]))``: what the authority signs."""
        return authorization_signing_hash(self.chain_id, self.address, self.nonce)


def check_authorization(auth: TempoAuthorization, path: str) -> None:
    check_uint(auth.chain_id, f"{path}.chainId", 256)
    check_address(auth.address, f"{path}.address")
    check_uint(auth.nonce, f"{path}.nonce", 64)
    check_signature(auth.signature, f"{path}.signature", allow_keychain=True)


def authorization_item(auth: TempoAuthorization, path: str = "aaAuthorizationList[0]") -> RlpItem:
    check_authorization(auth, path)
    return [
        int_to_min_bytes(auth.chain_id),
        auth.address,
        int_to_min_bytes(auth.nonce),
        encode_signature(auth.signature),
    ]


def encode_authorization(auth: TempoAuthorization) -> bytes:
    return rlp_encode(authorization_item(auth))


def parse_authorization_item(item: RlpItem, path: str) -> TempoAuthorization:
    fields = as_list(item, path)
    if len(fields) != 4:
        raise PayloadError(
            path,
            f"an AA authorization is [chainId, address, nonce, signature], found {len(fields)}",
        )
    return TempoAuthorization(
        chain_id=as_uint(fields[0], f"{path}.chainId", 256),
        address=as_address(fields[1], f"{path}.address"),
        nonce=as_uint(fields[2], f"{path}.nonce", 64),
        signature=decode_signature(as_bytes(fields[3], f"{path}.signature"), f"{path}.signature"),
    )


def decode_authorization(data: bytes, path: str = "aaAuthorizationList[0]") -> TempoAuthorization:
    return parse_authorization_item(rlp_decode(data, path), path)
