"""``/multisig/*``: the m-of-n multisig coordinator over HTTP, and its events over WebSocket.

The routes are a thin layer over :class:`cosigner.multisig.Coordinator`
(seed 004): the server relays DKG messages, proposals, commitments and
signature shares, checks everything it can, and never sees a secret share
(part-two DKG packages travel end-to-end encrypted). Owners are identified
by their Ed25519 identity keys (64 hex characters).

Conventions
===========

* Request bodies are JSON with camelCase names; unknown fields are refused
  and types are strict (``"1"`` is not an integer). Binary values are
  unpadded base64url, identity keys and the group public key lowercase hex.
* Group and proposal bodies are the coordinator's records as they are stored
  (``Group.to_dict()`` / ``Proposal.to_dict()``, snake_case; bytes in
  base64url, keys in hex, nonces as decimal strings). ``version`` counts the
  record's writes.
* Errors are ``{"code", "message"}``, plus ``"culprit_keys"`` (hex identity
  keys) when owners are to blame (a bad DKG share, an equivocated broadcast,
  an invalid signature share). Statuses: 401 ``unauthorized``,
  ``session_expired``, ``challenge_expired``, ``invalid_login_signature``;
  403 ``forbidden``, ``not_a_group_owner``, ``not_the_proposer``,
  ``not_a_signer``; 404 ``group_not_found``, ``proposal_not_found``,
  ``challenge_not_found``; 409 ``wrong_group_state``, ``wrong_keygen_stage``,
  ``already_submitted``, ``proposal_finished``, ``signing_package_fixed``,
  ``signing_package_not_ready``, ``nonce_already_used``,
  ``commitment_reused``, ``dkg_failed``, ``dkg_echo_mismatch``,
  ``dkg_bad_share``, ``dkg_confirmation_mismatch``, ``stale_session_state``
  (retry the same request); 410 ``proposal_expired``; 503
  ``store_unavailable``; every other error is 400 (``invalid_body``,
  ``invalid_submission``, ``invalid_signature_share``, ...).
* Resending an identical submission is accepted and answers the current
  record, so a client may retry any POST after a network failure.
* Auth: ``Authorization: Bearer <token>``. Owner tokens are JWTs of kind
  ``multisig_owner_v1`` (``sub`` = the owner's key), refused by every
  non-multisig route, as those routes' tokens are refused here. The
  read-only dashboard token (``COSIGNER_DASHBOARD_TOKEN``) is accepted by the
  ``GET`` routes marked (dashboard) and by the WebSocket.

Login
=====

``POST /multisig/auth/challenge`` ``{"owner": hex}`` -> ``{"challenge": {challenge_id,
nonce, audience, owner, issued_at, expires_at}}``: single use, two minutes.

``POST /multisig/auth/login`` ``{"challengeId", "owner", "signature"}`` (the
owner's signature of :func:`cosigner.multisig.identity.login_statement`) ->
``{"token", "kind": "multisig_owner_v1", "owner", "expiresAt"}``.

``GET /multisig/auth/me`` -> ``{"owner", "expiresAt"}``.

Groups and DKG
==============

``POST /multisig/groups`` ``{"owners": [hex], "threshold": m}`` -> 201 group
(status ``dkg``, ``session.name`` ``dkg-1``, stage ``round1``); the caller
must be one of the owners. ``GET /multisig/groups?limit=N&after=ID``
(dashboard) -> ``{"groups": [...], "next"}``: with an owner token, the
caller's groups, all of them, oldest first (``next`` is null); with the
dashboard token, every group ordered by ``group_id`` (ids are random: no
time order), a page at a time: at most ``limit`` (1 to 500, default 100)
groups whose id is above ``after``, and ``next``, the ``after`` of the
following page (null on the last). ``limit`` and ``after`` (an id: ASCII
letters, digits, ``_`` and ``-``, at most 128) are checked for both.
``GET /multisig/groups/{groupId}`` (dashboard) -> group;
with ``?afterVersion=N&waitMs=M`` it waits up to M ms (at most 30000) for
a version above N (long polling: each DKG message bumps the version), and
with ``&whileStage=S`` also until the open session has left stage S.

A keygen session (the DKG, or a refresh) goes through four stages; each
owner posts one message per stage, and the next stage opens when all n are
in (``group.session.stage``). ``{s}`` is ``group.session.name``:

* ``POST /multisig/groups/{groupId}/keygen/{s}/round1``
  ``{"package", "signature"}``: the FROST part-one package, signed;
* ``GET  .../keygen/{s}/round1`` -> ``{"packages": [{"owner", "package",
  "signature"}]}`` in owner order, once all are in;
* ``POST .../keygen/{s}/echo`` ``{"setHash", "signature", "evidence"?:
  [{"owner", "package", "signature"}]}``;
* ``POST .../keygen/{s}/round2`` ``{"envelopes": [b64]}``: one end-to-end
  encrypted, signed envelope per other owner;
* ``GET  .../keygen/{s}/round2`` -> ``{"envelopes": [b64]}`` (every envelope;
  each owner opens those addressed to it);
* ``POST .../keygen/{s}/confirm`` ``{"groupPublicKey": hex, "transcript",
  "signature"}``: when all n agree the group is ``active``;
* ``POST .../keygen/{s}/complaint`` ``{"accused": hex, "envelopeKey"}``:
  part three failed on the accused's share; the server checks the revealed
  envelope key and fails the session naming the culprit -> ``{"failure":
  {code, message, culprits, reported_by, at, session}}``. Afterwards every
  keygen request of that session answers the failure (409 ``dkg_*`` with
  ``culprit_keys``).

``POST /multisig/groups/{groupId}/refresh`` -> group with a ``refresh-...``
session: the same four stages give every owner a new share of the same key.

Proposals
=========

``POST /multisig/groups/{groupId}/proposals`` -> 201 proposal; one of

* ``{"kind": "transfer", "to", "amount", "nonce"?, "ttlMs"?}`` (the
  reference ledger's transfer; ``amount`` and ``nonce`` as integers or
  decimal strings; the nonce defaults to the group's next one);
* ``{"kind": "operation", "operationType", "operationData", "nonce"?, "ttlMs"?}``;
* ``{"kind": "intent", "chain": "solana"|"near", "intentKind", "payload", "ttlMs"?}``.

``GET /multisig/groups/{groupId}/proposals?status=a,b`` (dashboard) ->
``{"proposals": [...]}``: every proposal of the group, finished ones included
(the group's history), oldest first.

``GET /multisig/proposals/{proposalId}`` (dashboard; long polling as for
groups, ``whileStatus=S`` waiting until the status is no longer S) ->
proposal. ``POST /multisig/proposals/{proposalId}/commitments``
``{"commitments"}`` (FROST round one; at the threshold the signing package
is fixed and ``status`` is ``signing``); ``POST .../shares`` ``{"share"}``
(verified on arrival: a bad one is 400 ``invalid_signature_share`` naming
its owner, who is excluded, and the proposal goes back to round one; at the
threshold the proposal is ``ready`` with its ``signature``); ``POST
.../cancel`` (the proposer); ``POST .../execution`` ``{"executionRef"?}``
(an owner reports the operation executed: the group's nonce advances and
other proposals for that nonce are cancelled as superseded).

History
=======

``GET /multisig/groups/{groupId}/events?after=SEQ&limit=N`` and
``GET /multisig/proposals/{proposalId}/events?after=SEQ&limit=N`` (dashboard)
-> ``{"events": [event + "seq"]}``, oldest first: the journal of every event
the group raised, on any instance (written just after each change).

Events (WebSocket)
==================

``/multisig/ws``: authenticate with ``Authorization: Bearer <token>`` on the
upgrade request, or (browsers) with a first message ``{"type": "auth",
"token"}`` within ten seconds. The server answers ``{"type": "subscribed",
"data": {"role": "owner"|"dashboard", "owner"?}, "at"}`` and then pushes each
event as ``{"id", "type", "groupId", "proposalId"?, "data", "at"}``: owners
receive the events of their groups, the dashboard every event, raised on any
server instance sharing the store. Types: ``group_created``,
``dkg_progress``, ``group_active``, ``dkg_failed``, ``refresh_started``,
``refresh_completed``, ``refresh_failed``, ``proposal_created``,
``commitment_added``, ``share_added``, ``share_rejected``,
``proposal_ready``, ``proposal_executed``, ``proposal_cancelled``,
``proposal_expired``, ``proposal_failed`` (``data`` per type in
:mod:`cosigner.multisig.events`). ``?groupId=`` narrows the stream to one
group. A client message ``{"type": "ping"}`` is answered ``{"type":
"pong"}``. Close codes: 4401 bad or expired token, 4408 no auth message in
time, 1013 the client reads too slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import random
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from cosigner.errors import CosignerError
from cosigner.multisig.backends import open_multisig_store, store_namespace, store_scheme
from cosigner.multisig.bridge import EventBridge, Wire, open_transport
from cosigner.multisig.coordinator import DEFAULT_GROUP_PAGE, MAX_GROUP_PAGE, Coordinator
from cosigner.multisig.errors import (
    GroupNotFound,
    MultisigCulpritError,
    ProposalNotFound,
    StaleState,
)
from cosigner.multisig.records import Group, Proposal
from cosigner.multisig.store import MultisigStore
from cosigner.multisig.transcript import SignedPackage
from cosigner.server.context import ServerContext
from cosigner.server.errors import ERROR_RESPONSES, Forbidden, Unauthorized, status_for
from cosigner.server.models import B64u, Id, RequestModel, decode
from cosigner.server.settings import SettingsError

log = logging.getLogger("cosigner.server")

OWNER_TOKEN_KIND: Final = "multisig_owner_v1"
DASHBOARD_TOKEN_ENV: Final = "COSIGNER_DASHBOARD_TOKEN"
DASHBOARD_TOKEN_FILE: Final = "cosigner.dashboard-token"
DEFAULT_OWNER_TOKEN_TTL_S: Final = 12 * 3600
DEFAULT_EXPIRE_INTERVAL_S: Final = 5
MAX_WAIT_MS: Final = 30_000
WAIT_POLL_S: Final = 1.0
STALE_RETRIES: Final = 12
WS_AUTH_TIMEOUT_S: Final = 10.0
WS_QUEUE: Final = 10_000
MIN_DASHBOARD_TOKEN_CHARS: Final = 32
DASHBOARD_TOKEN_WAIT_S: Final = 2.0
"""How long to wait for the worker that created the token file to write it."""

STATUS_BY_CODE: Final[Mapping[str, int]] = {
    "unauthorized": 401,
    "session_expired": 401,
    "challenge_expired": 401,
    "invalid_login_signature": 401,
    "forbidden": 403,
    "not_a_group_owner": 403,
    "not_the_proposer": 403,
    "not_a_signer": 403,
    "group_not_found": 404,
    "proposal_not_found": 404,
    "challenge_not_found": 404,
    "wrong_group_state": 409,
    "wrong_keygen_stage": 409,
    "already_submitted": 409,
    "proposal_finished": 409,
    "signing_package_fixed": 409,
    "signing_package_not_ready": 409,
    "nonce_already_used": 409,
    "commitment_reused": 409,
    "dkg_failed": 409,
    "dkg_echo_mismatch": 409,
    "dkg_bad_share": 409,
    "dkg_confirmation_mismatch": 409,
    "stale_session_state": 409,
    "proposal_expired": 410,
}
"""Status per multisig error code; other codes as elsewhere on the server (mostly 400)."""

T = TypeVar("T")


def multisig_status(code: str) -> int:
    return STATUS_BY_CODE.get(code, status_for(code))


def error_body(exc: CosignerError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if isinstance(exc, MultisigCulpritError) and exc.culprit_keys:
        body["culprit_keys"] = [k.hex() for k in exc.culprit_keys]
    return body


def error_response(request: Request | None, exc: CosignerError) -> JSONResponse:
    status = multisig_status(exc.code)
    if request is not None:
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.count_error(exc.code)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(exc), status_code=status, headers=headers)


class MultisigRoute(APIRoute):
    """Answers the multisig errors with this router's statuses and ``culprit_keys``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except CosignerError as exc:
                return error_response(request, exc)

        return route


