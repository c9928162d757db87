"""The coordinator's records: groups, DKG messages, proposals, and their JSON forms.

Records are immutable dataclasses holding public values only: identity keys,
FROST public packages and commitments, signature shares, ciphertexts. They
travel to clients as :meth:`to_dict` (plain JSON: bytes in unpadded
base64url, keys in hex) and are stored by :mod:`cosigner.multisig.store` as
:meth:`to_json` text plus a few indexed columns. ``version`` counts writes
and backs the store's compare-and-swap.

Group life cycle: ``dkg`` -> ``active`` (or ``failed``); an active group
goes to ``refreshing`` and back to ``active``, with the same group key and a
higher ``epoch`` when the refresh completes (the old shares when it fails).

A keygen session (the DKG, or one refresh) moves through the stages
``round1`` (part-one packages) -> ``echo`` (set hashes) -> ``round2``
(encrypted part-two envelopes) -> ``confirm`` (signatures over the group key
and the transcript hash).

Proposal life cycle: ``collecting`` (round-one commitments) -> ``signing``
(signing package fixed at the threshold; shares) -> ``ready`` (aggregated
signature) -> ``executed``; a bad share sends a proposal back to
``collecting`` for a new attempt without its owner; ``cancelled``,
``expired`` and ``failed`` are final.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from cosigner.errors import DecodeError
from cosigner.frost.serialization import b64url_decode, b64url_encode
from cosigner.multisig.errors import KEYGEN_FAILURES, KeygenFailed, short_key
from cosigner.multisig.transcript import SCHEME_ID, SUITE_NAME

GroupStatus = Literal["dkg", "active", "refreshing", "failed"]
KeygenKind = Literal["dkg", "refresh"]
KeygenStage = Literal["round1", "echo", "round2", "confirm"]
MessageKind = Literal["round1", "echo", "round2", "confirm"]
ProposalKind = Literal["operation", "intent"]
ProposalStatus = Literal[
    "collecting", "signing", "ready", "executed", "cancelled", "expired", "failed"
]

KEYGEN_STAGES: Final[tuple[KeygenStage, ...]] = ("round1", "echo", "round2", "confirm")
LIVE_STATUSES: Final[tuple[ProposalStatus, ...]] = ("collecting", "signing")
FINAL_STATUSES: Final[tuple[ProposalStatus, ...]] = ("executed", "cancelled", "expired", "failed")


def _b(data: bytes | None) -> str | None:
    return None if data is None else b64url_encode(data)


def _ub(text: Any, what: str) -> bytes:
    return b64url_decode(text, what)


def _oub(text: Any, what: str) -> bytes | None:
    return None if text is None else _ub(text, what)


def _hex(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise DecodeError(f"{what}: expected hex text")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise DecodeError(f"{what}: invalid hex") from None


@dataclass(frozen=True, slots=True)
class OwnerInfo:
    """An owner: its identity key and its FROST identifier (``HID`` of the key)."""

    key: bytes
    identifier: int

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key.hex(), "identifier": str(self.identifier)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OwnerInfo:
        return cls(_hex(d["key"], "owner.key"), int(d["identifier"]))


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a DKG or refresh failed: the error code, its message and the owners at fault."""

    code: str
    message: str
    culprits: tuple[OwnerInfo, ...]
    reported_by: bytes | None
    at: int
    session: str

    def to_error(self) -> KeygenFailed:
        cls = KEYGEN_FAILURES.get(self.code, KeygenFailed)
        err = cls(self.message, [(o.key, o.identifier) for o in self.culprits], self.reported_by)
        # The stored message already names the culprits.
        err.message = self.message
        err.args = (self.message,)
        return err

    @classmethod
    def from_error(
        cls, error: KeygenFailed, owners: Sequence[OwnerInfo], at: int, session: str
    ) -> Failure:
        by_key = {o.key: o for o in owners}
        culprits = tuple(by_key[k] for k in error.culprit_keys if k in by_key)
        return cls(error.code, error.message, culprits, error.reported_by, at, session)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "culprits": [o.to_dict() for o in self.culprits],
            "reported_by": None if self.reported_by is None else self.reported_by.hex(),
            "at": self.at,
            "session": self.session,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Failure:
        return cls(
            str(d["code"]),
            str(d["message"]),
            tuple(OwnerInfo.from_dict(o) for o in d["culprits"]),
            None if d["reported_by"] is None else _hex(d["reported_by"], "reported_by"),
            int(d["at"]),
            str(d["session"]),
        )


@dataclass(frozen=True, slots=True)
class KeygenSession:
    """The DKG or refresh in progress: ``name`` scopes its messages and signatures."""

    name: str
    kind: KeygenKind
    epoch: int
    stage: KeygenStage
    started_by: bytes
    started_at: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "epoch": self.epoch,
            "stage": self.stage,
            "started_by": self.started_by.hex(),
            "started_at": self.started_at,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> KeygenSession:
        kind = d["kind"]
        stage = d["stage"]
        if kind not in ("dkg", "refresh") or stage not in KEYGEN_STAGES:
            raise DecodeError("keygen session: unknown kind or stage")
        return cls(
            str(d["name"]),
            kind,
            int(d["epoch"]),
            stage,
            _hex(d["started_by"], "started_by"),
            int(d["started_at"]),
        )


