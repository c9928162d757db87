"""NEAR: Borsh transactions, delegate actions (NEP-366) and off-chain messages (NEP-413).

What is signed, after nearcore (``core/primitives/src/transaction.rs``,
``action/mod.rs``, ``action/delegate.rs``) and the NEPs:

* a transaction (``TransactionV0``): Ed25519 over ``sha256(borsh(Transaction))``;
  the transaction id is that hash in base58, and the broadcastable
  ``SignedTransaction`` is ``borsh(Transaction) || borsh(Signature)``;
* a delegate action (NEP-366 meta transactions): Ed25519 over
  ``sha256(u32_le(2^30 + 366) || borsh(DelegateAction))``; the result is a
  ``SignedDelegate``, which a relayer wraps in a ``Delegate`` action;
* a NEP-413 message: Ed25519 over ``sha256(u32_le(2^31 + 413) ||
  borsh(Payload{message, nonce, recipient, callback_url}))``.

The prefixes keep the three domains apart: no transaction's Borsh bytes begin
with a u32 of 2^30 or more (it would be the length of the signer id).

Every classic action is supported (nearcore tags 0 to 8): CreateAccount,
DeployContract, FunctionCall, Transfer, Stake, AddKey (full access and
function-call permissions), DeleteKey, DeleteAccount and Delegate. Later
actions (global contracts, tags 9 and up) decode to a clear error.

Payload fields follow nearcore's JSON (``{"Transfer": {"deposit": "1"}}``),
with integers as decimal strings, keys as ``ed25519:<base58>``, hashes in
base58, and opaque bytes named for their encoding (``code_base64``,
``args_base64``; ``args_utf8`` when the arguments are text, which they are for
every JSON contract call).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from coincurve import PublicKey as Secp256k1PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from cosigner.chains.borsh import BorshReader, BorshWriter, decode_all
from cosigner.chains.errors import FinalizeError, PayloadError, UnsupportedKindError
from cosigner.chains.intent import Finalized, SigningIntent, SignRequest, make_ui_model
from cosigner.chains.payload import (
    b58,
    b64,
    check_keys,
    expect_list,
    expect_object,
    expect_str,
    format_units,
    from_base58,
    from_base64,
    from_hex,
    join,
    one_of,
    uint,
)
from cosigner.errors import DecodeError

CHAIN = "near"

NEAR_DECIMALS = 24
TGAS = 10**12

KEY_TYPE_ED25519 = 0
KEY_TYPE_SECP256K1 = 1
KEY_TYPE_NAMES = ("ed25519", "secp256k1")
PUBLIC_KEY_LENGTHS = (32, 64)
SIGNATURE_LENGTHS = (64, 65)

NEP366_PREFIX = (1 << 30) + 366
"""The u32 before a DelegateAction's Borsh bytes when it is signed (NEP-366, NEP-461)."""
NEP413_PREFIX = (1 << 31) + 413
"""The u32 before a NEP-413 payload's Borsh bytes when it is signed."""

ACCOUNT_ID_MIN = 2
ACCOUNT_ID_MAX = 64
_ACCOUNT_ID = re.compile(r"^(([a-z\d]+[-_])*[a-z\d]+\.)*([a-z\d]+[-_])*[a-z\d]+$")


def validate_account_id(value: Any, path: str) -> str:
    """An account id as nearcore's ``near-account-id`` accepts it (2-64 chars, lowercase)."""
    text = expect_str(value, path)
    if not ACCOUNT_ID_MIN <= len(text) <= ACCOUNT_ID_MAX:
        raise PayloadError(
            path, f"a NEAR account id is {ACCOUNT_ID_MIN} to {ACCOUNT_ID_MAX} characters long"
        )
    if not _ACCOUNT_ID.match(text):
        raise PayloadError(
            path,
            f"{text!r} is not a NEAR account id (lowercase letters, digits and "
            "single - _ . separators, not at either end)",
        )
    return text


def near_amount(yocto: int) -> dict[str, str]:
    """An amount in both units a person may know it by."""
    return {"yoctoNEAR": str(yocto), "NEAR": format_units(yocto, NEAR_DECIMALS)}


def gas_amount(gas: int) -> dict[str, str]:
    return {"gas": str(gas), "TGas": format_units(gas, 12)}


# -- keys and signatures ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicKey:
    """nearcore ``PublicKey``: a u8 key type, then 32 (Ed25519) or 64 (secp256k1) bytes."""

    key_type: int
    data: bytes

    def __post_init__(self) -> None:
        if self.key_type not in (KEY_TYPE_ED25519, KEY_TYPE_SECP256K1):
            raise ValueError(f"unknown NEAR key type {self.key_type}")
        if len(self.data) != PUBLIC_KEY_LENGTHS[self.key_type]:
            raise ValueError(
                f"a {KEY_TYPE_NAMES[self.key_type]} public key is "
                f"{PUBLIC_KEY_LENGTHS[self.key_type]} bytes"
            )

    @property
    def algorithm(self) -> str:
        return KEY_TYPE_NAMES[self.key_type]

    def __str__(self) -> str:
        return f"{self.algorithm}:{b58(self.data)}"

    @classmethod
    def from_fields(cls, value: Any, path: str) -> PublicKey:
        text = expect_str(value, path)
        name, sep, encoded = text.partition(":")
        if not sep or name not in KEY_TYPE_NAMES:
            raise PayloadError(path, "a NEAR public key is written ed25519:<base58>")
        key_type = KEY_TYPE_NAMES.index(name)
        return cls(key_type, from_base58(encoded, path, PUBLIC_KEY_LENGTHS[key_type]))

    def write(self, writer: BorshWriter) -> None:
        writer.u8(self.key_type).fixed(self.data, PUBLIC_KEY_LENGTHS[self.key_type])

    @classmethod
    def read(cls, reader: BorshReader) -> PublicKey:
        key_type = reader.enum_tag(KEY_TYPE_NAMES, "key type")
        return cls(key_type, reader.fixed(PUBLIC_KEY_LENGTHS[key_type]))