router = APIRouter(
    prefix="/multisig", tags=["multisig"], responses=ERROR_RESPONSES, route_class=MultisigRoute
)

# -- request bodies ---------------------------------------------------------------------------

HexKey = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Blob = Annotated[str, B64u(1, 65536)]
Signature = Annotated[str, B64u(64, 64)]
Digest = Annotated[str, B64u(32, 32)]
U64Text = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]
U64 = Annotated[int, Field(ge=0, le=2**64 - 1)] | U64Text
TtlMs = Annotated[int, Field(ge=1)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]


def _u64(value: int | str | None) -> int | None:
    if value is None:
        return None
    number = int(value)
    if number > 2**64 - 1:
        raise _invalid("amounts and nonces are at most 2^64 - 1")
    return number


def _invalid(message: str) -> CosignerError:
    from cosigner.multisig.errors import InvalidSubmission

    return InvalidSubmission(message)


class ChallengeRequest(RequestModel):
    owner: HexKey


class LoginRequest(RequestModel):
    challenge_id: Id
    owner: HexKey
    signature: Signature


class CreateGroupRequest(RequestModel):
    owners: Annotated[list[HexKey], Field(min_length=2, max_length=100)]
    threshold: int


class Round1Request(RequestModel):
    package: Blob
    signature: Signature


