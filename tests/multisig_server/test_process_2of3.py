"""Three owner processes (the CLI) against one ``cosigner serve`` with its SQLite store.

* ``init``, ``login``, ``create-group``, ``dkg`` (all three at once, each
  waiting for the others), ``propose``, ``approve`` by two owners at once,
  ``status`` and ``watch``;
* the reference ledger executes the signed transfer; the third owner's late
  approval is refused; the executed operation replayed is refused by the
  server (reported again, proposed again at its nonce) and by the ledger;
* the server's database (the SQLite file and its WAL, and the event journal)
  holds none of the secret shares: every final share and every part-two
  share, in every encoding, is looked for in the bytes;
* a corrupted DKG share: a dishonest owner (a Python client in this process)
  sends one owner a share that does not match its commitment; that owner's
  ``dkg`` complains, the server checks the complaint, and every owner is told
  the DKG failed with the dishonest owner named.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from cosigner import frost
from cosigner.multisig import (
    ExecuteWithThresholdSignature,
    IdentityKey,
    Owner,
    ReferenceLedger,
    ThresholdMessage,
    Transfer,
)
from cosigner.multisig.client import MultisigApiError, MultisigClient, run_keygen
from cosigner.multisig.e2e import Envelope, seal
from cosigner.multisig.errors import BadKeygenShare
from cosigner.multisig.ledger import InvalidNonce
from cosigner.multisig.transcript import envelope_round

from .process_support import (
    SUITE,
    CliOwner,
    EventListener,
    envelope_shares,
    find_any,
    finish,
    make_owners,
    processes,
    run_parallel,
    scalar_encodings,
    start_server,
)


def _stored_envelopes(db: Path, group_id: str) -> list[bytes]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT body FROM multisig_keygen_messages WHERE group_id = ? AND kind = 'round2'",
            (group_id,),
        ).fetchall()
    return [bytes(r[0]) for r in rows]


def _database_bytes(db: Path) -> bytes:
    """Every file of the SQLite database (main file, WAL, the event journal), concatenated."""
    parts = []
    for path in sorted(db.parent.iterdir()):
        if path.name.startswith(db.stem) and path.is_file():
            parts.append(path.read_bytes())
    return b"".join(parts)


def test_three_owner_processes_two_of_three(tmp_path: Path) -> None:
    db = tmp_path / "server" / "cosigner.db"
    db.parent.mkdir()
    with processes() as procs:
        server = start_server(procs, tmp_path, f"sqlite:///{db}")
        owners = make_owners(procs, tmp_path, [server.url], 3)
        one, two, three = owners
        for done in run_parallel(owners, "login"):
            assert done.returncode == 0 and "logged in" in done.stdout, done.stderr

        # Owner three watches every event of its groups from the start.
        watcher = three.start("watch", "--json")
        assert watcher.stderr is not None
        assert "watching events as owner" in watcher.stderr.readline()

        created = one.ok_json(
            "create-group", "--owner", two.key.hex(), "--owner", three.key.hex(), "--threshold", "2"
        )
        group_id = created["group_id"]
        assert created["status"] == "dkg"

        dkg = run_parallel(owners, "dkg", "--group", group_id)
        for owner, done in zip(owners, dkg, strict=True):
            assert done.returncode == 0, f"{owner.name}: {done.stderr}"
            assert "complete" in done.stderr  # progress was shown while waiting
        group_key = {
            line.split()[2]
            for d in dkg
            for line in d.stdout.splitlines()
            if line.startswith("group key")
        }
        assert len(group_key) == 1

        status = one.ok("status").stdout
        assert group_id in status and "2-of-3" in status and "active" in status

        proposal = two.ok_json("propose", "--group", group_id, "--to", "alice", "--amount", "1234")
        proposal_id = proposal["proposal_id"]
        assert proposal["nonce"] == "0" and proposal["status"] == "collecting"

        approvals = run_parallel([one, two], "approve", "--proposal", proposal_id, "--yes")
        for done in approvals:
            assert done.returncode == 0, done.stderr
            assert "transfer 1234 to alice" in done.stdout  # the review shows the ui_model
            assert f"{proposal_id}: ready" in done.stdout

        # The reference ledger executes the transfer with the group's signature.
        client = MultisigClient(server.url)
        client.login(one.identity())
        group = client.group(group_id)
        ready = client.proposal(proposal_id)
        assert ready.status == "ready" and ready.signature is not None
        assert group.group_public_key is not None and group.group_public_key.hex() in group_key
        ledger = ReferenceLedger(
            [k.hex() for k in group.owner_keys], 2, group.group_public_key, balance=10_000
        )
        transfer = Transfer.from_bytes(ThresholdMessage.from_bytes(ready.message).operation_data)
        operation = ExecuteWithThresholdSignature(
            transfer.to, transfer.amount, 0, ready.signature, ready.message
        )
        receipt = ledger.execute(operation)
        assert receipt.amount == 1234 and ledger.balances == {"alice": 1234}
        executed = client.report_execution(proposal_id, "ledger nonce 0")
        assert executed.status == "executed"

        # The third owner's late approval is refused.
        late = three.run("approve", "--proposal", proposal_id, "--yes")
        assert late.returncode == 1
        assert "proposal_finished" in late.stderr and "too late" in late.stderr
        # ... and the server refuses its commitment outright.
        late_client = MultisigClient(server.url)
        late_client.login(three.identity())
        _, commitments = frost.commit(three.key_package(group_id))
        with pytest.raises(MultisigApiError) as refused:
            late_client.submit_commitment(proposal_id, commitments.to_bytes())
        assert refused.value.code == "proposal_finished" and refused.value.status == 409
        late_client.close()

        # Replays: refused by the server and by the ledger.
        with pytest.raises(MultisigApiError) as again:
            client.report_execution(proposal_id, "again")
        assert again.value.code == "proposal_finished" and again.value.status == 409
        replayed = three.run(
            "propose", "--group", group_id, "--to", "alice", "--amount", "1234", "--nonce", "0"
        )
        assert replayed.returncode == 1 and "nonce_already_used (409)" in replayed.stderr
        with pytest.raises(InvalidNonce):
            ledger.execute(operation)
        assert ledger.balances == {"alice": 1234} and ledger.nonce == 1

        table = three.ok("status", "--group", group_id).stdout
        assert proposal_id in table and "executed" in table
        history = three.ok("status", "--proposal", proposal_id).stdout
        for kind in ("proposal_created", "commitment_added", "share_added", "proposal_ready"):
            assert kind in history

        # No secret share is in the server's database, in any encoding.
        identities = {o.key: o.identity() for o in owners}
        envelopes = _stored_envelopes(db, group_id)
        assert len(envelopes) == 6
        secrets_ = [o.key_package(group_id).signing_share for o in owners]
        secrets_ += envelope_shares(envelopes, identities)
        stored = _database_bytes(db)
        assert len(stored) > 10_000
        for value in secrets_:
            assert not find_any(stored, scalar_encodings(value))
        # ... while the public values are there (the scan looks in the right place).
        assert group.group_public_key in stored or group.group_public_key.hex().encode() in stored

        # A share refresh: the same group key, new shares, and they sign.
        refreshed = run_parallel(owners, "refresh", "--group", group_id, "--json")
        for done in refreshed:
            assert done.returncode == 0, done.stderr
        after = client.group(group_id)
        assert after.epoch == 2 and after.group_public_key == group.group_public_key
        assert all(o.key_package(group_id).signing_share not in secrets_ for o in owners)
        second = one.ok_json("propose", "--group", group_id, "--to", "bob", "--amount", "5")
        assert second["nonce"] == "1"
        for done in run_parallel(
            [two, three], "approve", "--proposal", second["proposal_id"], "--yes"
        ):
            assert done.returncode == 0, done.stderr
        signed = client.proposal(second["proposal_id"])
        assert signed.signature is not None and signed.key_epoch == 2
        transfer = Transfer.from_bytes(ThresholdMessage.from_bytes(signed.message).operation_data)
        ledger.execute(
            ExecuteWithThresholdSignature(transfer.to, 5, 1, signed.signature, signed.message)
        )
        assert ledger.balances == {"alice": 1234, "bob": 5}

        # The watcher saw the whole story of its group.
        watcher.terminate()
        out = finish(watcher).stdout
        seen = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        types = [e["type"] for e in seen if e.get("groupId") == group_id]
        for kind in (
            "group_created",
            "dkg_progress",
            "group_active",
            "proposal_created",
            "commitment_added",
            "share_added",
            "proposal_ready",
            "proposal_executed",
            "refresh_started",
            "refresh_completed",
        ):
            assert kind in types, (kind, types)
        client.close()

        _corrupted_share_is_named(server.url, one, two, tmp_path)


def _corrupted_share_is_named(url: str, one: CliOwner, two: CliOwner, tmp_path: Path) -> None:
    """A dishonest owner corrupts the share it sends owner two; the server names it."""
    cheat_identity = IdentityKey.generate()
    cheat = Owner(cheat_identity)
    client = MultisigClient(url)
    client.login(cheat_identity)
    listener = EventListener(url, client.token or "", "cheat")
    group = client.create_group([cheat_identity.public_key, one.key, two.key], 2)
    group_id = group.group_id

    def corrupt(envelopes: list[bytes]) -> list[bytes]:
        out = []
        for raw in envelopes:
            envelope = Envelope.from_bytes(raw)
            if envelope.recipient == two.key:
                bad = frost.Round2Package(SUITE, 12345).to_bytes()
                raw = seal(
                    cheat_identity,
                    two.key,
                    group_id,
                    envelope_round("dkg-1"),
                    bad,
                ).to_bytes()
            out.append(raw)
        return out

    outcome: list[BaseException] = []

    def play() -> None:
        try:
            run_keygen(client, cheat, group_id, tamper_round2=corrupt, timeout_s=60)
        except BaseException as exc:
            outcome.append(exc)

    cheater = threading.Thread(target=play)
    started = [one.start("dkg", "--group", group_id), two.start("dkg", "--group", group_id)]
    cheater.start()
    results = [finish(p) for p in started]
    cheater.join(timeout=60)

    culprit = f"culprit {cheat_identity.public_key.hex()}"
    for done in results:
        assert done.returncode == 1, done.stdout
        assert "dkg_bad_share" in done.stderr and culprit in done.stderr, done.stderr
    assert "is bad" in results[1].stderr  # owner two found the bad share and complained
    assert len(outcome) == 1
    error = outcome[0]
    assert isinstance(error, (MultisigApiError, BadKeygenShare))
    assert cheat_identity.public_key in error.culprit_keys
    failed = client.group(group_id)
    assert failed.status == "failed" and failed.failure is not None
    assert [o.key for o in failed.failure.culprits] == [cheat_identity.public_key]
    assert failed.failure.reported_by == two.key
    assert listener.wait_for(set(), timeout=0) == set()
    deadline_types = {"dkg_failed"}
    for _ in range(100):
        if deadline_types <= set(listener.types()):
            break
        threading.Event().wait(0.05)
    failure_events = [e for e in listener.events if e["type"] == "dkg_failed"]
    assert failure_events and failure_events[0]["data"]["culprits"] == [
        cheat_identity.public_key.hex()
    ]
    listener.close()
    client.close()
    assert not (tmp_path / "owner1" / "keys" / f"{group_id}.json").exists()