@dataclass(frozen=True, slots=True)
class Signature:
    """nearcore ``Signature``: a u8 key type, then 64 (Ed25519) or 65 (secp256k1 r||s||v) bytes."""

    key_type: int
    data: bytes

    def __post_init__(self) -> None:
        if self.key_type not in (KEY_TYPE_ED25519, KEY_TYPE_SECP256K1):
            raise ValueError(f"unknown NEAR key type {self.key_type}")
        if len(self.data) != SIGNATURE_LENGTHS[self.key_type]:
            raise ValueError(
                f"a {KEY_TYPE_NAMES[self.key_type]} signature is "
                f"{SIGNATURE_LENGTHS[self.key_type]} bytes"
            )

    def __str__(self) -> str:
        return f"{KEY_TYPE_NAMES[self.key_type]}:{b58(self.data)}"

    @classmethod
    def from_fields(cls, value: Any, path: str) -> Signature:
        text = expect_str(value, path)
        name, sep, encoded = text.partition(":")
        if not sep or name not in KEY_TYPE_NAMES:
            raise PayloadError(path, "a NEAR signature is written ed25519:<base58>")
        key_type = KEY_TYPE_NAMES.index(name)
        return cls(key_type, from_base58(encoded, path, SIGNATURE_LENGTHS[key_type]))

    def write(self, writer: BorshWriter) -> None:
        writer.u8(self.key_type).fixed(self.data, SIGNATURE_LENGTHS[self.key_type])

    @classmethod
    def read(cls, reader: BorshReader) -> Signature:
        key_type = reader.enum_tag(KEY_TYPE_NAMES, "signature type")
        return cls(key_type, reader.fixed(SIGNATURE_LENGTHS[key_type]))


def verify_signature(public_key: PublicKey, digest: bytes, signature: Signature) -> bool:
    """Whether ``signature`` is ``public_key``'s over the 32-byte ``digest`` (nearcore's check)."""
    if signature.key_type != public_key.key_type:
        return False
    if public_key.key_type == KEY_TYPE_ED25519:
        try:
            VerifyKey(public_key.data).verify(digest, signature.data)
        except (BadSignatureError, ValueError):
            return False
        return True
    try:
        recovered = Secp256k1PublicKey.from_signature_and_message(
            signature.data, digest, hasher=None
        )
    except Exception:
        return False
    return bool(recovered.format(compressed=False)[1:] == public_key.data)


# -- actions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateAccount:
    TAG: ClassVar[int] = 0
    NAME: ClassVar[str] = "CreateAccount"

    def write(self, writer: BorshWriter) -> None:
        pass

    @classmethod
    def read(cls, reader: BorshReader) -> CreateAccount:
        return cls()

    def to_fields(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_fields(cls, obj: Mapping[str, Any], path: str) -> CreateAccount:
        check_keys(obj, path)
        return cls()

    def describe(self) -> dict[str, Any]:
        return {"type": self.NAME}

    def summary(self) -> str:
        return "create the account"


@dataclass(frozen=True, slots=True)
class DeployContract:
    TAG: ClassVar[int] = 1
    NAME: ClassVar[str] = "DeployContract"
    code: bytes

    def write(self, writer: BorshWriter) -> None:
        writer.byte_vec(self.code)

    @classmethod
    def read(cls, reader: BorshReader) -> DeployContract:
        return cls(reader.byte_vec())

    def to_fields(self) -> dict[str, Any]:
        return {"code_base64": b64(self.code)}

    @classmethod
    def from_fields(cls, obj: Mapping[str, Any], path: str) -> DeployContract:
        check_keys(obj, path, ("code_base64",))
        return cls(from_base64(obj["code_base64"], join(path, "code_base64")))

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.NAME,
            "code_size": len(self.code),
            "code_hash": b58(hashlib.sha256(self.code).digest()),
        }

    def summary(self) -> str:
        return f"deploy a {len(self.code)}-byte contract"