class SignedPackageBody(RequestModel):
    owner: HexKey
    package: Blob
    signature: Signature


class EchoRequest(RequestModel):
    set_hash: Digest
    signature: Signature
    evidence: Annotated[list[SignedPackageBody], Field(max_length=100)] | None = None


class Round2Request(RequestModel):
    envelopes: Annotated[list[Blob], Field(max_length=100)]


class ConfirmRequest(RequestModel):
    group_public_key: HexKey
    transcript: Digest
    signature: Signature


class ComplaintRequest(RequestModel):
    accused: HexKey
    envelope_key: Digest


class TransferProposalRequest(RequestModel):
    kind: Literal["transfer"]
    to: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    amount: U64
    nonce: U64 | None = None
    ttl_ms: TtlMs | None = None


class OperationProposalRequest(RequestModel):
    kind: Literal["operation"]
    operation_type: Name
    operation_data: Annotated[str, B64u(0, 65536)]
    nonce: U64 | None = None
    ttl_ms: TtlMs | None = None


class IntentProposalRequest(RequestModel):
    kind: Literal["intent"]
    chain: Name
    intent_kind: Name
    payload: dict[str, Any]
    ttl_ms: TtlMs | None = None


ProposalRequest = Annotated[
    TransferProposalRequest | OperationProposalRequest | IntentProposalRequest,
    Field(discriminator="kind"),
]


class CommitmentRequest(RequestModel):
    commitments: Blob


class ShareRequest(RequestModel):
    share: Blob


class ExecutionRequest(RequestModel):
    execution_ref: Annotated[str, StringConstraints(max_length=512)] | None = None


# -- the service --------------------------------------------------------------------------------


Wanted = Callable[[Wire], bool]
"""Whether an event may be the change a long-polling request waits for."""

_Entry = tuple[asyncio.AbstractEventLoop, asyncio.Event, Wanted]


