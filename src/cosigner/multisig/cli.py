"""``cosigner multisig``: the owner's command line for m-of-n groups on a cosigner server.

Every command works in a home directory (``--home``, default
``$COSIGNER_HOME`` or ``~/.cosigner-multisig``) that holds:

* ``identity.json``: the owner's Ed25519 identity key, sealed with the
  passphrase (Argon2id + SecretBox, :mod:`cosigner.multisig.identity`);
* ``keys/<group id>.json``: the owner's FROST key package for each group,
  sealed with the same passphrase, written when a DKG or refresh completes;
* ``config.json``: the server URL; ``session.json``: the last owner token
  and its expiry (mode 0600, like every file here).

The passphrase comes from ``--passphrase-file`` or ``$COSIGNER_PASSPHRASE``
(or a prompt on a terminal); it is never printed or logged.

Commands:

* ``init``: create and seal the identity key (``--kdf`` picks the Argon2id cost);
* ``login``: log in to ``--server`` and remember the server and the token;
* ``create-group --owner KEY ... --threshold M``: a new group with this
  owner and the others (hex identity keys); prints its id;
* ``dkg --group ID``: run every DKG round, waiting for the other owners with
  progress, and seal the resulting key package;
* ``propose --group ID --to X --amount N`` (or ``--intent FILE``, a JSON
  ``{"kind": "intent", "chain", "intentKind", "payload"}`` or
  ``{"kind": "operation", "operationType", "operationData"}``);
* ``approve --proposal ID``: show what will be signed (the ``ui_model``),
  ask (unless ``--yes``), commit, wait for the signing package, sign, and
  wait for the signature, all in this one process (signing nonces never
  leave memory);
* ``status [--group ID | --proposal ID]``: tables of groups and proposals;
* ``watch [--group ID]``: print events as they happen;
* ``refresh --group ID``: start (or join) a share refresh and run it.

``--json`` prints machine-readable records instead of tables. Exit status:
0 done, 1 refused or failed (the server's error code and message are
printed, with the culprits' keys when owners are to blame), 2 usage.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

DEFAULT_SERVER: Final = "http://127.0.0.1:8080"
HOME_ENV: Final = "COSIGNER_HOME"
PASSPHRASE_ENV: Final = "COSIGNER_PASSPHRASE"
SERVER_ENV: Final = "COSIGNER_SERVER"
KDF_PROFILES: Final = ("interactive", "moderate", "sensitive")
TOKEN_MARGIN_MS: Final = 60_000


class CliError(Exception):
    """A problem to report in one line (exit status 1, or 2 for usage)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# -- the home directory --------------------------------------------------------------------