def _args_fields(args: bytes) -> dict[str, str]:
    try:
        return {"args_utf8": args.decode("utf-8")}
    except UnicodeDecodeError:
        return {"args_base64": b64(args)}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_json_args(args: bytes) -> Any | None:
    """The JSON value of a function call's arguments, or None when they are not JSON."""
    try:
        return json.loads(args.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class FunctionCall:
    TAG: ClassVar[int] = 2
    NAME: ClassVar[str] = "FunctionCall"
    method_name: str
    args: bytes
    gas: int
    deposit: int

    def write(self, writer: BorshWriter) -> None:
        writer.string(self.method_name).byte_vec(self.args).u64(self.gas).u128(self.deposit)

    @classmethod
    def read(cls, reader: BorshReader) -> FunctionCall:
        return cls(reader.string(), reader.byte_vec(), reader.u64(), reader.u128())

    def to_fields(self) -> dict[str, Any]:
        return {
            "method_name": self.method_name,
            **_args_fields(self.args),
            "gas": str(self.gas),
            "deposit": str(self.deposit),
        }

    @classmethod
    def from_fields(cls, obj: Mapping[str, Any], path: str) -> FunctionCall:
        check_keys(
            obj,
            path,
            ("method_name", "gas", "deposit"),
            ("args_utf8", "args_base64", "args_json"),
        )
        method_name = expect_str(obj["method_name"], join(path, "method_name"))
        if not method_name:
            raise PayloadError(join(path, "method_name"), "must not be empty")
        which = one_of(obj, path, ("args_utf8", "args_base64", "args_json"))
        args_path = join(path, which)
        if which == "args_utf8":
            try:
                args = expect_str(obj[which], args_path).encode("utf-8")
            except UnicodeEncodeError:
                raise PayloadError(args_path, "holds a lone surrogate, not text") from None
        elif which == "args_base64":
            args = from_base64(obj[which], args_path)
        else:
            try:
                args = json.dumps(
                    obj[which], separators=(",", ":"), ensure_ascii=False, allow_nan=False
                ).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise PayloadError(args_path, f"is not JSON: {exc}") from None
        return cls(
            method_name,
            args,
            uint(obj["gas"], join(path, "gas"), 64),
            uint(obj["deposit"], join(path, "deposit"), 128),
        )

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.NAME, "method_name": self.method_name}
        decoded = decode_json_args(self.args)
        if decoded is not None:
            out["args_json"] = decoded
        else:
            out.update(_args_fields(self.args))
        out["gas"] = gas_amount(self.gas)
        out["deposit"] = near_amount(self.deposit)
        return out

    def summary(self) -> str:
        text = f"call {self.method_name}"
        if self.deposit:
            text += f" with {format_units(self.deposit, NEAR_DECIMALS)} NEAR attached"
        return text


@dataclass(frozen=True, slots=True)
class Transfer:
    TAG: ClassVar[int] = 3
    NAME: ClassVar[str] = "Transfer"
    deposit: int

    def write(self, writer: BorshWriter) -> None:
        writer.u128(self.deposit)

    @classmethod
    def read(cls, reader: BorshReader) -> Transfer:
        return cls(reader.u128())

    def to_fields(self) -> dict[str, Any]:
        return {"deposit": str(self.deposit)}

    @classmethod
    def from_fields(cls, obj: Mapping[str, Any], path: str) -> Transfer:
        check_keys(obj, path, ("deposit",))
        return cls(uint(obj["deposit"], join(path, "deposit"), 128))

    def describe(self) -> dict[str, Any]:
        return {"type": self.NAME, "deposit": near_amount(self.deposit)}

    def summary(self) -> str:
        return f"send {format_units(self.deposit, NEAR_DECIMALS)} NEAR"


@dataclass(frozen=True, slots=True)
class Stake:
    TAG: ClassVar[int] = 4
    NAME: ClassVar[str] = "Stake"
    stake: int
    public_key: PublicKey

    def write(self, writer: BorshWriter) -> None:
        writer.u128(self.stake)
        self.public_key.write(writer)

    @classmethod
    def read(cls, reader: BorshReader) -> Stake:
        return cls(reader.u128(), PublicKey.read(reader))

    def to_fields(self) -> dict[str, Any]:
        return {"stake": str(self.stake), "public_key": str(self.public_key)}

    @classmethod
    def from_fields(cls, obj: Mapping[str, Any], path: str) -> Stake:
        check_keys(obj, path, ("stake", "public_key"))
        return cls(
            uint(obj["stake"], join(path, "stake"), 128),
            PublicKey.from_fields(obj["public_key"], join(path, "public_key")),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.NAME,
            "stake": near_amount(self.stake),
            "public_key": str(self.public_key),
        }

    def summary(self) -> str:
        return f"stake {format_units(self.stake, NEAR_DECIMALS)} NEAR"


@dataclass(frozen=True, slots=True)
class FullAccess:
    """``AccessKeyPermission::FullAccess``: the key can do anything the account can."""

    TAG: ClassVar[int] = 1


@dataclass(frozen=True, slots=True)
class FunctionCallPermission:
    """``AccessKeyPermission::FunctionCall``: calls to one contract, optionally capped."""

    TAG: ClassVar[int] = 0
    allowance: int | None
    receiver_id: str
    method_names: tuple[str, ...]


Permission: TypeAlias = FunctionCallPermission | FullAccess