class GroupWaiters:
    """Long-polling requests waiting for a change of one group (or one of its proposals).

    Registered on event loops, woken from whatever thread publishes an event,
    and only by the events they may be waiting for (so a burst of shares does
    not make every waiting owner re-read the proposal after each one).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[_Entry]] = {}

    def register(self, group_id: str, wanted: Wanted) -> _Entry:
        entry = (asyncio.get_running_loop(), asyncio.Event(), wanted)
        with self._lock:
            self._waiting.setdefault(group_id, set()).add(entry)
        return entry

    def unregister(self, group_id: str, entry: _Entry) -> None:
        with self._lock:
            found = self._waiting.get(group_id)
            if found is not None:
                found.discard(entry)
                if not found:
                    del self._waiting[group_id]

    def on_event(self, wire: Wire) -> None:
        with self._lock:
            targets = list(self._waiting.get(wire["groupId"], ()))
        for loop, event, wanted in targets:
            try:
                if not wanted(wire):
                    continue
            except Exception:  # a malformed event from another instance: wake to be safe
                pass
            with contextlib.suppress(RuntimeError):  # the loop closed
                loop.call_soon_threadsafe(event.set)


_STAGE_EVENTS: Final = frozenset(
    {"group_active", "dkg_failed", "refresh_started", "refresh_completed", "refresh_failed"}
)
_STATUS_EVENTS: Final = frozenset(
    {
        "proposal_ready",
        "proposal_executed",
        "proposal_cancelled",
        "proposal_expired",
        "proposal_failed",
        "share_rejected",
    }
)


def wants_group_change(stage: str | None) -> Wanted:
    """Events that change the group record (or, given ``stage``, move it off that stage)."""

    def wanted(wire: Wire) -> bool:
        if "proposalId" in wire:
            return False
        if stage is None:
            return True
        kind = wire.get("type")
        if kind == "dkg_progress":
            return bool(wire.get("data", {}).get("stage") != stage)
        return kind in _STAGE_EVENTS

    return wanted


def wants_proposal_change(proposal_id: str, status: str | None) -> Wanted:
    """Events of this proposal (or, given ``status``, those that can change its status)."""

    def wanted(wire: Wire) -> bool:
        if wire.get("proposalId") != proposal_id:
            return False
        if status is None:
            return True
        kind = wire.get("type")
        if kind == "commitment_added":
            return bool(wire.get("data", {}).get("signing_package_fixed"))
        return kind in _STATUS_EVENTS

    return wanted


@dataclass
class MultisigService:
    """What the multisig routes share: the coordinator, its store, the event bridge."""

    ctx: ServerContext
    store: MultisigStore
    bridge: EventBridge
    coordinator: Coordinator
    dashboard_token: str | None = field(default=None, repr=False)
    owner_token_ttl_ms: int = DEFAULT_OWNER_TOKEN_TTL_S * 1000
    expire_interval_s: float = DEFAULT_EXPIRE_INTERVAL_S
    waiters: GroupWaiters = field(default_factory=GroupWaiters)
    proposal_groups: dict[str, str] = field(default_factory=dict)
    """Which group each proposal read so far belongs to (it never changes)."""

    def remember_group(self, proposal: Proposal) -> None:
        if len(self.proposal_groups) > 100_000:
            self.proposal_groups.clear()
        self.proposal_groups[proposal.proposal_id] = proposal.group_id

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one coordinator request, retrying when a concurrent request won a race."""
        for attempt in range(STALE_RETRIES):
            try:
                return fn(*args, **kwargs)
            except StaleState:
                if attempt == STALE_RETRIES - 1:
                    raise
                time.sleep(random.uniform(0.0005, 0.002) * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def is_dashboard(self, token: str) -> bool:
        expected = self.dashboard_token
        if not expected or not token or not token.isascii():
            return False
        return hmac.compare_digest(expected.encode(), token.encode())

    def close(self) -> None:
        self.bridge.close()
        self.store.close()


def _dashboard_token(ctx: ServerContext, env: Mapping[str, str]) -> str | None:
    """From the environment; in development generated once beside the development secrets."""
    token = env.get(DASHBOARD_TOKEN_ENV, "").strip()
    if token:
        if len(token) < MIN_DASHBOARD_TOKEN_CHARS:
            raise SettingsError(
                f"{DASHBOARD_TOKEN_ENV} must be at least {MIN_DASHBOARD_TOKEN_CHARS} characters"
            )
        return token
    settings = ctx.settings
    if settings.production:
        log.warning("%s is not set: the multisig dashboard is disabled", DASHBOARD_TOKEN_ENV)
        return None
    secrets_file = settings.dev_secrets_file
    if secrets_file is None:
        log.warning("%s is not set: the multisig dashboard is disabled", DASHBOARD_TOKEN_ENV)
        return None
    if secrets_file == "(in memory)":
        return secrets.token_urlsafe(32)
    path = Path(secrets_file).parent / DASHBOARD_TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_dashboard_token(path)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    log.warning("development dashboard token generated into %s", path.name)
    return token


def _read_dashboard_token(path: Path) -> str:
    """The token in the file; a worker that just created it may not have written it yet."""
    if os.stat(path).st_mode & 0o077:
        raise SettingsError(f"{path.name} is readable by others; chmod 600 it")
    deadline = time.monotonic() + DASHBOARD_TOKEN_WAIT_S
    while True:
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= MIN_DASHBOARD_TOKEN_CHARS and token.isascii():
            return token
        if time.monotonic() >= deadline:
            raise SettingsError(
                f"{path.name} holds no token of at least {MIN_DASHBOARD_TOKEN_CHARS} "
                "characters; delete it to have a new one generated"
            )
        time.sleep(0.05)


def _int_env(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def multisig_store_url(ctx: ServerContext) -> str:
    """Where the multisig records live: beside the server's own store.

    ``cosigner serve`` opens the server's store from ``COSIGNER_STORE_URL``
    and so does this. An app given some other store (tests, demos) keeps its
    multisig records in the same SQLite file, or in memory when the settings'
    URL does not describe that store: never in a file nobody asked for.
    """
    url = ctx.settings.store_url
    backend = getattr(ctx.store, "backend", None)
    if backend == "sqlite":
        path = _sqlite_path(ctx.store)
        if path is not None:
            return f"sqlite:///{path}"
    if backend is not None and store_scheme(url) == backend:
        return url
    if backend != "memory":
        log.warning("the store given to the app is not COSIGNER_STORE_URL's: multisig in memory")
    return "memory://"


def _sqlite_path(store: object) -> str | None:
    """The file of a :class:`~cosigner.store.sqlite.SqliteStore`, read from its connection."""
    conn = getattr(getattr(store, "_db", None), "_conn", None)
    if conn is None:
        return None
    try:
        rows = conn.execute("PRAGMA database_list").fetchall()
    except Exception:
        return None
    for _, name, file in rows:
        if name == "main" and file:
            return str(file)
    return None


def install(
    app: FastAPI,
    ctx: ServerContext,
    *,
    store: MultisigStore | None = None,
    env: Mapping[str, str] | None = None,
) -> MultisigService:
    """Open the multisig store and event bridge (see :func:`multisig_store_url`); add the routes.

    ``COSIGNER_MULTISIG_TOKEN_TTL_S`` (default 12 h) is the owner tokens'
    lifetime, ``COSIGNER_MULTISIG_EXPIRE_INTERVAL_S`` (default 5) how often
    proposals past their expiry are marked expired.
    """
    env = os.environ if env is None else env
    url = multisig_store_url(ctx)
    namespace = store_namespace(url)
    store = store if store is not None else open_multisig_store(url)
    bridge = EventBridge(open_transport(url, namespace))
    coordinator = Coordinator(
        store,
        clock=ctx.clock,
        events=bridge.publish,
        audience=f"cosigner/{ctx.settings.rp_id}",
    )
    service = MultisigService(
        ctx=ctx,
        store=store,
        bridge=bridge,
        coordinator=coordinator,
        dashboard_token=_dashboard_token(ctx, env),
        owner_token_ttl_ms=_int_env(
            env, "COSIGNER_MULTISIG_TOKEN_TTL_S", DEFAULT_OWNER_TOKEN_TTL_S, 60, 30 * 24 * 3600
        )
        * 1000,
        expire_interval_s=_int_env(
            env, "COSIGNER_MULTISIG_EXPIRE_INTERVAL_S", DEFAULT_EXPIRE_INTERVAL_S, 1, 3600
        ),
    )
    bridge.subscribe(service.waiters.on_event)
    app.state.multisig = service
    app.include_router(router)
    return service


async def _expire_periodically(service: MultisigService) -> None:
    while True:
        await asyncio.sleep(service.expire_interval_s)
        try:
            expired = await run_in_threadpool(service.call, service.coordinator.expire_due)
        except Exception:
            log.warning("expiring multisig proposals failed", exc_info=True)
        else:
            if expired:
                log.info("%d multisig proposals expired", len(expired))


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Listen to the other instances' events and expire proposals while the app runs."""
    service: MultisigService | None = getattr(app.state, "multisig", None)
    if service is None:
        yield
        return
    service.bridge.start_listening()
    task = asyncio.create_task(_expire_periodically(service))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await run_in_threadpool(service.close)


# -- auth ---------------------------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="A multisig owner token (or the dashboard's)")
# The dependencies below are ``async``: they are quick (an HMAC), and a sync one would cost a
# trip through the thread pool per request.


@dataclass(frozen=True, slots=True)
class Principal:
    owner: bytes | None
    expires_at: int | None = None

    @property
    def dashboard(self) -> bool:
        return self.owner is None


async def get_service(request: Request) -> MultisigService:
    service = request.app.state.multisig
    assert isinstance(service, MultisigService)
    return service


Service = Annotated[MultisigService, Depends(get_service)]


def owner_from_token(service: MultisigService, token: str) -> Principal:
    claims = service.ctx.codec.verify(token, OWNER_TOKEN_KIND)
    sub = claims["sub"]
    try:
        owner = bytes.fromhex(sub)
    except ValueError:
        owner = b""
    if len(owner) != 32 or owner.hex() != sub:
        raise Unauthorized("the owner token names no identity key")
    return Principal(owner, int(claims["exp"]) * 1000)


async def _principal(
    service: Service,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("this route needs a multisig owner token: log in first")
    token = credentials.credentials
    if service.is_dashboard(token):
        return Principal(None)
    return owner_from_token(service, token)


Viewer = Annotated[Principal, Depends(_principal)]


async def _owner(principal: Viewer) -> bytes:
    if principal.owner is None:
        raise Forbidden("the dashboard token is read-only; this route needs an owner token")
    return principal.owner


OwnerKey = Annotated[bytes, Depends(_owner)]


# -- login --------------------------------------------------------------------------------------


@router.post("/auth/challenge")
def challenge(body: ChallengeRequest, service: Service) -> JSONResponse:
    """A single-use login challenge for the identity key (sign it to log in)."""
    issued = service.call(service.coordinator.issue_challenge, bytes.fromhex(body.owner))
    return JSONResponse({"challenge": issued.to_dict()})


@router.post("/auth/login")
def login(body: LoginRequest, service: Service) -> JSONResponse:
    """Exchange a signed challenge for an owner token."""
    owner = service.coordinator.complete_login(
        body.challenge_id, bytes.fromhex(body.owner), decode(body.signature)
    )
    expires_at = service.ctx.clock() + service.owner_token_ttl_ms
    token = service.ctx.codec.issue(
        OWNER_TOKEN_KIND, {"sub": owner.hex()}, expires_at_ms=expires_at
    )
    return JSONResponse(
        {"token": token, "kind": OWNER_TOKEN_KIND, "owner": owner.hex(), "expiresAt": expires_at}
    )


@router.get("/auth/me")
def me(principal: Viewer) -> JSONResponse:
    """Who the token is."""
    if principal.owner is None:
        return JSONResponse({"role": "dashboard", "owner": None, "expiresAt": None})
    return JSONResponse(
        {"role": "owner", "owner": principal.owner.hex(), "expiresAt": principal.expires_at}
    )


# -- reads (owners and the dashboard) -----------------------------------------------------------


def _read_group(service: MultisigService, principal: Principal, group_id: str) -> Group:
    if principal.owner is not None:
        return service.coordinator.get_group(group_id, principal.owner)
    group = service.store.get_group(group_id)
    if group is None:
        raise GroupNotFound(f"no group {group_id!r}")
    return group


def _read_proposal(service: MultisigService, principal: Principal, proposal_id: str) -> Proposal:
    if principal.owner is not None:
        found = service.coordinator.get_proposal(proposal_id, principal.owner)
        service.remember_group(found)
        return found
    proposal = service.store.get_proposal(proposal_id)
    if proposal is None:
        raise ProposalNotFound(f"no proposal {proposal_id!r}")
    if proposal.live and service.ctx.clock() >= proposal.expires_at:
        from dataclasses import replace

        proposal = replace(proposal, status="expired", status_reason="expired")
    return proposal


async def _long_poll(
    service: MultisigService,
    group_id: str | None,
    read: Callable[[], T],
    done: Callable[[T], bool],
    wanted: Wanted,
    wait_ms: int,
) -> T:
    """``read()`` once ``done`` holds for it, or when ``wait_ms`` (at most 30 s) has passed.

    Between reads it sleeps until an event it ``wanted`` arrives (or a second
    passes: events are best effort, the record is the truth). ``group_id``
    is the group whose events to listen to (None: read it from the record).
    """
    if wait_ms <= 0:
        return await run_in_threadpool(read)
    if group_id is None:
        current = await run_in_threadpool(read)
        if done(current):
            return current
        group_id = getattr(current, "group_id", "")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(wait_ms, MAX_WAIT_MS) / 1000
    entry = service.waiters.register(group_id, wanted)
    woken = entry[1]
    try:
        current = await run_in_threadpool(read)  # after registering: no change goes unheard
        while not done(current):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), min(remaining, WAIT_POLL_S))
            woken.clear()
            current = await run_in_threadpool(read)
    finally:
        service.waiters.unregister(group_id, entry)
    return current


AfterVersion = Annotated[int | None, Query(alias="afterVersion", ge=0)]
WaitMs = Annotated[int, Query(alias="waitMs", ge=0, le=MAX_WAIT_MS)]
Status = Annotated[str | None, Query(max_length=32)]


def _changed(
    after_version: int | None,
    status_of: Callable[[T], str | None],
    status: str | None,
    version_of: Callable[[T], int],
) -> Callable[[T], bool]:
    def done(record: T) -> bool:
        if after_version is not None and version_of(record) <= after_version:
            return False
        return status is None or status_of(record) != status

    return done


GroupLimit = Annotated[int, Query(ge=1, le=MAX_GROUP_PAGE)]
GroupCursor = Annotated[
    str | None, Query(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
]


@router.get("/groups")
def list_groups(
    service: Service,
    principal: Viewer,
    limit: GroupLimit = DEFAULT_GROUP_PAGE,
    after: GroupCursor = None,
) -> JSONResponse:
    """An owner's groups, oldest first; for the dashboard, every group by id, page by page.

    ``next`` is the ``after`` of the next page, null on the last (always, for an owner).
    """
    if principal.owner is not None:
        groups = service.coordinator.groups_for_owner(principal.owner)
        return JSONResponse({"groups": [g.to_dict() for g in groups], "next": None})
    groups, cursor = service.coordinator.list_groups(limit, after)
    return JSONResponse({"groups": [g.to_dict() for g in groups], "next": cursor})


@router.get("/groups/{group_id}")
async def get_group(
    group_id: Id,
    service: Service,
    principal: Viewer,
    after_version: AfterVersion = None,
    wait_ms: WaitMs = 0,
    while_stage: Annotated[Status, Query(alias="whileStage")] = None,
) -> JSONResponse:
    """The group (owners and the dashboard).

    Long polling: with ``waitMs``, answers once ``version`` is above
    ``afterVersion`` and (with ``whileStage``) the open session's stage is
    no longer that one, or when ``waitMs`` has passed.
    """
    if after_version is None and while_stage is None:
        wait_ms = 0
    group = await _long_poll(
        service,
        group_id,
        lambda: _read_group(service, principal, group_id),
        _changed(
            after_version,
            lambda g: None if g.session is None else g.session.stage,
            while_stage,
            lambda g: g.version,
        ),
        wants_group_change(while_stage),
        wait_ms,
    )
    return JSONResponse(group.to_dict())


@router.get("/groups/{group_id}/proposals")
def list_proposals(
    group_id: Id,
    service: Service,
    principal: Viewer,
    status: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    """Every proposal of the group (finished ones too), oldest first; ``?status=a,b`` filters."""
    statuses = None if not status else [s.strip() for s in status.split(",") if s.strip()]
    if principal.owner is not None:
        found = service.coordinator.list_proposals(group_id, principal.owner, statuses)
    else:
        _read_group(service, principal, group_id)
        found = [
            _read_proposal(service, principal, p.proposal_id)
            for p in service.store.list_proposals(group_id)
        ]
        found = [p for p in found if statuses is None or p.status in statuses]
    return JSONResponse({"proposals": [p.to_dict() for p in found]})


@router.get("/proposals/{proposal_id}")
async def get_proposal(
    proposal_id: Id,
    service: Service,
    principal: Viewer,
    after_version: AfterVersion = None,
    wait_ms: WaitMs = 0,
    while_status: Annotated[Status, Query(alias="whileStatus")] = None,
) -> JSONResponse:
    """The proposal (owners and the dashboard); long polling as for groups, with
    ``whileStatus`` (answer once the status is no longer that one)."""
    if after_version is None and while_status is None:
        wait_ms = 0
    proposal = await _long_poll(
        service,
        service.proposal_groups.get(proposal_id),
        lambda: _read_proposal(service, principal, proposal_id),
        _changed(after_version, lambda p: p.status, while_status, lambda p: p.version),
        wants_proposal_change(proposal_id, while_status),
        wait_ms,
    )
    return JSONResponse(proposal.to_dict())


After = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/groups/{group_id}/events")
def group_events(
    group_id: Id, service: Service, principal: Viewer, after: After = 0, limit: Limit = 100
) -> JSONResponse:
    """The group's event journal after ``seq`` ``after``, oldest first."""
    _read_group(service, principal, group_id)
    return JSONResponse({"events": service.bridge.journal.read(group_id, None, after, limit)})


@router.get("/proposals/{proposal_id}/events")
def proposal_events(
    proposal_id: Id, service: Service, principal: Viewer, after: After = 0, limit: Limit = 100
) -> JSONResponse:
    """The proposal's events (created, commitments, shares, ready, executed...), oldest first."""
    proposal = _read_proposal(service, principal, proposal_id)
    events = service.bridge.journal.read(proposal.group_id, proposal_id, after, limit)
    return JSONResponse({"events": events})


# -- groups and keygen --------------------------------------------------------------------------


def _group_response(group: Group, status: int = 200) -> JSONResponse:
    return JSONResponse(group.to_dict(), status_code=status)


def _proposal_response(proposal: Proposal, status: int = 200) -> JSONResponse:
    return JSONResponse(proposal.to_dict(), status_code=status)


@router.post("/groups", status_code=201)
def create_group(body: CreateGroupRequest, service: Service, owner: OwnerKey) -> JSONResponse:
    """A new m-of-n group; its DKG opens at once (stage ``round1`` of session ``dkg-1``)."""
    group = service.call(
        service.coordinator.create_group,
        owner,
        [bytes.fromhex(k) for k in body.owners],
        body.threshold,
    )
    return _group_response(group, 201)


@router.post("/groups/{group_id}/keygen/{session}/round1")
def post_round1(
    group_id: Id, session: Id, body: Round1Request, service: Service, owner: OwnerKey
) -> JSONResponse:
    """Part one: this owner's FROST part-one package, signed with its identity key."""
    group = service.call(
        service.coordinator.submit_round1,
        group_id,
        owner,
        session,
        decode(body.package),
        decode(body.signature),
    )
    return _group_response(group)


@router.get("/groups/{group_id}/keygen/{session}/round1")
def get_round1(group_id: Id, session: Id, service: Service, owner: OwnerKey) -> JSONResponse:
    """Every owner's part-one package and signature, once all are in."""
    packages = service.coordinator.round1_packages(group_id, owner, session)
    return JSONResponse(
        {
            "packages": [
                {"owner": k.hex(), "package": _b64(p.package), "signature": _b64(p.signature)}
                for k, p in packages.items()
            ]
        }
    )


def _b64(data: bytes) -> str:
    from cosigner.server.models import b64u_encode

    return b64u_encode(data)


@router.post("/groups/{group_id}/keygen/{session}/echo")
def post_echo(
    group_id: Id, session: Id, body: EchoRequest, service: Service, owner: OwnerKey
) -> JSONResponse:
    """The echo round: the hash of the part-one set as this owner received it."""
    evidence = None
    if body.evidence is not None:
        evidence = {
            bytes.fromhex(e.owner): SignedPackage(decode(e.package), decode(e.signature))
            for e in body.evidence
        }
    group = service.call(
        service.coordinator.submit_echo,
        group_id,
        owner,
        session,
        decode(body.set_hash),
        decode(body.signature),
        evidence,
    )
    return _group_response(group)


@router.post("/groups/{group_id}/keygen/{session}/round2")
def post_round2(
    group_id: Id, session: Id, body: Round2Request, service: Service, owner: OwnerKey
) -> JSONResponse:
    """Part two: one end-to-end encrypted envelope per other owner."""
    group = service.call(
        service.coordinator.submit_round2,
        group_id,
        owner,
        session,
        [decode(e) for e in body.envelopes],
    )
    return _group_response(group)


@router.get("/groups/{group_id}/keygen/{session}/round2")
def get_round2(group_id: Id, session: Id, service: Service, owner: OwnerKey) -> JSONResponse:
    """Every part-two envelope (ciphertext), once every owner sent its own."""
    envelopes = service.coordinator.round2_envelopes(group_id, owner, session)
    return JSONResponse({"envelopes": [_b64(e) for e in envelopes]})


@router.post("/groups/{group_id}/keygen/{session}/confirm")
def post_confirm(
    group_id: Id, session: Id, body: ConfirmRequest, service: Service, owner: OwnerKey
) -> JSONResponse:
    """The final round: this owner's signature over the group key and the transcript hash."""
    group = service.call(
        service.coordinator.submit_confirmation,
        group_id,
        owner,
        session,
        bytes.fromhex(body.group_public_key),
        decode(body.transcript),
        decode(body.signature),
    )
    return _group_response(group)


@router.post("/groups/{group_id}/keygen/{session}/complaint")
def post_complaint(
    group_id: Id, session: Id, body: ComplaintRequest, service: Service, owner: OwnerKey
) -> JSONResponse:
    """A bad share: the server checks it with the revealed envelope key and names the culprit."""
    failure = service.call(
        service.coordinator.report_bad_share,
        group_id,
        owner,
        session,
        bytes.fromhex(body.accused),
        decode(body.envelope_key),
    )
    return JSONResponse({"failure": failure.to_dict()})


@router.post("/groups/{group_id}/refresh")
def post_refresh(group_id: Id, service: Service, owner: OwnerKey) -> JSONResponse:
    """Open a share refresh (same group key, new shares) that every owner completes."""
    group = service.call(service.coordinator.start_refresh, group_id, owner)
    return _group_response(group)


# -- proposals ----------------------------------------------------------------------------------


@router.post("/groups/{group_id}/proposals", status_code=201)
def create_proposal(
    group_id: Id, body: ProposalRequest, service: Service, owner: OwnerKey
) -> JSONResponse:
    """Propose a transfer, a ledger operation or a chain intent for the group to sign."""
    coordinator = service.coordinator
    if isinstance(body, TransferProposalRequest):
        amount = _u64(body.amount)
        assert amount is not None
        proposal = service.call(
            coordinator.propose_transfer,
            group_id,
            owner,
            body.to,
            amount,
            nonce=_u64(body.nonce),
            ttl_ms=body.ttl_ms,
        )
    elif isinstance(body, OperationProposalRequest):
        proposal = service.call(
            coordinator.propose_operation,
            group_id,
            owner,
            body.operation_type,
            decode(body.operation_data),
            nonce=_u64(body.nonce),
            ttl_ms=body.ttl_ms,
        )
    else:
        proposal = service.call(
            coordinator.propose_intent,
            group_id,
            owner,
            body.chain,
            body.intent_kind,
            body.payload,
            ttl_ms=body.ttl_ms,
        )
    return _proposal_response(proposal, 201)


@router.post("/proposals/{proposal_id}/commitments")
def post_commitments(
    proposal_id: Id, body: CommitmentRequest, service: Service, owner: OwnerKey
) -> JSONResponse:
    """Round one: this owner's signing commitments (fresh nonces for this attempt)."""
    proposal = service.call(
        service.coordinator.submit_commitment, proposal_id, owner, decode(body.commitments)
    )
    return _proposal_response(proposal)


@router.post("/proposals/{proposal_id}/shares")
def post_share(
    proposal_id: Id, body: ShareRequest, service: Service, owner: OwnerKey
) -> JSONResponse:
    """Round two: this owner's signature share, verified on arrival."""
    proposal = service.call(
        service.coordinator.submit_signature_share, proposal_id, owner, decode(body.share)
    )
    return _proposal_response(proposal)


@router.post("/proposals/{proposal_id}/cancel")
def post_cancel(proposal_id: Id, service: Service, owner: OwnerKey) -> JSONResponse:
    """The proposer withdraws its proposal."""
    proposal = service.call(service.coordinator.cancel_proposal, proposal_id, owner)
    return _proposal_response(proposal)


@router.post("/proposals/{proposal_id}/execution")
def post_execution(
    proposal_id: Id, service: Service, owner: OwnerKey, body: ExecutionRequest | None = None
) -> JSONResponse:
    """Report a ready proposal executed (on the ledger or the chain)."""
    ref = body.execution_ref if body is not None else None
    proposal = service.call(service.coordinator.record_execution, proposal_id, owner, ref)
    return _proposal_response(proposal)


# -- WebSocket ----------------------------------------------------------------------------------


class _Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _bearer(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _authenticate(service: MultisigService, token: str) -> Principal:
    if not token.isascii():  # a lone surrogate from JSON cannot even be encoded
        raise _Close(4401, "invalid token")
    if service.is_dashboard(token):
        return Principal(None)
    try:
        return owner_from_token(service, token)
    except CosignerError as exc:
        raise _Close(4401, exc.code) from None


class _Membership:
    """Which groups an owner's connection may hear about (owners of a group never change)."""

    def __init__(self, service: MultisigService, owner: bytes, groups: set[str]) -> None:
        self._service = service
        self._owner = owner
        self._known: dict[str, bool] = dict.fromkeys(groups, True)

    async def allows(self, wire: Wire) -> bool:
        group_id = wire["groupId"]
        known = self._known.get(group_id)
        if known is not None:
            return known
        if wire.get("type") == "group_created":
            owners = wire.get("data", {}).get("owners", [])
            member = self._owner.hex() in owners
        else:
            group = await run_in_threadpool(self._service.store.get_group, group_id)
            member = group is not None and group.owner(self._owner) is not None
        self._known[group_id] = member
        return member


@router.websocket("/ws")
async def events_socket(websocket: WebSocket) -> None:
    """Push the events of the caller's groups (every event, for the dashboard)."""
    service: MultisigService = websocket.app.state.multisig
    only_group = websocket.query_params.get("groupId")
    token = _bearer(websocket)
    principal: Principal | None = None
    if token is not None:
        try:
            principal = _authenticate(service, token)
        except _Close:
            await websocket.close(code=4401, reason="invalid token")
            return
    await websocket.accept()
    try:
        if principal is None:
            principal = await _first_message_auth(service, websocket)
        await _stream(service, websocket, principal, only_group)
    except _Close as close:
        with contextlib.suppress(Exception):
            await websocket.close(code=close.code, reason=close.reason)
    except WebSocketDisconnect:
        pass


async def _first_message_auth(service: MultisigService, websocket: WebSocket) -> Principal:
    try:
        message = await asyncio.wait_for(websocket.receive_json(), WS_AUTH_TIMEOUT_S)
    except TimeoutError:
        raise _Close(4408, "no auth message in time") from None
    except (ValueError, KeyError):
        raise _Close(4401, "the first message must be {type: auth, token}") from None
    if (
        not isinstance(message, dict)
        or message.get("type") != "auth"
        or not isinstance(message.get("token"), str)
    ):
        raise _Close(4401, "the first message must be {type: auth, token}")
    return _authenticate(service, message["token"])


async def _stream(
    service: MultisigService, websocket: WebSocket, principal: Principal, only_group: str | None
) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Wire] = asyncio.Queue(maxsize=WS_QUEUE)
    overflowed = False

    def push(wire: Wire) -> None:
        nonlocal overflowed
        if inbox.full():
            overflowed = True
        else:
            inbox.put_nowait(wire)

    def on_event(wire: Wire) -> None:
        if only_group is not None and wire["groupId"] != only_group:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(push, wire)

    membership: _Membership | None = None
    unsubscribe = service.bridge.subscribe(on_event)
    try:
        hello: dict[str, Any] = {"role": "dashboard" if principal.dashboard else "owner"}
        if principal.owner is not None:
            owner = principal.owner
            groups = await run_in_threadpool(service.coordinator.groups_for_owner, owner)
            membership = _Membership(service, owner, {g.group_id for g in groups})
            hello["owner"] = owner.hex()
        await websocket.send_json({"type": "subscribed", "data": hello, "at": service.ctx.clock()})
        receiver = asyncio.create_task(_receive_loop(websocket))
        try:
            while True:
                timeout = None
                if principal.expires_at is not None:
                    timeout = max(0.0, (principal.expires_at - service.ctx.clock()) / 1000)
                getter = asyncio.ensure_future(inbox.get())
                done, _ = await asyncio.wait(
                    {getter, receiver}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if receiver in done:
                    getter.cancel()
                    receiver.result()  # re-raises the disconnect
                    return
                if getter not in done:
                    getter.cancel()
                    raise _Close(4401, "the owner token expired")
                wire = getter.result()
                if overflowed:
                    raise _Close(1013, "the client reads events too slowly")
                if membership is not None and not await membership.allows(wire):
                    continue
                await websocket.send_json(wire)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver
    finally:
        unsubscribe()


async def _receive_loop(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text and '"ping"' in text:
            await websocket.send_json({"type": "pong"})


__all__ = [
    "DASHBOARD_TOKEN_ENV",
    "OWNER_TOKEN_KIND",
    "STATUS_BY_CODE",
    "MultisigService",
    "install",
    "lifespan",
    "router",
]