class Home:
    """The owner's files (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def identity_file(self) -> Path:
        return self.path / "identity.json"

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def session_file(self) -> Path:
        return self.path / "session.json"

    def key_file(self, group_id: str) -> Path:
        if not group_id or any(c in group_id for c in "/\\.") or len(group_id) > 128:
            raise CliError(f"not a group id: {group_id!r}", 2)
        return self.path / "keys" / f"{group_id}.json"

    def write_private(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` readable by this user only (atomically replaced)."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)

    def read_json(self, path: Path) -> dict[str, Any]:
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            raise CliError(f"{path.name} in the home directory is not readable JSON") from None
        return found if isinstance(found, dict) else {}

    def config(self) -> dict[str, Any]:
        return self.read_json(self.config_file)

    def save_config(self, **values: Any) -> None:
        config = {**self.config(), **values}
        self.write_private(self.config_file, json.dumps(config, indent=1).encode())


def _home(args: argparse.Namespace) -> Home:
    raw = args.home or os.environ.get(HOME_ENV) or str(Path.home() / ".cosigner-multisig")
    return Home(Path(raw).expanduser())


def _passphrase(args: argparse.Namespace, *, confirm: bool = False) -> str:
    if args.passphrase_file:
        try:
            text = Path(args.passphrase_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read the passphrase file: {exc.strerror}", 2) from None
        text = text.rstrip("\r\n")
    elif os.environ.get(PASSPHRASE_ENV):
        text = os.environ[PASSPHRASE_ENV]
    elif sys.stdin.isatty():
        text = getpass.getpass("passphrase: ")
        if confirm and getpass.getpass("passphrase again: ") != text:
            raise CliError("the passphrases differ", 2)
    else:
        raise CliError(f"no passphrase: use --passphrase-file or set {PASSPHRASE_ENV}", 2)
    if not text:
        raise CliError("the passphrase is empty", 2)
    return text


def _kdf_limits(profile: str) -> tuple[int, int]:
    import nacl.pwhash

    argon = nacl.pwhash.argon2id
    if profile == "interactive":
        return argon.OPSLIMIT_INTERACTIVE, argon.MEMLIMIT_INTERACTIVE
    if profile == "sensitive":
        return argon.OPSLIMIT_SENSITIVE, argon.MEMLIMIT_SENSITIVE
    return argon.OPSLIMIT_MODERATE, argon.MEMLIMIT_MODERATE


class Session:
    """What a command needs: the home, the server, the identity (unsealed on demand)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.home = _home(args)
        self._passphrase: str | None = None
        self._identity: Any = None
        self._client: Any = None
        self._owner: Any = None

    # identity

    def passphrase(self) -> str:
        if self._passphrase is None:
            self._passphrase = _passphrase(self.args)
        return self._passphrase

    def identity_blob(self) -> bytes:
        try:
            return self.home.identity_file.read_bytes()
        except FileNotFoundError:
            raise CliError(
                f"no identity in {self.home.path}: run `cosigner multisig init` first", 2
            ) from None

    def public_key(self) -> bytes:
        from cosigner.multisig.identity import sealed_metadata

        _, public = sealed_metadata(self.identity_blob())
        return bytes.fromhex(str(public["public_key"]))

    def identity(self) -> Any:
        if self._identity is None:
            from cosigner.multisig.identity import IdentityKey

            self._identity = IdentityKey.unseal(self.identity_blob(), self.passphrase())
        return self._identity

    def kdf(self) -> dict[str, int]:
        document = json.loads(self.identity_blob())
        return {"opslimit": int(document["opslimit"]), "memlimit": int(document["memlimit"])}

    def owner(self) -> Any:
        if self._owner is None:
            from cosigner.multisig.owner import Owner

            self._owner = Owner(self.identity())
        return self._owner

    def load_keys(self, group_id: str) -> None:
        path = self.home.key_file(group_id)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise CliError(
                f"no key package for group {group_id} in {self.home.path}: "
                "this owner has not completed its DKG"
            ) from None
        self.owner().import_keys(blob, self.passphrase())

    def save_keys(self, group_id: str) -> Path:
        blob = self.owner().export_keys(group_id, self.passphrase(), **self.kdf())
        path = self.home.key_file(group_id)
        self.home.write_private(path, blob)
        return path

    # server

    def server(self) -> str:
        server = (
            getattr(self.args, "server", None)
            or os.environ.get(SERVER_ENV)
            or self.home.config().get("server")
            or DEFAULT_SERVER
        )
        return str(server).rstrip("/")

    def client(self, *, login: bool = True) -> Any:
        """A client with a valid owner token (logging in when the saved one will not do)."""
        if self._client is not None:
            return self._client
        from cosigner.multisig.client import MultisigClient

        server = self.server()
        client = MultisigClient(server)
        saved = self.home.read_json(self.home.session_file)
        now = int(time.time() * 1000)
        if (
            saved.get("server") == server
            and isinstance(saved.get("token"), str)
            and int(saved.get("expires_at", 0)) > now + TOKEN_MARGIN_MS
            and saved.get("owner") == self.public_key().hex()
        ):
            client.token = saved["token"]
            client.token_expires_at = int(saved["expires_at"])
        elif login:
            self.login(client)
        self._client = client
        return client

    def login(self, client: Any) -> None:
        client.login(self.identity())
        self.home.write_private(
            self.home.session_file,
            json.dumps(
                {
                    "server": client.base_url,
                    "owner": self.identity().public_key.hex(),
                    "token": client.token,
                    "expires_at": client.token_expires_at,
                }
            ).encode(),
        )
        self.home.save_config(server=client.base_url)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


# -- output ----------------------------------------------------------------------------------


def _print(text: str = "") -> None:
    print(text, flush=True)