@dataclass(frozen=True, slots=True)
class AccessKey:
    nonce: int
    permission: Permission

    def write(self, writer: BorshWriter) -> None:
        writer.u64(self.nonce).u8(self.permission.TAG)
        if isinstance(self.permission, FunctionCallPermission):
            p = self.permission
            writer.option(p.allowance, BorshWriter.u128).string(p.receiver_id)
            writer.vec(p.method_names, BorshWriter.string)

    @classmethod
    def read(cls, reader: BorshReader) -> AccessKey:
        nonce = reader.u64()
        tag = reader.enum_tag(("FunctionCall", "FullAccess"), "access key permission")
        if tag == FullAccess.TAG:
            return cls(nonce, FullAccess())
        allowance = reader.option(BorshReader.u128)
        receiver_id = reader.string()
        method_names = tuple(reader.vec(BorshReader.string))
        return cls(nonce, FunctionCallPermission(allowance, receiver_id, method_names))

    def to_fields(self) -> dict[str, Any]:
        permission: Any
        if isinstance(self.permission, FullAccess):
            permission = "FullAccess"
        else:
            p = self.permission
            permission = {
                "FunctionCall": {
                    "allowance": None if p.allowance is None else str(p.allowance),
                    "receiver_id": p.receiver_id,
                    "method_names": list(p.method_names),
                }
            }
        return {"nonce": str(self.nonce), "permission": permission}

    @classmethod
    def from_fields(cls, value: Any, path: str) -> AccessKey:
        obj = expect_object(value, path)
        check_keys(obj, path, ("nonce", "permission"))
        nonce = uint(obj["nonce"], join(path, "nonce"), 64)
        ppath = join(path, "permission")
        raw = obj["permission"]
        if raw == "FullAccess" or (isinstance(raw, Mapping) and list(raw) == ["FullAccess"]):
            if isinstance(raw, Mapping):
                full_path = join(ppath, "FullAccess")
                check_keys(expect_object(raw["FullAccess"], full_path), full_path)
            return cls(nonce, FullAccess())
        perm = expect_object(raw, ppath)
        if list(perm) != ["FunctionCall"]:
            raise PayloadError(ppath, 'must be "FullAccess" or {"FunctionCall": {...}}')
        fpath = join(ppath, "FunctionCall")
        fc = expect_object(perm["FunctionCall"], fpath)
        check_keys(fc, fpath, ("receiver_id", "method_names"), ("allowance",))
        allowance_raw = fc.get("allowance")
        allowance = (
            None if allowance_raw is None else uint(allowance_raw, join(fpath, "allowance"), 128)
        )
        receiver_id = validate_account_id(fc["receiver_id"], join(fpath, "receiver_id"))
        names_path = join(fpath, "method_names")
        method_names = tuple(
            expect_str(name, join(names_path, i))
            for i, name in enumerate(expect_list(fc["method_names"], names_path))
        )
        return cls(nonce, FunctionCallPermission(allowance, receiver_id, method_names))


@dataclass(frozen=True, slots=True)
class AddKey:
    TAG: ClassVar[int] = 5
    NAME: ClassVar[str] = "AddKey"
    public_key: PublicKey
    access_key: AccessKey

    def write(self, writer: BorshWriter) -> None:
        self.public_key.write(writer)
        self.access_key.write(writer)

    @classmethod
    def read(cls, reader: BorshReader) -> AddKey:
        return cls(PublicKey.read(reader), AccessKey.read(reader))

    def to_fields(self) -> dict[str, Any]:
        return {"public_key": str(self.public_key), "access_key": self.access_key.to_fields()}

    @classmethod
    def from_fields(cls, obj: Mapping[str, Any], path: str) -> AddKey:
        check_keys(obj, path, ("public_key", "access_key"))
        return cls(
            PublicKey.from_fields(obj["public_key"], join(path, "public_key")),
            AccessKey.from_fields(obj["access_key"], join(path, "access_key")),
        )

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.NAME, "public_key": str(self.public_key)}
        permission = self.access_key.permission
        if isinstance(permission, FullAccess):
            out["permission"] = "FullAccess"
            out["warning"] = (
                "a full-access key can do anything the account can, including delete it"
            )
        else:
            out["permission"] = "FunctionCall"
            out["receiver_id"] = permission.receiver_id
            out["method_names"] = list(permission.method_names) or "any method"
            out["allowance"] = (
                "unlimited" if permission.allowance is None else near_amount(permission.allowance)
            )
        return out

    def summary(self) -> str:
        permission = self.access_key.permission
        if isinstance(permission, FullAccess):
            return f"add FULL-ACCESS key {self.public_key}"
        return f"add key {self.public_key} for calls to {permission.receiver_id}"


@dataclass(frozen=True, slots=True)
class DeleteKey:
    TAG: ClassVar[int] = 6
    NAME: ClassVar[str] = "DeleteKey"
    public_key: PublicKey

    def write(self, writer: BorshWriter) -> None:
        self.public_key.write(writer)

    @classmethod
    def read(cls, reader: BorshReader) -> DeleteKey:
        return cls(PublicKey.read(reader))

    def to_fields(self) -> dict[str, Any]:
        return {"public_key": str(self.public_key)}

    @classmethod
    def from_fields(cls, obj: Mapping[str, Any], path: str) -> DeleteKey:
        check_keys(obj, path, ("public_key",))
        return cls(PublicKey.from_fields(obj["public_key"], join(path, "public_key")))

    def describe(self) -> dict[str, Any]:
        return {"type": self.NAME, "public_key": str(self.public_key)}

    def summary(self) -> str:
        return f"delete key {self.public_key}"


@dataclass(frozen=True, slots=True)
class DeleteAccount:
    TAG: ClassVar[int] = 7
    NAME: ClassVar[str] = "DeleteAccount"
    beneficiary_id: str

    def write(self, writer: BorshWriter) -> None:
        writer.string(self.beneficiary_id)

    @classmethod
    def read(cls, reader: BorshReader) -> DeleteAccount:
        return cls(reader.string())

    def to_fields(self) -> dict[str, Any]:
        return {"beneficiary_id": self.beneficiary_id}

    @classmethod
    def from_fields(cls, obj: Mapping[str, Any], path: str) -> DeleteAccount:
        check_keys(obj, path, ("beneficiary_id",))
        return cls(validate_account_id(obj["beneficiary_id"], join(path, "beneficiary_id")))

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.NAME,
            "beneficiary_id": self.beneficiary_id,
            "warning": "deletes the account; its balance goes to the beneficiary",
        }

    def summary(self) -> str:
        return f"DELETE the account (balance to {self.beneficiary_id})"


