"""Solana: legacy and v0 transaction messages, and raw off-chain messages.

What is signed, after the Solana documentation ("Transactions", "Versioned
Transactions", "Address Lookup Tables") and ``solana-sdk``'s ``message``
crate: every required signer signs the serialized message itself with
Ed25519, no digest in between. For a legacy message that is the message's
bytes; for a v0 message it is the versioned encoding, ``0x80`` followed by
the message. The wire transaction is ``shortvec(signature count) ||
signatures || signed message bytes``, and the first signature (the fee
payer's), in base58, is the transaction id.

Messages are built and parsed with solders (the Rust ``solana-message`` types
behind a Python API). A payload is one of:

* the compiled message, field for field (``header``, ``account_keys``,
  ``recent_blockhash``, ``instructions`` by account index,
  ``address_table_lookups``). This is the normal form: it is exactly what is
  signed, so ``ui_model["fields"]`` always takes it;
* ``message_base64`` or ``message_hex``: serialized message bytes, as a dApp
  or another wallet hands them over;
* instructions to compile (``fee_payer``, ``instructions`` with program ids
  and account metas), compiled by solders. Compilers order accounts
  differently (solders and web3.js do), which is why the compiled form and
  not this one is what the user reviews and what is rebuilt.

Lookup table contents (``address_lookup_tables``: each table's key and
addresses) are not signed, but the accounts they name are: a v0 payload may
carry them so the review shows every account by its address, and the
instruction form needs them to compile.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import AccountMeta, CompiledInstruction, Instruction
from solders.message import (
    Message,
    MessageAddressTableLookup,
    MessageHeader,
    MessageV0,
    VersionedMessage,
    from_bytes_versioned,
    to_bytes_versioned,
)
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction

from cosigner.chains.errors import FinalizeError, PayloadError, UnsupportedKindError
from cosigner.chains.intent import Finalized, SigningIntent, SignRequest, make_ui_model
from cosigner.chains.payload import (
    b58,
    b64,
    check_keys,
    expect_bool,
    expect_list,
    expect_object,
    expect_str,
    format_units,
    from_base58,
    from_base64,
    from_hex,
    join,
    one_of,
    small_uint,
)

CHAIN = "solana"
SOL_DECIMALS = 9
LAMPORTS_PER_SIGNATURE = 5000
"""The base fee per signature; priority fees come on top (compute budget instructions)."""

MAX_ACCOUNTS = 256
"""Account indexes are one byte."""

V0_PREFIX = 0x80
SYSTEM_PROGRAM = "11111111111111111111111111111111"
COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
PROGRAM_NAMES = {
    SYSTEM_PROGRAM: "System Program",
    COMPUTE_BUDGET_PROGRAM: "Compute Budget Program",
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA": "Token Program",
    "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb": "Token-2022 Program",
    "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL": "Associated Token Account Program",
    "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr": "Memo Program",
    "AddressLookupTab1e1111111111111111111111111": "Address Lookup Table Program",
}
_MESSAGE_FORMS = ("message_base64", "message_hex")


def sol_amount(lamports: int) -> dict[str, str]:
    return {"lamports": str(lamports), "SOL": format_units(lamports, SOL_DECIMALS)}


# -- reading payloads ---------------------------------------------------------------------


def _pubkey(value: Any, path: str) -> Pubkey:
    return Pubkey.from_bytes(from_base58(value, path, 32))


def _blockhash(value: Any, path: str) -> Hash:
    return Hash(from_base58(value, path, 32))


def _data(obj: Mapping[str, Any], path: str) -> bytes:
    which = one_of(obj, path, ("data_hex", "data_base58", "data_base64"))
    data_path = join(path, which)
    if which == "data_hex":
        return from_hex(obj[which], data_path)
    if which == "data_base64":
        return from_base64(obj[which], data_path)
    return from_base58(obj[which], data_path) if obj[which] else b""


def _index_list(value: Any, path: str) -> bytes:
    items = expect_list(value, path)
    return bytes(small_uint(v, join(path, i), MAX_ACCOUNTS - 1) for i, v in enumerate(items))


def _version(value: Any, path: str) -> str:
    if value == "legacy":
        return "legacy"
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return "v0"
    raise PayloadError(path, 'must be "legacy" or 0 (versions after 0 are not supported)')


def _tables(payload: Mapping[str, Any]) -> dict[Pubkey, list[Pubkey]]:
    """``address_lookup_tables``: the contents of the tables a v0 message may read."""
    path = "address_lookup_tables"
    tables: dict[Pubkey, list[Pubkey]] = {}
    for i, raw in enumerate(expect_list(payload.get(path, []), path)):
        tpath = join(path, i)
        table = expect_object(raw, tpath)
        check_keys(table, tpath, ("key", "addresses"))
        key = _pubkey(table["key"], join(tpath, "key"))
        if key in tables:
            raise PayloadError(join(tpath, "key"), f"table {key} is listed twice")
        apath = join(tpath, "addresses")
        tables[key] = [
            _pubkey(a, join(apath, j)) for j, a in enumerate(expect_list(table["addresses"], apath))
        ]
    return tables


def _check_compiled(message: Message | MessageV0, path_prefix: str = "") -> None:
    """The structural rules of ``Message::sanitize``, each reported at its field."""
    header = message.header
    keys = message.account_keys
    header_path = join(path_prefix, "header")
    if header.num_required_signatures == 0:
        raise PayloadError(
            join(header_path, "num_required_signatures"), "the fee payer must sign: at least 1"
        )
    if header.num_readonly_signed_accounts >= header.num_required_signatures:
        raise PayloadError(
            join(header_path, "num_readonly_signed_accounts"),
            "must be below num_required_signatures (the fee payer is writable)",
        )
    if header.num_required_signatures + header.num_readonly_unsigned_accounts > len(keys):
        raise PayloadError(
            header_path, "more signers and read-only accounts than account_keys hold"
        )
    if len(set(keys)) != len(keys):
        seen: set[Pubkey] = set()
        for i, key in enumerate(keys):
            if key in seen:
                raise PayloadError(join(join(path_prefix, "account_keys"), i), f"{key} repeats")
            seen.add(key)
    loaded = 0
    if isinstance(message, MessageV0):
        for i, lookup in enumerate(message.address_table_lookups):
            if not lookup.writable_indexes and not lookup.readonly_indexes:
                raise PayloadError(
                    join(join(path_prefix, "address_table_lookups"), i), "loads no account"
                )
            loaded += len(lookup.writable_indexes) + len(lookup.readonly_indexes)
    total = len(keys) + loaded
    if total > MAX_ACCOUNTS:
        raise PayloadError(
            join(path_prefix, "account_keys"), f"{total} accounts; at most {MAX_ACCOUNTS}"
        )
    for i, ix in enumerate(message.instructions):
        ipath = join(join(path_prefix, "instructions"), i)
        if not 0 < ix.program_id_index < len(keys):
            raise PayloadError(
                join(ipath, "program_id_index"),
                f"must point at a static account key other than the fee payer (1..{len(keys) - 1})",
            )
        for j, index in enumerate(ix.accounts):
            if index >= total:
                raise PayloadError(
                    join(join(ipath, "accounts"), j), f"index {index} but only {total} accounts"
                )


def _compiled_message(payload: Mapping[str, Any]) -> Message | MessageV0:
    check_keys(
        payload,
        "",
        ("version", "header", "account_keys", "recent_blockhash", "instructions"),
        ("address_table_lookups", "address_lookup_tables"),
    )
    version = _version(payload["version"], "version")
    header_obj = expect_object(payload["header"], "header")
    header_names = (
        "num_required_signatures",
        "num_readonly_signed_accounts",
        "num_readonly_unsigned_accounts",
    )
    check_keys(header_obj, "header", header_names)
    counts = [small_uint(header_obj[n], join("header", n), 255) for n in header_names]
    keys_raw = expect_list(payload["account_keys"], "account_keys")
    keys = [_pubkey(k, join("account_keys", i)) for i, k in enumerate(keys_raw)]
    blockhash = _blockhash(payload["recent_blockhash"], "recent_blockhash")
    instructions = []
    for i, raw in enumerate(expect_list(payload["instructions"], "instructions")):
        ipath = join("instructions", i)
        ix = expect_object(raw, ipath)
        check_keys(
            ix, ipath, ("program_id_index", "accounts"), ("data_hex", "data_base58", "data_base64")
        )
        instructions.append(
            CompiledInstruction(
                small_uint(ix["program_id_index"], join(ipath, "program_id_index"), 255),
                _data(ix, ipath),
                _index_list(ix["accounts"], join(ipath, "accounts")),
            )
        )
    message: Message | MessageV0
    if version == "legacy":
        for name in ("address_table_lookups", "address_lookup_tables"):
            if name in payload:
                raise PayloadError(name, "only v0 messages use address lookup tables")
        message = Message.new_with_compiled_instructions(
            counts[0], counts[1], counts[2], keys, blockhash, instructions
        )
    else:
        lookups = []
        lpath = "address_table_lookups"
        for i, raw in enumerate(expect_list(payload.get(lpath, []), lpath)):
            path = join(lpath, i)
            lookup = expect_object(raw, path)
            check_keys(lookup, path, ("account_key", "writable_indexes", "readonly_indexes"))
            lookups.append(
                MessageAddressTableLookup(
                    _pubkey(lookup["account_key"], join(path, "account_key")),
                    _index_list(lookup["writable_indexes"], join(path, "writable_indexes")),
                    _index_list(lookup["readonly_indexes"], join(path, "readonly_indexes")),
                )
            )
        message = MessageV0(MessageHeader(*counts), keys, blockhash, instructions, lookups)
    _check_compiled(message)
    return message


def _instruction(raw: Any, path: str) -> Instruction:
    ix = expect_object(raw, path)
    check_keys(ix, path, ("program_id", "accounts"), ("data_hex", "data_base58", "data_base64"))
    metas = []
    apath = join(path, "accounts")
    for j, meta_raw in enumerate(expect_list(ix["accounts"], apath)):
        mpath = join(apath, j)
        meta = expect_object(meta_raw, mpath)
        check_keys(meta, mpath, ("pubkey", "is_signer", "is_writable"))
        metas.append(
            AccountMeta(
                _pubkey(meta["pubkey"], join(mpath, "pubkey")),
                expect_bool(meta["is_signer"], join(mpath, "is_signer")),
                expect_bool(meta["is_writable"], join(mpath, "is_writable")),
            )
        )
    return Instruction(_pubkey(ix["program_id"], join(path, "program_id")), _data(ix, path), metas)


def _compile(payload: Mapping[str, Any], tables: Mapping[Pubkey, list[Pubkey]]) -> VersionedMessage:
    check_keys(
        payload,
        "",
        ("version", "fee_payer", "recent_blockhash", "instructions"),
        ("address_lookup_tables",),
    )
    version = _version(payload["version"], "version")
    payer = _pubkey(payload["fee_payer"], "fee_payer")
    blockhash = _blockhash(payload["recent_blockhash"], "recent_blockhash")
    instructions = [
        _instruction(raw, join("instructions", i))
        for i, raw in enumerate(expect_list(payload["instructions"], "instructions"))
    ]
    if version == "legacy":
        if tables:
            raise PayloadError("address_lookup_tables", "only v0 messages use lookup tables")
        return Message.new_with_blockhash(instructions, payer, blockhash)
    accounts = [AddressLookupTableAccount(k, v) for k, v in tables.items()]
    try:
        return MessageV0.try_compile(payer, instructions, accounts, blockhash)
    except Exception as exc:  # solders' CompileError
        raise PayloadError("instructions", f"do not compile to a v0 message: {exc}") from None


def _parse(payload: Mapping[str, Any]) -> VersionedMessage:
    which = one_of(payload, "", _MESSAGE_FORMS)
    check_keys(payload, "", (which,), ("address_lookup_tables",))
    if which == "message_base64":
        data = from_base64(payload[which], which)
    else:
        data = from_hex(payload[which], which)
    try:
        message = from_bytes_versioned(data)
    except Exception as exc:
        raise PayloadError(which, f"is not a Solana message: {exc}") from None
    if isinstance(message, Message | MessageV0) and to_bytes_versioned(message) != data:
        raise PayloadError(which, "has trailing or non-canonical bytes after the message")
    return message


def _only_supported(message: VersionedMessage, path: str) -> Message | MessageV0:
    if isinstance(message, Message | MessageV0):
        return message
    raise PayloadError(path, "only legacy and v0 messages are supported")


# -- the compiled message, read for people ---------------------------------------------


@dataclass(frozen=True)
class _Account:
    pubkey: str
    signer: bool
    writable: bool
    source: str


def _accounts(
    message: Message | MessageV0, tables: Mapping[Pubkey, list[Pubkey]]
) -> list[_Account]:
    """Every account the message touches, in index order, with its role."""
    header = message.header
    keys = message.account_keys
    signers = header.num_required_signatures
    out = []
    for i, key in enumerate(keys):
        signer = i < signers
        if signer:
            writable = i < signers - header.num_readonly_signed_accounts
        else:
            writable = i < len(keys) - header.num_readonly_unsigned_accounts
        out.append(_Account(str(key), signer, writable, "static"))
    if isinstance(message, MessageV0):
        for writable in (True, False):
            for lookup in message.address_table_lookups:
                contents = tables.get(lookup.account_key)
                indexes = lookup.writable_indexes if writable else lookup.readonly_indexes
                for index in indexes:
                    source = f"lookup table {lookup.account_key} [{index}]"
                    if contents is not None and index < len(contents):
                        name = str(contents[index])
                    else:
                        name = f"(unresolved) {source}"
                    out.append(_Account(name, False, writable, source))
    return out


def _decode_system(data: bytes, accounts: Sequence[str]) -> dict[str, Any] | None:
    if len(data) < 4:
        return None
    (tag,) = struct.unpack_from("<I", data)
    if tag == 2 and len(data) == 12 and len(accounts) >= 2:
        (lamports,) = struct.unpack_from("<Q", data, 4)
        return {
            "instruction": "transfer",
            "from": accounts[0],
            "to": accounts[1],
            "amount": sol_amount(lamports),
        }
    if tag == 0 and len(data) == 52 and len(accounts) >= 2:
        lamports, space = struct.unpack_from("<QQ", data, 4)
        return {
            "instruction": "create_account",
            "funder": accounts[0],
            "new_account": accounts[1],
            "amount": sol_amount(lamports),
            "space": space,
            "owner": b58(data[20:52]),
        }
    if tag == 1 and len(data) == 36 and accounts:
        return {"instruction": "assign", "account": accounts[0], "owner": b58(data[4:36])}
    if tag == 4 and len(data) == 4 and len(accounts) >= 3:
        return {
            "instruction": "advance_nonce_account",
            "nonce_account": accounts[0],
            "nonce_authority": accounts[2],
        }
    if tag == 8 and len(data) == 12 and accounts:
        (space,) = struct.unpack_from("<Q", data, 4)
        return {"instruction": "allocate", "account": accounts[0], "space": space}
    return None


def _decode_compute_budget(data: bytes) -> dict[str, Any] | None:
    if len(data) == 5 and data[0] == 2:
        (units,) = struct.unpack_from("<I", data, 1)
        return {"instruction": "set_compute_unit_limit", "units": units}
    if len(data) == 9 and data[0] == 3:
        (price,) = struct.unpack_from("<Q", data, 1)
        return {"instruction": "set_compute_unit_price", "micro_lamports_per_unit": str(price)}
    return None


def _describe(
    message: Message | MessageV0, tables: Mapping[Pubkey, list[Pubkey]]
) -> tuple[dict[str, Any], str]:
    accounts = _accounts(message, tables)
    instructions = []
    moved: list[str] = []
    for ix in message.instructions:
        program = accounts[ix.program_id_index].pubkey
        metas = [accounts[i] for i in ix.accounts]
        entry: dict[str, Any] = {
            "program_id": program,
            "accounts": [
                {"pubkey": a.pubkey, "signer": a.signer, "writable": a.writable} for a in metas
            ],
            "data_hex": bytes(ix.data).hex(),
        }
        if program in PROGRAM_NAMES:
            entry["program"] = PROGRAM_NAMES[program]
        decoded = None
        if program == SYSTEM_PROGRAM:
            decoded = _decode_system(bytes(ix.data), [a.pubkey for a in metas])
        elif program == COMPUTE_BUDGET_PROGRAM:
            decoded = _decode_compute_budget(bytes(ix.data))
        if decoded is not None:
            entry["decoded"] = decoded
            if decoded["instruction"] == "transfer":
                moved.append(f"{decoded['amount']['SOL']} SOL to {decoded['to']}")
        instructions.append(entry)
    signers = [a.pubkey for a in accounts if a.signer]
    version = "legacy" if isinstance(message, Message) else "v0"
    display = {
        "version": version,
        "fee_payer": signers[0],
        "signers": signers,
        "accounts": [
            {"pubkey": a.pubkey, "signer": a.signer, "writable": a.writable, "source": a.source}
            for a in accounts
        ],
        "instructions": instructions,
        "base_fee": sol_amount(LAMPORTS_PER_SIGNATURE * len(signers)),
    }
    what = "; ".join(moved) if moved else f"{len(instructions)} instruction(s)"
    summary = f"Solana {version} transaction paid by {signers[0]}: {what}"
    return display, summary


def message_fields(
    message: Message | MessageV0, tables: Mapping[Pubkey, list[Pubkey]]
) -> dict[str, Any]:
    """The compiled message as plain JSON: the normal form of a ``transaction`` payload."""
    header = message.header
    fields: dict[str, Any] = {
        "version": "legacy" if isinstance(message, Message) else 0,
        "header": {
            "num_required_signatures": header.num_required_signatures,
            "num_readonly_signed_accounts": header.num_readonly_signed_accounts,
            "num_readonly_unsigned_accounts": header.num_readonly_unsigned_accounts,
        },
        "account_keys": [str(k) for k in message.account_keys],
        "recent_blockhash": str(message.recent_blockhash),
        "instructions": [
            {
                "program_id_index": ix.program_id_index,
                "accounts": list(ix.accounts),
                "data_hex": bytes(ix.data).hex(),
            }
            for ix in message.instructions
        ],
    }
    if isinstance(message, MessageV0):
        fields["address_table_lookups"] = [
            {
                "account_key": str(lookup.account_key),
                "writable_indexes": list(lookup.writable_indexes),
                "readonly_indexes": list(lookup.readonly_indexes),
            }
            for lookup in message.address_table_lookups
        ]
        used = [lookup.account_key for lookup in message.address_table_lookups]
        known = [key for key in used if key in tables]
        if known:
            fields["address_lookup_tables"] = [
                {"key": str(key), "addresses": [str(a) for a in tables[key]]} for key in known
            ]
    return fields


def _check_tables(
    message: Message | MessageV0, tables: Mapping[Pubkey, list[Pubkey]], path_prefix: str
) -> None:
    if not isinstance(message, MessageV0):
        return
    for i, lookup in enumerate(message.address_table_lookups):
        contents = tables.get(lookup.account_key)
        if contents is None:
            continue
        for name in ("writable_indexes", "readonly_indexes"):
            for j, index in enumerate(getattr(lookup, name)):
                if index >= len(contents):
                    raise PayloadError(
                        join(join(join(join(path_prefix, "address_table_lookups"), i), name), j),
                        f"index {index}, but table {lookup.account_key} holds "
                        f"{len(contents)} addresses",
                    )


def signed_message_bytes(message: Message | MessageV0) -> bytes:
    """What every signer signs: the message (legacy) or 0x80 || the message (v0)."""
    return to_bytes_versioned(message)


def parse_transaction(wire: bytes) -> VersionedTransaction:
    """A wire transaction (legacy or v0), checked to re-serialize to the same bytes."""
    try:
        tx = VersionedTransaction.from_bytes(wire)
    except Exception as exc:
        raise PayloadError("transaction", f"is not a Solana transaction: {exc}") from None
    if bytes(tx) != wire:
        raise PayloadError("transaction", "has trailing or non-canonical bytes")
    return tx


def _verify(pubkey: Pubkey, message: bytes, signature: bytes) -> bool:
    try:
        VerifyKey(bytes(pubkey)).verify(message, signature)
    except (BadSignatureError, ValueError):
        return False
    return True


def _looks_like_transaction(data: bytes) -> bool:
    try:
        message = from_bytes_versioned(data)
    except Exception:
        return False
    return bool(to_bytes_versioned(message) == data)


# -- the adapter -------------------------------------------------------------------------


class SolanaAdapter:
    """Solana payloads to sign requests: kinds ``transaction`` and ``message``.

    ``transaction`` gives one sign request per required signer, in the order
    of the message's signer keys (fee payer first); each covers the same
    message bytes. ``message`` signs raw bytes off chain, as wallets'
    ``signMessage`` does, and refuses bytes that are a transaction message.
    """

    chain = CHAIN
    kinds: tuple[str, ...] = ("transaction", "message")

    def build_intent(self, kind: str, payload: Mapping[str, Any]) -> SigningIntent:
        if kind not in self.kinds:
            raise UnsupportedKindError(
                "kind", f"Solana has no payload kind {kind!r} (expected one of {self.kinds})"
            )
        obj = expect_object(payload, "")
        if kind == "transaction":
            return self._transaction(obj)
        return self._message(obj)

    def _transaction(self, payload: Mapping[str, Any]) -> SigningIntent:
        tables = _tables(payload)
        # Where the decoded message's fields sit: inside the wire bytes, or at the top.
        where = ""
        if any(k in payload for k in _MESSAGE_FORMS):
            where = next(k for k in _MESSAGE_FORMS if k in payload)
            message = _only_supported(_parse(payload), where)
            _check_compiled(message, where)
        elif "account_keys" in payload:
            message = _compiled_message(payload)
        elif "fee_payer" in payload:
            message = _only_supported(_compile(payload, tables), "version")
        else:
            raise PayloadError(
                "account_keys",
                "is required (or message_base64, message_hex, or fee_payer with instructions)",
            )
        if isinstance(message, MessageV0):
            try:
                message.sanitize()
            except Exception as exc:
                raise PayloadError(where, f"the message does not sanitize: {exc}") from None
        else:
            try:
                Transaction.new_unsigned(message).sanitize()
            except Exception as exc:
                raise PayloadError(where, f"the message does not sanitize: {exc}") from None
        _check_tables(message, tables, where)
        signed = signed_message_bytes(message)
        display, summary = _describe(message, tables)
        fields = message_fields(message, tables)
        ui_model = make_ui_model(CHAIN, "transaction", summary, fields, display)
        count = message.header.num_required_signatures
        signers = list(message.account_keys[:count])
        requests = tuple(
            SignRequest(
                "ed25519",
                signed,
                f"Solana {display['version']} transaction, signer {i + 1} of {count}: {key}"
                + (" (fee payer)" if i == 0 else ""),
                prehashed=False,
            )
            for i, key in enumerate(signers)
        )

        def finalize(signatures: Sequence[bytes]) -> Finalized:
            sigs = []
            for i, (key, signature) in enumerate(zip(signers, signatures, strict=True)):
                if len(signature) != 64:
                    raise FinalizeError(
                        f"signature {i} is {len(signature)} bytes; Ed25519 signatures are 64"
                    )
                if not _verify(key, signed, signature):
                    raise FinalizeError(f"signature {i} does not verify under {key}")
                sigs.append(Signature.from_bytes(signature))
            tx: Transaction | VersionedTransaction
            if isinstance(message, Message):
                tx = Transaction.populate(message, sigs)
            else:
                tx = VersionedTransaction.populate(message, sigs)
            raw = bytes(tx)
            return Finalized(
                CHAIN,
                "transaction",
                raw,
                str(sigs[0]),
                {
                    "transaction_base64": b64(raw),
                    "signatures": [str(s) for s in sigs],
                    "version": display["version"],
                },
            )

        return SigningIntent(CHAIN, "transaction", ui_model, requests, finalize)

    def _message(self, payload: Mapping[str, Any]) -> SigningIntent:
        forms = ("message_utf8", "message_hex", "message_base64")
        which = one_of(payload, "", forms)
        check_keys(payload, "", ("signer", which))
        if which == "message_utf8":
            try:
                data = expect_str(payload[which], which).encode("utf-8")
            except UnicodeEncodeError:
                raise PayloadError(which, "holds a lone surrogate, not text") from None
        elif which == "message_hex":
            data = from_hex(payload[which], which)
        else:
            data = from_base64(payload[which], which)
        if not data:
            raise PayloadError(which, "must not be empty")
        if _looks_like_transaction(data):
            raise PayloadError(
                which, "these bytes are a Solana transaction message; sign it as a transaction"
            )
        signer = _pubkey(payload["signer"], "signer")
        fields: dict[str, Any] = {"signer": str(signer)}
        try:
            fields["message_utf8"] = data.decode("utf-8")
        except UnicodeDecodeError:
            fields["message_hex"] = data.hex()
        display = {"length": len(data), "message_hex": data.hex()}
        shown = fields.get("message_utf8", f"{len(data)} bytes")
        summary = f"sign an off-chain message as {signer}: {shown!r}"
        ui_model = make_ui_model(CHAIN, "message", summary, fields, display)
        request = SignRequest("ed25519", data, f"Solana off-chain message, {signer}", False)

        def finalize(signatures: Sequence[bytes]) -> Finalized:
            signature = signatures[0]
            if len(signature) != 64 or not _verify(signer, data, signature):
                raise FinalizeError(f"the signature does not verify under {signer}")
            return Finalized(
                CHAIN,
                "message",
                None,
                None,
                {"signature": b58(signature), "signer": str(signer)},
            )

        return SigningIntent(CHAIN, "message", ui_model, (request,), finalize)


__all__ = [
    "LAMPORTS_PER_SIGNATURE",
    "SolanaAdapter",
    "message_fields",
    "parse_transaction",
    "signed_message_bytes",
    "sol_amount",
]