def _progress(text: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {text}", file=sys.stderr, flush=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table: one header line, a rule, one line per row."""
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _short(key: bytes | str | None, n: int = 16) -> str:
    if key is None:
        return "-"
    text = key.hex() if isinstance(key, bytes) else key
    return text[:n]


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def group_rows(groups: Sequence[Any]) -> str:
    return table(
        ("GROUP", "M-OF-N", "STATUS", "EPOCH", "NEXT NONCE", "GROUP KEY", "CREATED"),
        (
            (
                g.group_id,
                f"{g.threshold}-of-{len(g.owners)}",
                g.status
                + (f" ({g.session.kind} {g.session.stage})" if g.session is not None else ""),
                g.epoch,
                g.next_nonce,
                _short(g.group_public_key),
                _when(g.created_at),
            )
            for g in groups
        ),
    )


def proposal_rows(proposals: Sequence[Any], threshold: int) -> str:
    return table(
        ("PROPOSAL", "STATUS", "NONCE", "SUMMARY", "COMMITS", "SHARES", "PROPOSER", "CREATED"),
        (
            (
                p.proposal_id,
                p.status,
                "-" if p.nonce is None else p.nonce,
                str(p.ui_model.get("summary", ""))[:48],
                f"{len(p.commitments)}/{threshold}",
                f"{len(p.shares)}/{threshold}",
                _short(p.proposer),
                _when(p.created_at),
            )
            for p in proposals
        ),
    )


def describe_group(group: Any) -> str:
    lines = [
        f"group      {group.group_id}",
        f"scheme     {group.scheme} (FROST {group.ciphersuite}), {group.threshold}-of-"
        f"{len(group.owners)}",
        f"status     {group.status}, epoch {group.epoch}, next nonce {group.next_nonce}",
        f"group key  {group.group_public_key.hex() if group.group_public_key else '-'}",
    ]
    if group.session is not None:
        s = group.session
        lines.append(f"session    {s.name} ({s.kind}), stage {s.stage}")
    if group.failure is not None:
        lines.append(f"failure    {group.failure.code}: {group.failure.message}")
    lines.append("owners")
    lines.extend(f"  {o.key.hex()}" for o in group.owners)
    return "\n".join(lines)


def describe_proposal(proposal: Any) -> str:
    ui = proposal.ui_model
    lines = [
        f"proposal   {proposal.proposal_id} (group {proposal.group_id})",
        f"kind       {proposal.kind}"
        + (f", nonce {proposal.nonce}" if proposal.nonce is not None else "")
        + (f", chain {proposal.chain} {proposal.intent_kind}" if proposal.chain else ""),
        f"proposer   {proposal.proposer.hex()}",
        f"status     {proposal.status}"
        + (f" ({proposal.status_reason})" if proposal.status_reason else "")
        + f", attempt {proposal.attempt}",
        f"expires    {_when(proposal.expires_at)}",
        f"summary    {ui.get('summary', '')}",
        "fields",
    ]
    fields = ui.get("fields", {})
    if isinstance(fields, Mapping):
        width = max((len(str(k)) for k in fields), default=0)
        for key, value in fields.items():
            shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            lines.append(f"  {str(key).ljust(width)}  {shown}")
    lines.append(f"message    {proposal.message.hex()}")
    if proposal.commitments:
        lines.append("committed  " + ", ".join(_short(k) for k, _ in proposal.commitments))
    if proposal.shares:
        lines.append("signed     " + ", ".join(_short(k) for k, _ in proposal.shares))
    if proposal.signature is not None:
        lines.append(f"signature  {proposal.signature.hex()}")
    if proposal.execution_ref:
        lines.append(f"executed   {proposal.execution_ref}")
    return "\n".join(lines)


def _emit_json(value: Any) -> None:
    _print(json.dumps(value, sort_keys=True))


# -- commands --------------------------------------------------------------------------------


def cmd_init(session: Session) -> int:
    from cosigner.multisig.identity import IdentityKey

    home = session.home
    if home.identity_file.exists() and not session.args.force:
        raise CliError(
            f"{home.identity_file} exists; use --force to replace it (its groups are lost)", 2
        )
    passphrase = _passphrase(session.args, confirm=True)
    opslimit, memlimit = _kdf_limits(session.args.kdf)
    identity = IdentityKey.generate()
    home.write_private(
        home.identity_file, identity.seal(passphrase, opslimit=opslimit, memlimit=memlimit)
    )
    if session.args.server:
        home.save_config(server=session.args.server.rstrip("/"))
    if session.args.json:
        _emit_json({"owner": identity.public_key.hex(), "home": str(home.path)})
    else:
        _print(f"identity key  {identity.public_key.hex()}")
        _print(f"sealed in     {home.identity_file}")
    return 0


def cmd_login(session: Session) -> int:
    from cosigner.multisig.client import MultisigClient

    client = MultisigClient(session.server())
    try:
        session.login(client)
    finally:
        client.close()
    if session.args.json:
        _emit_json({"owner": session.public_key().hex(), "expires_at": client.token_expires_at})
    else:
        _print(f"logged in to {client.base_url} as {session.public_key().hex()}")
        _print(f"token valid until {_when(client.token_expires_at)}")
    return 0


def _parse_key(text: str) -> bytes:
    text = text.strip().lower()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise CliError(f"an identity key is 64 hex characters, not {text[:20]!r}", 2)
    return key


def cmd_create_group(session: Session) -> int:
    me = session.public_key()
    owners = [me]
    for item in session.args.owner or ():
        for part in item.split(","):
            if part.strip():
                key = _parse_key(part)
                if key not in owners:
                    owners.append(key)
    client = session.client()
    group = client.create_group(owners, session.args.threshold)
    if session.args.json:
        _emit_json(group.to_dict())
    else:
        _print(describe_group(group))
        _print()
        _print("every owner now runs: cosigner multisig dkg --group " + group.group_id)
    return 0


def _keygen(session: Session, group_id: str, start_refresh: bool) -> int:
    from cosigner.multisig.client import run_keygen

    client = session.client()
    owner = session.owner()
    group = client.group(group_id)
    if start_refresh:
        from cosigner.multisig.client import MultisigApiError

        session.load_keys(group_id)
        if group.session is None:
            try:
                group = client.start_refresh(group_id)
                _progress(f"started refresh {group.session.name if group.session else '?'}")
            except MultisigApiError as exc:
                # Another owner started it a moment before: join theirs.
                if exc.code != "wrong_group_state":
                    raise
                group = client.group(group_id)
        if group.session is None or group.session.kind != "refresh":
            raise CliError(f"group {group_id} is {group.status}: no refresh is open for it")
    elif group.session is None or group.session.kind != "dkg":
        raise CliError(f"group {group_id} is {group.status}: no DKG is open for it")
    progress = None if session.args.quiet else _progress
    group = run_keygen(client, owner, group_id, progress=progress, timeout_s=session.args.timeout)
    path = session.save_keys(group_id)
    if session.args.json:
        _emit_json(group.to_dict())
    else:
        _print(describe_group(group))
        _print(f"key package sealed in {path}")
    return 0


def cmd_dkg(session: Session) -> int:
    return _keygen(session, session.args.group, start_refresh=False)


def cmd_refresh(session: Session) -> int:
    return _keygen(session, session.args.group, start_refresh=True)


def cmd_propose(session: Session) -> int:
    args = session.args
    client = session.client()
    ttl_ms = None if args.ttl is None else int(args.ttl * 1000)
    if args.intent:
        try:
            spec = json.loads(Path(args.intent).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read the intent file: {exc}", 2) from None
        if not isinstance(spec, dict):
            raise CliError("the intent file holds a JSON object", 2)
        kind = spec.get("kind", "intent")
        if kind == "intent":
            proposal = client.propose_intent(
                args.group,
                str(spec.get("chain")),
                str(spec.get("intentKind")),
                spec.get("payload") or {},
                ttl_ms=ttl_ms,
            )
        elif kind == "operation":
            from cosigner.multisig.client import unb64u

            proposal = client.propose_operation(
                args.group,
                str(spec.get("operationType")),
                unb64u(str(spec.get("operationData", ""))),
                nonce=None if spec.get("nonce") is None else int(spec["nonce"]),
                ttl_ms=ttl_ms,
            )
        elif kind == "transfer":
            proposal = client.propose_transfer(
                args.group,
                str(spec.get("to")),
                int(spec.get("amount", -1)),
                nonce=None if spec.get("nonce") is None else int(spec["nonce"]),
                ttl_ms=ttl_ms,
            )
        else:
            raise CliError("the intent file's kind is intent, operation or transfer", 2)
    else:
        if args.to is None or args.amount is None:
            raise CliError("propose needs --to and --amount, or --intent FILE", 2)
        proposal = client.propose_transfer(
            args.group, args.to, args.amount, nonce=args.nonce, ttl_ms=ttl_ms
        )
    if args.json:
        _emit_json(proposal.to_dict())
    else:
        _print(describe_proposal(proposal))
        _print()
        _print("owners approve with: cosigner multisig approve --proposal " + proposal.proposal_id)
    return 0


def cmd_approve(session: Session) -> int:
    from cosigner.multisig.client import approve

    args = session.args
    client = session.client()
    proposal = client.proposal(args.proposal)
    group = client.group(proposal.group_id)
    session.load_keys(group.group_id)
    owner = session.owner()
    review = owner.review(group, proposal)
    if not args.json:
        _print(describe_proposal(proposal))
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError("approve asks for confirmation: run it on a terminal or pass --yes", 2)
        answer = input(f"sign '{review.summary}'? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            _print("not approved")
            return 1
    progress = None if args.quiet else _progress
    final = approve(
        client,
        owner,
        proposal.proposal_id,
        group=group,
        progress=progress,
        timeout_s=args.timeout,
        wait_ready=not args.no_wait,
    )
    if args.json:
        _emit_json(final.to_dict())
    else:
        _print(f"{final.proposal_id}: {final.status}")
        if final.signature is not None:
            _print(f"signature {final.signature.hex()}")
    return 0


def cmd_status(session: Session) -> int:
    args = session.args
    client = session.client()
    if args.proposal:
        proposal = client.proposal(args.proposal)
        if args.json:
            _emit_json(proposal.to_dict())
            return 0
        _print(describe_proposal(proposal))
        events = client.proposal_events(proposal.proposal_id, limit=500)
        if events:
            _print()
            _print(
                table(
                    ("AT", "EVENT", "OWNER", "DETAIL"),
                    (
                        (
                            _when(e.get("at")),
                            e.get("type"),
                            _short(
                                e.get("data", {}).get("owner") or e.get("data", {}).get("proposer")
                            ),
                            _event_detail(e),
                        )
                        for e in events
                    ),
                )
            )
        return 0
    if args.group:
        group = client.group(args.group)
        proposals = client.proposals(args.group)
        if args.json:
            _emit_json({"group": group.to_dict(), "proposals": [p.to_dict() for p in proposals]})
            return 0
        _print(describe_group(group))
        _print()
        _print(proposal_rows(proposals, group.threshold) if proposals else "no proposals yet")
        return 0
    groups = client.groups()
    if args.json:
        _emit_json({"groups": [g.to_dict() for g in groups]})
        return 0
    _print(f"owner {session.public_key().hex()} on {client.base_url}")
    _print(group_rows(groups) if groups else "no groups yet")
    return 0


def _event_detail(event: Mapping[str, Any]) -> str:
    data = event.get("data", {})
    kind = event.get("type")
    if kind == "dkg_progress":
        step = f"{data.get('session')} {data.get('step')}"
        return f"{step} {data.get('received')}/{data.get('expected')}"
    if kind in ("commitment_added", "share_added"):
        return f"{data.get('received')}/{data.get('threshold')} (attempt {data.get('attempt')})"
    if kind == "proposal_created":
        return str(data.get("summary", ""))
    if kind == "proposal_ready":
        return f"signature {str(data.get('signature', ''))[:32]}..."
    if kind in ("dkg_failed", "refresh_failed"):
        culprits = ", ".join(data.get("culprits", []))
        return f"{data.get('code')}: culprits {culprits}"
    if kind in ("proposal_cancelled", "proposal_failed"):
        return str(data.get("reason", ""))
    if kind == "proposal_executed":
        return str(data.get("execution_ref") or "")
    if kind == "group_active":
        return f"group key {str(data.get('group_public_key', ''))[:32]}..."
    return ""


def cmd_watch(session: Session) -> int:
    args = session.args
    client = session.client()
    seen = 0
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    socket = client.connect_events(group_id=args.group)
    try:
        while args.count is None or seen < args.count:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            try:
                message = socket.recv(timeout=remaining)
            except TimeoutError:
                break
            event = json.loads(message)
            if event.get("type") in ("subscribed", "pong"):
                if event.get("type") == "subscribed":
                    _progress(f"watching events as {event.get('data', {}).get('role')}")
                continue
            seen += 1
            if args.json:
                _emit_json(event)
            else:
                _print(
                    f"{_when(event.get('at'))}  {event.get('type', ''):<18} "
                    f"{event.get('groupId', '')}  {event.get('proposalId', '') or ''}  "
                    f"{_event_detail(event)}".rstrip()
                )
    finally:
        socket.close()
    return 0


# -- the parser --------------------------------------------------------------------------------

Handler = Callable[[Session], int]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _u64(text: str) -> int:
    if not text.isdigit() or int(text) > 2**64 - 1:
        raise argparse.ArgumentTypeError("must be a whole number from 0 to 2^64 - 1")
    return int(text)


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``multisig`` and its commands under the ``cosigner`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", help=f"the owner's directory (default ${HOME_ENV} or ~/.cosigner-multisig)"
    )
    common.add_argument(
        "--server", help=f"server URL (default ${SERVER_ENV}, the saved one, or {DEFAULT_SERVER})"
    )
    common.add_argument(
        "--passphrase-file", help=f"read the passphrase from this file (default ${PASSPHRASE_ENV})"
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--quiet", action="store_true", help="no progress lines")

    parser: argparse.ArgumentParser = commands.add_parser(
        "multisig",
        help="m-of-n multisig owner: identity, groups, DKG, proposals, approvals",
        description="The owner's side of an m-of-n FROST(Ed25519) multisig on a cosigner server.",
    )
    sub = parser.add_subparsers(dest="multisig_command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        p.set_defaults(handler=_run(handler))
        return p

    p = command("init", cmd_init, "create and seal this owner's identity key")
    p.add_argument(
        "--kdf",
        choices=KDF_PROFILES,
        default="moderate",
        help="Argon2id cost (default %(default)s)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing identity")

    command("login", cmd_login, "log in to the server with the identity key")

    p = command("create-group", cmd_create_group, "create a group of this owner and others")
    p.add_argument(
        "--owner", action="append", help="another owner's identity key (repeat, or comma-separate)"
    )
    p.add_argument("--threshold", type=int, required=True, help="signatures needed (m)")

    p = command("dkg", cmd_dkg, "run the group's DKG with the other owners")
    p.add_argument("--group", required=True)
    p.add_argument(
        "--timeout", type=_positive_float, default=600.0, help="seconds (default %(default)s)"
    )

    p = command("propose", cmd_propose, "propose a transfer or an intent for the group to sign")
    p.add_argument("--group", required=True)
    p.add_argument("--to", help="transfer recipient")
    p.add_argument("--amount", type=_u64, help="transfer amount")
    p.add_argument("--nonce", type=_u64, help="nonce (default: the group's next)")
    p.add_argument("--intent", help="a JSON file: {kind: intent|operation|transfer, ...}")
    p.add_argument("--ttl", type=_positive_float, help="seconds until the proposal expires")

    p = command("approve", cmd_approve, "review, commit, wait for the signing package, sign")
    p.add_argument("--proposal", required=True)
    p.add_argument("--yes", action="store_true", help="sign without asking")
    p.add_argument("--no-wait", action="store_true", help="return once this owner's share is in")
    p.add_argument(
        "--timeout", type=_positive_float, default=600.0, help="seconds (default %(default)s)"
    )

    p = command("status", cmd_status, "tables of groups and proposals")
    p.add_argument("--group")
    p.add_argument("--proposal")

    p = command("watch", cmd_watch, "print events of this owner's groups as they happen")
    p.add_argument("--group")
    p.add_argument("--count", type=int, help="stop after this many events")
    p.add_argument("--timeout", type=_positive_float, help="stop after this many seconds")

    p = command("refresh", cmd_refresh, "start (or join) a share refresh and run it")
    p.add_argument("--group", required=True)
    p.add_argument(
        "--timeout", type=_positive_float, default=600.0, help="seconds (default %(default)s)"
    )
    return parser


def _run(handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import httpx
        from websockets.exceptions import WebSocketException

        from cosigner.errors import CosignerError
        from cosigner.multisig.client import keygen_failure

        name = f"cosigner multisig {args.multisig_command}"
        session = Session(args)
        try:
            return handler(session)
        except CliError as exc:
            print(f"{name}: {exc.message}", file=sys.stderr)
            return exc.status
        except CosignerError as exc:
            failure = keygen_failure(exc)
            if failure is not None:
                code, culprits = failure
                print(f"{name}: the key generation failed: {code}: {exc.message}", file=sys.stderr)
                for key in culprits:
                    print(f"culprit {key.hex()}", file=sys.stderr)
                return 1
            status = getattr(exc, "status", None)
            where = f" ({status})" if status else ""
            print(f"{name}: {exc.code}{where}: {exc.message}", file=sys.stderr)
            for key in getattr(exc, "culprit_keys", ()):
                print(f"culprit {key.hex()}", file=sys.stderr)
            return 1
        except (OSError, httpx.HTTPError, WebSocketException) as exc:
            print(f"{name}: cannot reach the server: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        finally:
            session.close()

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cosigner.multisig.cli COMMAND ...`` (the same as ``cosigner multisig``)."""
    parser = argparse.ArgumentParser(prog="cosigner")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["multisig", *(argv if argv is not None else sys.argv[1:])])
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Home", "Session", "add_parser", "describe_group", "describe_proposal", "main", "table"]