@dataclass(frozen=True, slots=True)
class Delegate:
    """``Action::Delegate``: a relayer submits someone else's signed delegate action."""

    TAG: ClassVar[int] = 8
    NAME: ClassVar[str] = "Delegate"
    signed_delegate: SignedDelegate

    def write(self, writer: BorshWriter) -> None:
        self.signed_delegate.write(writer)

    @classmethod
    def read(cls, reader: BorshReader) -> Delegate:
        return cls(SignedDelegate.read(reader))

    def to_fields(self) -> dict[str, Any]:
        return self.signed_delegate.to_fields()

    @classmethod
    def from_fields(cls, obj: Mapping[str, Any], path: str) -> Delegate:
        return cls(SignedDelegate.from_fields(obj, path))

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.NAME,
            **self.signed_delegate.delegate_action.describe(),
            "signature": str(self.signed_delegate.signature),
            # A relayer should not pay gas for a delegate action the chain will refuse.
            "signature_valid": self.signed_delegate.verify(),
        }

    def summary(self) -> str:
        inner = self.signed_delegate.delegate_action
        return f"relay {inner.sender_id}'s delegate action to {inner.receiver_id}"


Action: TypeAlias = (
    CreateAccount
    | DeployContract
    | FunctionCall
    | Transfer
    | Stake
    | AddKey
    | DeleteKey
    | DeleteAccount
    | Delegate
)
ACTION_TYPES: tuple[type[Action], ...] = (
    CreateAccount,
    DeployContract,
    FunctionCall,
    Transfer,
    Stake,
    AddKey,
    DeleteKey,
    DeleteAccount,
    Delegate,
)
ACTION_NAMES = tuple(t.NAME for t in ACTION_TYPES)
_LATER_ACTIONS = {9: "DeployGlobalContract", 10: "UseGlobalContract"}


def write_action(writer: BorshWriter, action: Action) -> None:
    writer.u8(action.TAG)
    action.write(writer)


def _read_action(reader: BorshReader, *, nested: bool) -> Action:
    start = reader.position
    tag = reader.u8()
    if tag in _LATER_ACTIONS:
        raise DecodeError(f"NEAR action {_LATER_ACTIONS[tag]} (tag {tag}) is not supported")
    if tag >= len(ACTION_TYPES):
        raise DecodeError(f"unknown NEAR action tag {tag} at byte {start}")
    if nested and tag == Delegate.TAG:
        raise DecodeError(f"a delegate action holds a Delegate action at byte {start}")
    return ACTION_TYPES[tag].read(reader)


def read_action(reader: BorshReader) -> Action:
    return _read_action(reader, nested=False)


def read_non_delegate_action(reader: BorshReader) -> Action:
    """nearcore's ``NonDelegateAction``: any action but Delegate."""
    return _read_action(reader, nested=True)


def action_to_fields(action: Action) -> dict[str, Any]:
    return {action.NAME: action.to_fields()}


def action_from_fields(value: Any, path: str, *, nested: bool = False) -> Action:
    """``{"Transfer": {"deposit": "1"}}`` (or the bare string ``"CreateAccount"``) to an action."""
    if value == CreateAccount.NAME:
        return CreateAccount()
    obj = expect_object(value, path)
    if len(obj) != 1:
        raise PayloadError(path, f"must hold exactly one action: one of {', '.join(ACTION_NAMES)}")
    name = next(iter(obj))
    if name not in ACTION_NAMES:
        raise PayloadError(
            join(path, str(name)), f"unknown action (expected one of {', '.join(ACTION_NAMES)})"
        )
    if nested and name == Delegate.NAME:
        raise PayloadError(join(path, name), "a delegate action cannot hold a Delegate action")
    inner_path = join(path, name)
    inner = expect_object(obj[name], inner_path)
    action_type = ACTION_TYPES[ACTION_NAMES.index(name)]
    return action_type.from_fields(inner, inner_path)


def _actions_from_fields(value: Any, path: str, *, nested: bool) -> tuple[Action, ...]:
    items = expect_list(value, path)
    return tuple(
        action_from_fields(item, join(path, i), nested=nested) for i, item in enumerate(items)
    )


def _total_deposit(actions: Sequence[Action]) -> int:
    total = 0
    for action in actions:
        if isinstance(action, Transfer | FunctionCall):
            total += action.deposit
    return total


def _total_gas(actions: Sequence[Action]) -> int:
    return sum(a.gas for a in actions if isinstance(a, FunctionCall))


def _actions_summary(actions: Sequence[Action]) -> str:
    return "; ".join(a.summary() for a in actions) if actions else "no actions"