@dataclass(frozen=True, slots=True)
class Group:
    """A multisig group: owners, threshold, status, and (once active) its public key package."""

    group_id: str
    threshold: int
    owners: tuple[OwnerInfo, ...]
    created_by: bytes
    created_at: int
    status: GroupStatus
    epoch: int = 0
    session: KeygenSession | None = None
    public_key_package: bytes | None = None
    group_public_key: bytes | None = None
    next_nonce: int = 0
    failure: Failure | None = None
    last_refresh_failure: Failure | None = None
    version: int = 0
    scheme: str = SCHEME_ID
    ciphersuite: str = SUITE_NAME

    @property
    def owner_keys(self) -> tuple[bytes, ...]:
        return tuple(o.key for o in self.owners)

    def owner(self, key: bytes) -> OwnerInfo | None:
        for o in self.owners:
            if o.key == key:
                return o
        return None

    def by_identifier(self, identifier: int) -> OwnerInfo | None:
        for o in self.owners:
            if o.identifier == identifier:
                return o
        return None

    def to_dict(self) -> dict[str, Any]:
        """The public JSON view (also the storage form, with ``version``)."""
        return {
            "group_id": self.group_id,
            "scheme": self.scheme,
            "ciphersuite": self.ciphersuite,
            "threshold": self.threshold,
            "owners": [o.to_dict() for o in self.owners],
            "created_by": self.created_by.hex(),
            "created_at": self.created_at,
            "status": self.status,
            "epoch": self.epoch,
            "session": None if self.session is None else self.session.to_dict(),
            "public_key_package": _b(self.public_key_package),
            "group_public_key": None
            if self.group_public_key is None
            else self.group_public_key.hex(),
            "next_nonce": str(self.next_nonce),
            "failure": None if self.failure is None else self.failure.to_dict(),
            "last_refresh_failure": None
            if self.last_refresh_failure is None
            else self.last_refresh_failure.to_dict(),
            "version": self.version,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Group:
        status = d["status"]
        if status not in ("dkg", "active", "refreshing", "failed"):
            raise DecodeError(f"group: unknown status {status!r}")
        return cls(
            group_id=str(d["group_id"]),
            threshold=int(d["threshold"]),
            owners=tuple(OwnerInfo.from_dict(o) for o in d["owners"]),
            created_by=_hex(d["created_by"], "created_by"),
            created_at=int(d["created_at"]),
            status=status,
            epoch=int(d["epoch"]),
            session=None if d["session"] is None else KeygenSession.from_dict(d["session"]),
            public_key_package=_oub(d["public_key_package"], "public_key_package"),
            group_public_key=None
            if d["group_public_key"] is None
            else _hex(d["group_public_key"], "group_public_key"),
            next_nonce=int(d["next_nonce"]),
            failure=None if d["failure"] is None else Failure.from_dict(d["failure"]),
            last_refresh_failure=None
            if d["last_refresh_failure"] is None
            else Failure.from_dict(d["last_refresh_failure"]),
            version=int(d["version"]),
            scheme=str(d["scheme"]),
            ciphersuite=str(d["ciphersuite"]),
        )

    @classmethod
    def from_json(cls, text: str) -> Group:
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        return (
            f"Group({self.group_id!r}, {self.threshold}-of-{len(self.owners)}, "
            f"status={self.status!r}, epoch={self.epoch}, version={self.version})"
        )


@dataclass(frozen=True, slots=True)
class KeygenMessage:
    """One DKG or refresh message as stored: public bytes and the sender's signature.

    ``round1``: the part-one package; ``echo``: the 32-byte set hash;
    ``round2``: one envelope (``recipient`` set, signature inside the
    envelope); ``confirm``: the group key (32 bytes) then the transcript hash.
    ``recipient`` is empty for broadcasts.
    """

    group_id: str
    session: str
    kind: MessageKind
    sender: bytes
    recipient: bytes
    body: bytes
    signature: bytes
    created_at: int

    def __repr__(self) -> str:
        return (
            f"KeygenMessage({self.group_id!r}, {self.session!r}, {self.kind!r}, "
            f"sender={short_key(self.sender)}, {len(self.body)} bytes)"
        )


@dataclass(frozen=True, slots=True)
class Rejection:
    """A signature share the coordinator refused: whose, in which attempt, why."""

    owner: bytes
    attempt: int
    code: str

    def to_dict(self) -> dict[str, Any]:
        return {"owner": self.owner.hex(), "attempt": self.attempt, "code": self.code}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rejection:
        return cls(_hex(d["owner"], "rejection.owner"), int(d["attempt"]), str(d["code"]))


def _pairs_to_dict(pairs: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.hex(): b64url_encode(v) for k, v in pairs}


def _pairs_from_dict(d: Mapping[str, Any], what: str) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((_hex(k, what), _ub(v, what)) for k, v in d.items())


@dataclass(frozen=True, slots=True)
class Proposal:
    """Something the group is asked to sign, and how far the signing has come.

    ``message`` is exactly what is signed: the ThresholdMessage bytes of an
    operation, or the chain's bytes of an intent (``ui_model`` is what owners
    review; ``payload`` is ``ui_model["fields"]``, from which the intent is
    rebuilt). ``commitments`` and ``shares`` are those of the current
    ``attempt`` as (owner key, FROST encoding) pairs in arrival order.
    """

    proposal_id: str
    group_id: str
    proposer: bytes
    kind: ProposalKind
    message: bytes
    ui_model: Mapping[str, Any]
    created_at: int
    expires_at: int
    key_epoch: int
    status: ProposalStatus = "collecting"
    nonce: int | None = None
    operation_type: str | None = None
    chain: str | None = None
    intent_kind: str | None = None
    attempt: int = 1
    commitments: tuple[tuple[bytes, bytes], ...] = ()
    signing_package: bytes | None = None
    shares: tuple[tuple[bytes, bytes], ...] = ()
    excluded: tuple[bytes, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    signature: bytes | None = None
    result: Mapping[str, Any] | None = None
    status_reason: str | None = None
    finished_at: int | None = None
    execution_ref: str | None = None
    version: int = 0

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    def commitment_of(self, owner: bytes) -> bytes | None:
        return dict(self.commitments).get(owner)

    def share_of(self, owner: bytes) -> bytes | None:
        return dict(self.shares).get(owner)

    @property
    def signers(self) -> tuple[bytes, ...]:
        """The owners in the fixed signing package (empty while collecting)."""
        return tuple(k for k, _ in self.commitments) if self.signing_package else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "group_id": self.group_id,
            "proposer": self.proposer.hex(),
            "kind": self.kind,
            "message": b64url_encode(self.message),
            "ui_model": self.ui_model,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "key_epoch": self.key_epoch,
            "status": self.status,
            "nonce": None if self.nonce is None else str(self.nonce),
            "operation_type": self.operation_type,
            "chain": self.chain,
            "intent_kind": self.intent_kind,
            "attempt": self.attempt,
            "commitments": _pairs_to_dict(self.commitments),
            "signing_package": _b(self.signing_package),
            "shares": _pairs_to_dict(self.shares),
            "excluded": [k.hex() for k in self.excluded],
            "rejections": [r.to_dict() for r in self.rejections],
            "signature": None if self.signature is None else self.signature.hex(),
            "result": self.result,
            "status_reason": self.status_reason,
            "finished_at": self.finished_at,
            "execution_ref": self.execution_ref,
            "version": self.version,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Proposal:
        kind = d["kind"]
        status = d["status"]
        if kind not in ("operation", "intent"):
            raise DecodeError(f"proposal: unknown kind {kind!r}")
        if status not in (*LIVE_STATUSES, "ready", *FINAL_STATUSES):
            raise DecodeError(f"proposal: unknown status {status!r}")
        return cls(
            proposal_id=str(d["proposal_id"]),
            group_id=str(d["group_id"]),
            proposer=_hex(d["proposer"], "proposer"),
            kind=kind,
            message=_ub(d["message"], "message"),
            ui_model=d["ui_model"],
            created_at=int(d["created_at"]),
            expires_at=int(d["expires_at"]),
            key_epoch=int(d["key_epoch"]),
            status=status,
            nonce=None if d["nonce"] is None else int(d["nonce"]),
            operation_type=d["operation_type"],
            chain=d["chain"],
            intent_kind=d["intent_kind"],
            attempt=int(d["attempt"]),
            commitments=_pairs_from_dict(d["commitments"], "commitments"),
            signing_package=_oub(d["signing_package"], "signing_package"),
            shares=_pairs_from_dict(d["shares"], "shares"),
            excluded=tuple(_hex(k, "excluded") for k in d["excluded"]),
            rejections=tuple(Rejection.from_dict(r) for r in d["rejections"]),
            signature=None if d["signature"] is None else _hex(d["signature"], "signature"),
            result=d["result"],
            status_reason=d["status_reason"],
            finished_at=d["finished_at"],
            execution_ref=d["execution_ref"],
            version=int(d["version"]),
        )

    @classmethod
    def from_json(cls, text: str) -> Proposal:
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        return (
            f"Proposal({self.proposal_id!r}, group={self.group_id!r}, kind={self.kind!r}, "
            f"nonce={self.nonce}, status={self.status!r}, attempt={self.attempt}, "
            f"version={self.version})"
        )


__all__ = [
    "FINAL_STATUSES",
    "KEYGEN_STAGES",
    "LIVE_STATUSES",
    "Failure",
    "Group",
    "GroupStatus",
    "KeygenKind",
    "KeygenMessage",
    "KeygenSession",
    "KeygenStage",
    "MessageKind",
    "OwnerInfo",
    "Proposal",
    "ProposalKind",
    "ProposalStatus",
    "Rejection",
]
