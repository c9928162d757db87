"""The owner's client of the multisig server: HTTP for requests, WebSocket for events.

:class:`MultisigClient` speaks the routes documented in
:mod:`cosigner.server.routes.multisig` and turns their bodies back into the
coordinator's records (:class:`~cosigner.multisig.records.Group`,
:class:`~cosigner.multisig.records.Proposal`). Errors come back as
:class:`MultisigApiError` carrying the server's ``code``, the HTTP status
and, when owners are to blame, ``culprit_keys``.

Retries: ``stale_session_state`` (another request won a race; nothing was
written) is retried for every request. A transport failure is retried only
for requests the server treats as idempotent (every submission: resending
an identical one is accepted), never for those that create a group or a
proposal, which would create a second one.

Two flows on top, each for one owner in one process (an
:class:`~cosigner.multisig.owner.Owner` holds its DKG secrets and signing
nonces in memory only):

* :func:`run_keygen`: every round of a DKG or refresh, waiting (long
  polling) for the other owners between rounds;
* :func:`approve`: round one (fresh nonces, commitments), wait for the
  signing package, round two (the signature share), wait for the result;
  a restart after someone else's bad share is followed with fresh nonces.

Both report progress through a callback, which the CLI prints.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

import httpx

from cosigner.errors import CosignerError
from cosigner.multisig.errors import KeygenFailed, NotASigner, ProposalFinished, short_key
from cosigner.multisig.identity import IdentityKey, LoginChallenge
from cosigner.multisig.owner import Complaint, Confirmation, EchoMessage, Owner, Round1Message
from cosigner.multisig.records import Failure, Group, Proposal
from cosigner.multisig.transcript import SignedPackage

DEFAULT_TIMEOUT_S: Final = 30.0
POLL_WAIT_MS: Final = 20_000
STALE_RETRIES: Final = 10
TRANSPORT_RETRIES: Final = 3

Progress = Callable[[str], None]


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class MultisigApiError(CosignerError):
    """An error answer of the multisig server, with its ``code`` and HTTP ``status``."""

    def __init__(
        self, status: int, code: str, message: str, culprit_keys: Sequence[bytes] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.culprit_keys = tuple(culprit_keys)

    def __str__(self) -> str:
        culprits = ""
        if self.culprit_keys:
            culprits = f" [culprits: {', '.join(k.hex() for k in self.culprit_keys)}]"
        return f"{self.code} ({self.status}): {self.message}{culprits}"


def _error(response: httpx.Response) -> MultisigApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    culprits = []
    for k in body.get("culprit_keys") or ():
        try:
            culprits.append(bytes.fromhex(k))
        except (TypeError, ValueError):
            continue
    return MultisigApiError(
        response.status_code,
        str(body.get("code") or "http_error"),
        str(body.get("message") or response.reason_phrase),
        culprits,
    )


class MultisigClient:
    """One owner's (or the dashboard's) connection to a multisig server."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        http: httpx.Client | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.token_expires_at: int | None = None
        self._own_http = http is None
        self.http = http or httpx.Client(
            base_url=self.base_url, timeout=httpx.Timeout(timeout_s, read=timeout_s + 35)
        )

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> MultisigClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MultisigClient({self.base_url!r}, token={'<set>' if self.token else None})"

    # -- plumbing ---------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        auth: bool = True,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}
        url = f"/multisig{path}"
        stale = transport = 0
        while True:
            try:
                response = self.http.request(
                    method,
                    url,
                    json=None if body is None else dict(body),
                    params=None if params is None else dict(params),
                    headers=headers,
                )
            except httpx.TransportError:
                transport += 1
                if not idempotent or transport > TRANSPORT_RETRIES:
                    raise
                time.sleep(0.2 * transport)
                continue
            if response.is_success:
                return response.json()
            error = _error(response)
            if error.code == "stale_session_state" and stale < STALE_RETRIES:
                stale += 1
                time.sleep(0.005 * stale)
                continue
            raise error

    # -- login ------------------------------------------------------------------------------------

    def login(self, identity: IdentityKey) -> str:
        """Answer a login challenge with ``identity``; keeps and returns the owner token."""
        found = self._request(
            "POST", "/auth/challenge", {"owner": identity.public_key.hex()}, auth=False
        )
        challenge = LoginChallenge.from_dict(found["challenge"])
        body = {
            "challengeId": challenge.challenge_id,
            "owner": identity.public_key.hex(),
            "signature": b64u(identity.sign_login(challenge)),
        }
        answer = self._request("POST", "/auth/login", body, auth=False, idempotent=False)
        self.token = str(answer["token"])
        self.token_expires_at = int(answer["expiresAt"])
        return self.token

    def me(self) -> dict[str, Any]:
        found: dict[str, Any] = self._request("GET", "/auth/me")
        return found

    # -- groups and keygen ------------------------------------------------------------------------

    def create_group(self, owners: Sequence[bytes], threshold: int) -> Group:
        body = {"owners": [k.hex() for k in owners], "threshold": threshold}
        return Group.from_dict(self._request("POST", "/groups", body, idempotent=False))

    def groups(self) -> list[Group]:
        return [Group.from_dict(g) for g in self._request("GET", "/groups")["groups"]]

    def group(
        self,
        group_id: str,
        *,
        after_version: int | None = None,
        wait_ms: int = 0,
        while_stage: str | None = None,
    ) -> Group:
        """The group; with ``wait_ms``, once its version passes ``after_version`` (long poll)
        and, with ``while_stage``, the open session has left that stage."""
        params: dict[str, Any] = {}
        if after_version is not None or while_stage is not None:
            params["waitMs"] = wait_ms
        if after_version is not None:
            params["afterVersion"] = after_version
        if while_stage is not None:
            params["whileStage"] = while_stage
        return Group.from_dict(self._request("GET", f"/groups/{group_id}", params=params))

    def _keygen(self, group_id: str, session: str, step: str) -> str:
        return f"/groups/{group_id}/keygen/{session}/{step}"

    def submit_round1(self, group_id: str, message: Round1Message) -> Group:
        body = {"package": b64u(message.package), "signature": b64u(message.signature)}
        path = self._keygen(group_id, message.session, "round1")
        return Group.from_dict(self._request("POST", path, body))

    def round1_packages(self, group_id: str, session: str) -> dict[bytes, SignedPackage]:
        found = self._request("GET", self._keygen(group_id, session, "round1"))
        return {
            bytes.fromhex(p["owner"]): SignedPackage(unb64u(p["package"]), unb64u(p["signature"]))
            for p in found["packages"]
        }

    def submit_echo(self, group_id: str, echo: EchoMessage) -> Group:
        body = {
            "setHash": b64u(echo.set_hash),
            "signature": b64u(echo.signature),
            "evidence": [
                {"owner": k.hex(), "package": b64u(p.package), "signature": b64u(p.signature)}
                for k, p in echo.evidence.items()
            ],
        }
        path = self._keygen(group_id, echo.session, "echo")
        return Group.from_dict(self._request("POST", path, body))

    def submit_round2(self, group_id: str, session: str, envelopes: Sequence[bytes]) -> Group:
        body = {"envelopes": [b64u(e) for e in envelopes]}
        path = self._keygen(group_id, session, "round2")
        return Group.from_dict(self._request("POST", path, body))

    def round2_envelopes(self, group_id: str, session: str) -> list[bytes]:
        found = self._request("GET", self._keygen(group_id, session, "round2"))
        return [unb64u(e) for e in found["envelopes"]]

    def submit_confirmation(self, group_id: str, confirmation: Confirmation) -> Group:
        body = {
            "groupPublicKey": confirmation.group_public_key.hex(),
            "transcript": b64u(confirmation.transcript),
            "signature": b64u(confirmation.signature),
        }
        path = self._keygen(group_id, confirmation.session, "confirm")
        return Group.from_dict(self._request("POST", path, body))

    def complain(self, group_id: str, complaint: Complaint) -> Failure:
        body = {"accused": complaint.accused.hex(), "envelopeKey": b64u(complaint.envelope_key)}
        path = self._keygen(group_id, complaint.session, "complaint")
        return Failure.from_dict(self._request("POST", path, body)["failure"])

    def start_refresh(self, group_id: str) -> Group:
        return Group.from_dict(self._request("POST", f"/groups/{group_id}/refresh", {}))

    # -- proposals --------------------------------------------------------------------------------

    def _propose(self, group_id: str, body: Mapping[str, Any]) -> Proposal:
        found = self._request("POST", f"/groups/{group_id}/proposals", body, idempotent=False)
        return Proposal.from_dict(found)

    def propose_transfer(
        self,
        group_id: str,
        to: str,
        amount: int,
        *,
        nonce: int | None = None,
        ttl_ms: int | None = None,
    ) -> Proposal:
        body: dict[str, Any] = {"kind": "transfer", "to": to, "amount": str(amount)}
        if nonce is not None:
            body["nonce"] = str(nonce)
        if ttl_ms is not None:
            body["ttlMs"] = ttl_ms
        return self._propose(group_id, body)

    def propose_operation(
        self,
        group_id: str,
        operation_type: str,
        operation_data: bytes,
        *,
        nonce: int | None = None,
        ttl_ms: int | None = None,
    ) -> Proposal:
        body: dict[str, Any] = {
            "kind": "operation",
            "operationType": operation_type,
            "operationData": b64u(operation_data),
        }
        if nonce is not None:
            body["nonce"] = str(nonce)
        if ttl_ms is not None:
            body["ttlMs"] = ttl_ms
        return self._propose(group_id, body)

    def propose_intent(
        self,
        group_id: str,
        chain: str,
        kind: str,
        payload: Mapping[str, Any],
        *,
        ttl_ms: int | None = None,
    ) -> Proposal:
        body: dict[str, Any] = {
            "kind": "intent",
            "chain": chain,
            "intentKind": kind,
            "payload": dict(payload),
        }
        if ttl_ms is not None:
            body["ttlMs"] = ttl_ms
        return self._propose(group_id, body)

    def proposals(self, group_id: str, statuses: Sequence[str] | None = None) -> list[Proposal]:
        params = {"status": ",".join(statuses)} if statuses else None
        found = self._request("GET", f"/groups/{group_id}/proposals", params=params)
        return [Proposal.from_dict(p) for p in found["proposals"]]

    def proposal(
        self,
        proposal_id: str,
        *,
        after_version: int | None = None,
        wait_ms: int = 0,
        while_status: str | None = None,
    ) -> Proposal:
        """The proposal; long polls like :meth:`group`, ``while_status`` for its status."""
        params: dict[str, Any] = {}
        if after_version is not None or while_status is not None:
            params["waitMs"] = wait_ms
        if after_version is not None:
            params["afterVersion"] = after_version
        if while_status is not None:
            params["whileStatus"] = while_status
        return Proposal.from_dict(self._request("GET", f"/proposals/{proposal_id}", params=params))

    def submit_commitment(self, proposal_id: str, commitments: bytes) -> Proposal:
        body = {"commitments": b64u(commitments)}
        return Proposal.from_dict(
            self._request("POST", f"/proposals/{proposal_id}/commitments", body)
        )

    def submit_share(self, proposal_id: str, share: bytes) -> Proposal:
        body = {"share": b64u(share)}
        return Proposal.from_dict(self._request("POST", f"/proposals/{proposal_id}/shares", body))

    def cancel(self, proposal_id: str) -> Proposal:
        return Proposal.from_dict(self._request("POST", f"/proposals/{proposal_id}/cancel", {}))

    def report_execution(self, proposal_id: str, execution_ref: str | None = None) -> Proposal:
        body = {} if execution_ref is None else {"executionRef": execution_ref}
        path = f"/proposals/{proposal_id}/execution"
        return Proposal.from_dict(self._request("POST", path, body, idempotent=False))

    def group_events(self, group_id: str, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        params = {"after": after, "limit": limit}
        found: list[dict[str, Any]] = self._request(
            "GET", f"/groups/{group_id}/events", params=params
        )["events"]
        return found

    def proposal_events(
        self, proposal_id: str, after: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        params = {"after": after, "limit": limit}
        found: list[dict[str, Any]] = self._request(
            "GET", f"/proposals/{proposal_id}/events", params=params
        )["events"]
        return found

    # -- events -----------------------------------------------------------------------------------

    def events(
        self, *, group_id: str | None = None, open_timeout_s: float = 10.0
    ) -> Iterator[dict[str, Any]]:
        """Events from ``/multisig/ws`` as they come (the ``subscribed`` greeting first)."""
        with self.connect_events(group_id=group_id, open_timeout_s=open_timeout_s) as socket:
            for message in socket:
                yield json.loads(message)

    def connect_events(self, *, group_id: str | None = None, open_timeout_s: float = 10.0) -> Any:
        """An open ``websockets`` connection to ``/multisig/ws`` (iterate it; close it)."""
        from websockets.sync.client import connect

        if self.token is None:
            raise MultisigApiError(401, "unauthorized", "log in before listening to events")
        url = self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        url += "/multisig/ws" + (f"?groupId={group_id}" if group_id else "")
        connection = connect(
            url,
            additional_headers={"Authorization": f"Bearer {self.token}"},
            open_timeout=open_timeout_s,
            proxy=None,
            max_size=8 * 1024 * 1024,
        )
        return connection.__enter__()  # the caller closes it


# -- flows ------------------------------------------------------------------------------------


def _stage_line(group: Group) -> str:
    session = group.session
    if session is None:
        return f"group {group.group_id}: {group.status}"
    return f"{session.kind} {session.name}: stage {session.stage}"


def run_keygen(
    client: MultisigClient,
    owner: Owner,
    group_id: str,
    *,
    progress: Progress | None = None,
    timeout_s: float = 600.0,
    tamper_round2: Callable[[list[bytes]], list[bytes]] | None = None,
) -> Group:
    """Take part in the group's open DKG or refresh until it completes; returns the group.

    Raises the session's failure (a ``dkg_*`` :class:`MultisigApiError` or
    :class:`~cosigner.multisig.errors.KeygenFailed`, naming the culprits) if it
    fails, and adopts the new key package on success (:meth:`Owner.sync`).
    ``tamper_round2`` exists for tests that play a dishonest owner.
    """
    say = progress or (lambda _text: None)
    deadline = time.monotonic() + timeout_s
    group = client.group(group_id)
    if group.session is None:
        if group.status == "failed" and group.failure is not None:
            raise group.failure.to_error()
        raise MultisigApiError(
            409, "wrong_group_state", f"no DKG or refresh is open for group {group_id}"
        )
    session = group.session.name
    done: set[str] = set()
    last = ""
    seq = 0
    while True:
        if group.status == "failed" and group.failure is not None:
            raise group.failure.to_error()
        current = group.session
        if current is None or current.name != session:
            failed = group.last_refresh_failure
            if failed is not None and failed.session == session:
                raise failed.to_error()
            owner.sync(group)
            say(
                f"{session} complete: group {group.group_id} is {group.status}, epoch {group.epoch}"
            )
            return group
        stage = current.stage
        if stage not in done:
            done.add(stage)
            if stage == "round1":
                group = client.submit_round1(group_id, owner.keygen_round1(group))
                say(f"{session}: sent the part-one package")
                continue
            if stage == "echo":
                received = client.round1_packages(group_id, session)
                group = client.submit_echo(group_id, owner.keygen_echo(group, received))
                say(f"{session}: checked {len(received)} part-one packages, sent the echo")
                continue
            if stage == "round2":
                envelopes = owner.keygen_round2(group)
                if tamper_round2 is not None:
                    envelopes = tamper_round2(envelopes)
                group = client.submit_round2(group_id, session, envelopes)
                say(f"{session}: sent {len(envelopes)} encrypted shares")
                continue
            if stage == "confirm":
                envelopes = client.round2_envelopes(group_id, session)
                outcome = owner.keygen_finish(group, envelopes)
                if isinstance(outcome, Complaint):
                    failure = client.complain(group_id, outcome)
                    say(
                        f"{session}: the share from {short_key(outcome.accused)} is bad "
                        f"({outcome.reason}); complaint sent"
                    )
                    raise failure.to_error()
                group = client.submit_confirmation(group_id, outcome)
                say(
                    f"{session}: shares verified, confirmed group key "
                    f"{outcome.group_public_key.hex()}"
                )
                continue
        line = _stage_line(group)
        if line != last:
            say(f"waiting for the other owners ({line})")
            last = line
        if time.monotonic() > deadline:
            raise MultisigApiError(
                408, "timeout", f"the {session} did not complete in {timeout_s:.0f} s"
            )
        group = client.group(
            group_id,
            after_version=group.version,
            wait_ms=POLL_WAIT_MS,
            # Without progress to show, only a new stage is worth waking up for.
            while_stage=None if progress is not None else stage,
        )
        if progress is not None:
            seq = _report_progress(client, group_id, session, seq, say)


def _report_progress(
    client: MultisigClient, group_id: str, session: str, seq: int, say: Progress
) -> int:
    """Print the DKG progress events the journal holds after ``seq``; returns the last seq."""
    try:
        events = client.group_events(group_id, after=seq, limit=500)
    except MultisigApiError:
        return seq
    for event in events:
        seq = max(seq, int(event.get("seq", seq)))
        data = event.get("data", {})
        if (
            event.get("type") == "dkg_progress"
            and data.get("session") == session
            and data.get("owner")
        ):
            say(
                f"{session} {data.get('step')}: {data.get('received')} of "
                f"{data.get('expected')} owners ({str(data.get('owner'))[:16]} just sent theirs)"
            )
    return seq


def _mine(pairs: Sequence[tuple[bytes, bytes]], key: bytes) -> bool:
    return any(k == key for k, _ in pairs)


def approve(
    client: MultisigClient,
    owner: Owner,
    proposal_id: str,
    *,
    group: Group | None = None,
    proposal: Proposal | None = None,
    progress: Progress | None = None,
    timeout_s: float = 600.0,
    wait_ready: bool = True,
) -> Proposal:
    """Commit, wait for the signing package, sign; returns the proposal as last seen.

    With ``wait_ready`` the call returns once the proposal is ``ready`` (or
    further); otherwise as soon as this owner's share is in. ``group`` and
    ``proposal``, when the caller has them fresh, save a request each. With a
    ``progress`` callback every change is reported; without, the waits only
    wake for a change of status. Raises
    :class:`MultisigApiError` with the server's refusal (a finished proposal,
    a signing package fixed without this owner, ...).
    """
    say = progress or (lambda _text: None)
    deadline = time.monotonic() + timeout_s
    me = owner.public_key
    if proposal is None or proposal.proposal_id != proposal_id:
        proposal = client.proposal(proposal_id)
    if group is None or group.group_id != proposal.group_id:
        group = client.group(proposal.group_id)
    last = ""
    while True:
        if proposal.status in ("ready", "executed"):
            if not _mine(proposal.commitments, me):
                raise ProposalFinished(
                    f"the proposal is already {proposal.status}, signed by other owners; "
                    "this approval comes too late"
                )
            say(f"{proposal.proposal_id} is {proposal.status}")
            return proposal
        if not proposal.live:
            raise ProposalFinished(
                f"the proposal is {proposal.status}"
                + (f" ({proposal.status_reason})" if proposal.status_reason else "")
            )
        if me in proposal.excluded:
            raise NotASigner("this owner's signature share was refused; it is excluded")
        if proposal.status == "collecting" and not _mine(proposal.commitments, me):
            commitments = owner.commit(group, proposal)
            proposal = client.submit_commitment(proposal_id, commitments)
            say(
                f"committed (attempt {proposal.attempt}): {len(proposal.commitments)} of "
                f"{group.threshold} commitments"
            )
            continue
        if proposal.status == "signing":
            if me not in proposal.signers:
                raise MultisigApiError(
                    409,
                    "signing_package_fixed",
                    "the signing package was fixed with other owners; this approval is not needed",
                )
            if not _mine(proposal.shares, me):
                share = owner.sign(group, proposal)
                proposal = client.submit_share(proposal_id, share)
                say(f"signed: {len(proposal.shares)} of {group.threshold} signature shares")
                if not wait_ready and proposal.status != "collecting":
                    return proposal
                continue
        line = (
            f"{proposal.status}: {len(proposal.commitments)} commitments, "
            f"{len(proposal.shares)} shares of {group.threshold}"
        )
        if line != last:
            say(f"waiting for the other owners ({line})")
            last = line
        if time.monotonic() > deadline:
            raise MultisigApiError(
                408, "timeout", f"the proposal was not signed in {timeout_s:.0f} s"
            )
        proposal = client.proposal(
            proposal_id, after_version=proposal.version, wait_ms=POLL_WAIT_MS
        )


def keygen_failure(exc: BaseException) -> tuple[str, list[bytes]] | None:
    """The code and culprits of a failed DKG or refresh, from either error form."""
    if isinstance(exc, MultisigApiError) and exc.code.startswith("dkg_"):
        return exc.code, list(exc.culprit_keys)
    if isinstance(exc, KeygenFailed):
        return exc.code, list(exc.culprit_keys)
    return None


__all__ = [
    "MultisigApiError",
    "MultisigClient",
    "approve",
    "b64u",
    "keygen_failure",
    "run_keygen",
    "unb64u",
]