# -- delegate actions (NEP-366) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DelegateAction:
    sender_id: str
    receiver_id: str
    actions: tuple[Action, ...]
    nonce: int
    max_block_height: int
    public_key: PublicKey

    def write(self, writer: BorshWriter) -> None:
        writer.string(self.sender_id).string(self.receiver_id)
        writer.vec(self.actions, write_action)
        writer.u64(self.nonce).u64(self.max_block_height)
        self.public_key.write(writer)

    @classmethod
    def read(cls, reader: BorshReader) -> DelegateAction:
        return cls(
            reader.string(),
            reader.string(),
            tuple(reader.vec(read_non_delegate_action)),
            reader.u64(),
            reader.u64(),
            PublicKey.read(reader),
        )

    def to_borsh(self) -> bytes:
        writer = BorshWriter()
        self.write(writer)
        return bytes(writer)

    @classmethod
    def from_borsh(cls, data: bytes) -> DelegateAction:
        return decode_all(data, cls.read, "NEAR DelegateAction")

    def signing_preimage(self) -> bytes:
        return bytes(BorshWriter().u32(NEP366_PREFIX)) + self.to_borsh()

    def signing_digest(self) -> bytes:
        """sha256(u32_le(2^30 + 366) || borsh(DelegateAction)): what the sender signs."""
        return hashlib.sha256(self.signing_preimage()).digest()

    def to_fields(self) -> dict[str, Any]:
        return {
            "sender_id": self.sender_id,
            "receiver_id": self.receiver_id,
            "actions": [action_to_fields(a) for a in self.actions],
            "nonce": str(self.nonce),
            "max_block_height": str(self.max_block_height),
            "public_key": str(self.public_key),
        }

    @classmethod
    def from_fields(cls, value: Any, path: str = "") -> DelegateAction:
        obj = expect_object(value, path)
        check_keys(
            obj,
            path,
            ("sender_id", "receiver_id", "actions", "nonce", "max_block_height", "public_key"),
        )
        return cls(
            validate_account_id(obj["sender_id"], join(path, "sender_id")),
            validate_account_id(obj["receiver_id"], join(path, "receiver_id")),
            _actions_from_fields(obj["actions"], join(path, "actions"), nested=True),
            uint(obj["nonce"], join(path, "nonce"), 64),
            uint(obj["max_block_height"], join(path, "max_block_height"), 64),
            PublicKey.from_fields(obj["public_key"], join(path, "public_key")),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "sender_id": self.sender_id,
            "receiver_id": self.receiver_id,
            "actions": [a.describe() for a in self.actions],
            "total_deposit": near_amount(_total_deposit(self.actions)),
            "total_gas": gas_amount(_total_gas(self.actions)),
        }


@dataclass(frozen=True, slots=True)
class SignedDelegate:
    delegate_action: DelegateAction
    signature: Signature

    def write(self, writer: BorshWriter) -> None:
        self.delegate_action.write(writer)
        self.signature.write(writer)

    @classmethod
    def read(cls, reader: BorshReader) -> SignedDelegate:
        return cls(DelegateAction.read(reader), Signature.read(reader))

    def to_borsh(self) -> bytes:
        writer = BorshWriter()
        self.write(writer)
        return bytes(writer)

    @classmethod
    def from_borsh(cls, data: bytes) -> SignedDelegate:
        return decode_all(data, cls.read, "NEAR SignedDelegate")

    def to_fields(self) -> dict[str, Any]:
        return {
            "delegate_action": self.delegate_action.to_fields(),
            "signature": str(self.signature),
        }

    @classmethod
    def from_fields(cls, obj: Mapping[str, Any], path: str) -> SignedDelegate:
        check_keys(obj, path, ("delegate_action", "signature"))
        return cls(
            DelegateAction.from_fields(obj["delegate_action"], join(path, "delegate_action")),
            Signature.from_fields(obj["signature"], join(path, "signature")),
        )

    def verify(self) -> bool:
        """Whether the signature is the sender key's over the NEP-366 digest."""
        da = self.delegate_action
        return verify_signature(da.public_key, da.signing_digest(), self.signature)


# -- transactions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transaction:
    """nearcore ``TransactionV0`` (no version tag on the wire)."""

    signer_id: str
    public_key: PublicKey
    nonce: int
    receiver_id: str
    block_hash: bytes
    actions: tuple[Action, ...]

    def write(self, writer: BorshWriter) -> None:
        writer.string(self.signer_id)
        self.public_key.write(writer)
        writer.u64(self.nonce).string(self.receiver_id).fixed(self.block_hash, 32)
        writer.vec(self.actions, write_action)

    @classmethod
    def read(cls, reader: BorshReader) -> Transaction:
        return cls(
            reader.string(),
            PublicKey.read(reader),
            reader.u64(),
            reader.string(),
            reader.fixed(32),
            tuple(reader.vec(read_action)),
        )

    def to_borsh(self) -> bytes:
        writer = BorshWriter()
        self.write(writer)
        return bytes(writer)

    @classmethod
    def from_borsh(cls, data: bytes) -> Transaction:
        return decode_all(data, cls.read, "NEAR Transaction")

    def hash(self) -> bytes:
        """sha256(borsh(Transaction)): what is signed, and the transaction id."""
        return hashlib.sha256(self.to_borsh()).digest()

    def to_fields(self) -> dict[str, Any]:
        return {
            "signer_id": self.signer_id,
            "public_key": str(self.public_key),
            "nonce": str(self.nonce),
            "receiver_id": self.receiver_id,
            "block_hash": b58(self.block_hash),
            "actions": [action_to_fields(a) for a in self.actions],
        }

    @classmethod
    def from_fields(cls, value: Any, path: str = "") -> Transaction:
        obj = expect_object(value, path)
        check_keys(
            obj,
            path,
            ("signer_id", "public_key", "nonce", "receiver_id", "actions"),
            ("block_hash", "block_hash_hex"),
        )
        which = one_of(obj, path, ("block_hash", "block_hash_hex"))
        block_path = join(path, which)
        if which == "block_hash":
            block_hash = from_base58(obj[which], block_path, 32)
        else:
            block_hash = from_hex(obj[which], block_path, 32)
        return cls(
            validate_account_id(obj["signer_id"], join(path, "signer_id")),
            PublicKey.from_fields(obj["public_key"], join(path, "public_key")),
            uint(obj["nonce"], join(path, "nonce"), 64),
            validate_account_id(obj["receiver_id"], join(path, "receiver_id")),
            block_hash,
            _actions_from_fields(obj["actions"], join(path, "actions"), nested=False),
        )


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    transaction: Transaction
    signature: Signature

    def write(self, writer: BorshWriter) -> None:
        self.transaction.write(writer)
        self.signature.write(writer)

    @classmethod
    def read(cls, reader: BorshReader) -> SignedTransaction:
        return cls(Transaction.read(reader), Signature.read(reader))

    def to_borsh(self) -> bytes:
        writer = BorshWriter()
        self.write(writer)
        return bytes(writer)

    @classmethod
    def from_borsh(cls, data: bytes) -> SignedTransaction:
        return decode_all(data, cls.read, "NEAR SignedTransaction")

    def verify(self) -> bool:
        tx = self.transaction
        return verify_signature(tx.public_key, tx.hash(), self.signature)


# -- NEP-413 -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Nep413Payload:
    """NEP-413 ``Payload``: message, 32-byte nonce, recipient, optional callback URL."""

    message: str
    nonce: bytes
    recipient: str
    callback_url: str | None = None

    def write(self, writer: BorshWriter) -> None:
        writer.string(self.message).fixed(self.nonce, 32).string(self.recipient)
        writer.option(self.callback_url, BorshWriter.string)

    @classmethod
    def read(cls, reader: BorshReader) -> Nep413Payload:
        return cls(
            reader.string(), reader.fixed(32), reader.string(), reader.option(BorshReader.string)
        )

    def to_borsh(self) -> bytes:
        writer = BorshWriter()
        self.write(writer)
        return bytes(writer)

    @classmethod
    def from_borsh(cls, data: bytes) -> Nep413Payload:
        return decode_all(data, cls.read, "NEP-413 payload")

    def signing_preimage(self) -> bytes:
        return bytes(BorshWriter().u32(NEP413_PREFIX)) + self.to_borsh()

    def signing_digest(self) -> bytes:
        return hashlib.sha256(self.signing_preimage()).digest()


# -- the adapter -------------------------------------------------------------------------


def _request(public_key: PublicKey | None, digest: bytes, label: str) -> SignRequest:
    algorithm = public_key.algorithm if public_key is not None else "ed25519"
    return SignRequest(algorithm, digest, label, prehashed=True)


def _signature_for(
    public_key: PublicKey | None, digest: bytes, signature: bytes, what: str
) -> Signature:
    key_type = public_key.key_type if public_key is not None else KEY_TYPE_ED25519
    expected = SIGNATURE_LENGTHS[key_type]
    if len(signature) != expected:
        raise FinalizeError(
            f"a {KEY_TYPE_NAMES[key_type]} signature is {expected} bytes, got {len(signature)}"
        )
    sig = Signature(key_type, signature)
    if public_key is not None and not verify_signature(public_key, digest, sig):
        raise FinalizeError(f"the signature does not verify under {public_key} for this {what}")
    return sig


def _decode_payload(
    payload: Mapping[str, Any], decode: Callable[[bytes], Any], what: str
) -> dict[str, Any]:
    """A ``{"borsh_base64": ...}`` payload decoded to fields (then validated like any other)."""
    check_keys(payload, "", ("borsh_base64",))
    data = from_base64(payload["borsh_base64"], "borsh_base64")
    try:
        decoded = decode(data)
    except DecodeError as exc:
        raise PayloadError("borsh_base64", f"is not a {what}: {exc}") from None
    fields: dict[str, Any] = decoded.to_fields()
    return fields


class NearAdapter:
    """NEAR payloads to sign requests: kinds ``transaction``, ``delegate_action``, ``nep413``.

    ``transaction`` and ``delegate_action`` take their fields, or
    ``{"borsh_base64": ...}`` holding the Borsh bytes to decode. ``finalize``
    gives, for a transaction, the Borsh SignedTransaction (also base64) and
    its id (base58 sha256); for a delegate action, the Borsh SignedDelegate,
    the ``Delegate`` action a relayer puts in its own transaction, and the
    NEP-366 hash; for NEP-413, the signature in base64 with the
    ``accountId`` and ``publicKey`` of a NEP-413 ``SignedMessage``.
    Signatures are checked against the payload's public key before anything
    is assembled.
    """

    chain = CHAIN
    kinds: tuple[str, ...] = ("transaction", "delegate_action", "nep413")

    def build_intent(self, kind: str, payload: Mapping[str, Any]) -> SigningIntent:
        if kind not in self.kinds:
            raise UnsupportedKindError(
                "kind", f"NEAR has no payload kind {kind!r} (expected one of {self.kinds})"
            )
        obj = expect_object(payload, "")
        if kind == "transaction":
            return self._transaction(obj)
        if kind == "delegate_action":
            return self._delegate_action(obj)
        return self._nep413(obj)

    def _transaction(self, payload: Mapping[str, Any]) -> SigningIntent:
        if "borsh_base64" in payload:
            payload = _decode_payload(payload, Transaction.from_borsh, "NEAR Transaction")
        tx = Transaction.from_fields(payload)
        digest = tx.hash()
        tx_id = b58(digest)
        display = {
            "actions": [a.describe() for a in tx.actions],
            "total_deposit": near_amount(_total_deposit(tx.actions)),
            "total_gas": gas_amount(_total_gas(tx.actions)),
            "transaction_hash": tx_id,
        }
        summary = f"{tx.signer_id} -> {tx.receiver_id}: {_actions_summary(tx.actions)}"
        ui_model = make_ui_model(CHAIN, "transaction", summary, tx.to_fields(), display)
        label = f"NEAR transaction {tx_id} from {tx.signer_id} (sha256 of the Borsh Transaction)"
        request = _request(tx.public_key, digest, label)

        def finalize(signatures: Sequence[bytes]) -> Finalized:
            signature = _signature_for(tx.public_key, digest, signatures[0], "transaction")
            raw = SignedTransaction(tx, signature).to_borsh()
            return Finalized(
                CHAIN,
                "transaction",
                raw,
                tx_id,
                {
                    "signed_transaction_base64": b64(raw),
                    "signature": str(signature),
                    "public_key": str(tx.public_key),
                },
            )

        return SigningIntent(CHAIN, "transaction", ui_model, (request,), finalize)

    def _delegate_action(self, payload: Mapping[str, Any]) -> SigningIntent:
        if "borsh_base64" in payload:
            payload = _decode_payload(payload, DelegateAction.from_borsh, "NEAR DelegateAction")
        action = DelegateAction.from_fields(payload)
        digest = action.signing_digest()
        display = {**action.describe(), "delegate_action_hash": b58(digest)}
        summary = (
            f"{action.sender_id} -> {action.receiver_id} (delegate action, relayed and paid "
            f"for by someone else): {_actions_summary(action.actions)}"
        )
        ui_model = make_ui_model(CHAIN, "delegate_action", summary, action.to_fields(), display)
        label = f"NEAR delegate action from {action.sender_id} (NEP-366)"
        request = _request(action.public_key, digest, label)

        def finalize(signatures: Sequence[bytes]) -> Finalized:
            signature = _signature_for(action.public_key, digest, signatures[0], "delegate action")
            signed = SignedDelegate(action, signature)
            raw = signed.to_borsh()
            return Finalized(
                CHAIN,
                "delegate_action",
                raw,
                b58(digest),
                {
                    "signed_delegate_base64": b64(raw),
                    "signature": str(signature),
                    "action": action_to_fields(Delegate(signed)),
                },
            )

        return SigningIntent(CHAIN, "delegate_action", ui_model, (request,), finalize)

    def _nep413(self, payload: Mapping[str, Any]) -> SigningIntent:
        check_keys(
            payload,
            "",
            ("message", "recipient"),
            ("nonce_base64", "nonce_hex", "callback_url", "account_id", "public_key"),
        )
        which = one_of(payload, "", ("nonce_base64", "nonce_hex"))
        if which == "nonce_base64":
            nonce = from_base64(payload[which], which, 32)
        else:
            nonce = from_hex(payload[which], which, 32)
        callback_raw = payload.get("callback_url")
        callback_url = None if callback_raw is None else expect_str(callback_raw, "callback_url")
        message = Nep413Payload(
            expect_str(payload["message"], "message"),
            nonce,
            expect_str(payload["recipient"], "recipient"),
            callback_url,
        )
        if not message.recipient:
            raise PayloadError("recipient", "must name who the message is for")
        account_raw = payload.get("account_id")
        account_id = None if account_raw is None else validate_account_id(account_raw, "account_id")
        key_raw = payload.get("public_key")
        public_key = None if key_raw is None else PublicKey.from_fields(key_raw, "public_key")
        digest = message.signing_digest()
        fields: dict[str, Any] = {
            "message": message.message,
            "nonce_base64": b64(message.nonce),
            "recipient": message.recipient,
            "callback_url": message.callback_url,
        }
        if account_id is not None:
            fields["account_id"] = account_id
        if public_key is not None:
            fields["public_key"] = str(public_key)
        display = {"nonce_hex": message.nonce.hex(), "message_hash": b58(digest)}
        who = account_id or "this key"
        summary = f"sign in as {who} to {message.recipient}: {message.message!r} (NEP-413)"
        ui_model = make_ui_model(CHAIN, "nep413", summary, fields, display)
        request = _request(public_key, digest, f"NEP-413 message for {message.recipient}")

        def finalize(signatures: Sequence[bytes]) -> Finalized:
            signature = _signature_for(public_key, digest, signatures[0], "NEP-413 message")
            extra: dict[str, Any] = {
                "signature": b64(signature.data),
                "signature_near": str(signature),
            }
            if account_id is not None:
                extra["accountId"] = account_id
            if public_key is not None:
                extra["publicKey"] = str(public_key)
            return Finalized(CHAIN, "nep413", None, None, extra)

        return SigningIntent(CHAIN, "nep413", ui_model, (request,), finalize)


__all__ = [
    "ACTION_NAMES",
    "ACTION_TYPES",
    "NEP366_PREFIX",
    "NEP413_PREFIX",
    "AccessKey",
    "Action",
    "AddKey",
    "CreateAccount",
    "Delegate",
    "DelegateAction",
    "DeleteAccount",
    "DeleteKey",
    "DeployContract",
    "FullAccess",
    "FunctionCall",
    "FunctionCallPermission",
    "NearAdapter",
    "Nep413Payload",
    "PublicKey",
    "Signature",
    "SignedDelegate",
    "SignedTransaction",
    "Stake",
    "Transaction",
    "Transfer",
    "action_from_fields",
    "action_to_fields",
    "decode_json_args",
    "near_amount",
    "read_action",
    "validate_account_id",
    "verify_signature",
    "write_action",
]
