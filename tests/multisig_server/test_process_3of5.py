"""Five owner processes, 3-of-5, across two ``cosigner serve`` instances sharing PostgreSQL.

Owners talk to the two instances in turn, so every round mixes them. Three
WebSocket clients listen: the dashboard on each instance and one owner on
the instance it does not otherwise use; each must see every event of the
group exactly once, whichever instance raised it (PostgreSQL LISTEN/NOTIFY).
The flow, the refusals and the database scan are those of the 2-of-3 test;
the scan reads every ``cosigner_multisig_*`` table of the namespace as text.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from cosigner import frost
from cosigner.multisig import (
    ExecuteWithThresholdSignature,
    ReferenceLedger,
    ThresholdMessage,
    Transfer,
)
from cosigner.multisig.client import MultisigApiError, MultisigClient
from cosigner.multisig.ledger import InvalidNonce
from cosigner.multisig.store_postgres import TABLES

from .process_support import (
    DASHBOARD_TOKEN,
    EventListener,
    envelope_shares,
    find_any,
    make_owners,
    processes,
    run_parallel,
    scalar_encodings,
    start_server,
)

EXPECTED = (
    "group_created",
    "dkg_progress",
    "group_active",
    "proposal_created",
    "commitment_added",
    "share_added",
    "proposal_ready",
    "proposal_executed",
    "proposal_cancelled",
)


def _dump(url: str, namespace: str) -> tuple[bytes, list[bytes]]:
    """Every multisig row of the namespace as text, and the stored part-two envelopes."""
    import psycopg

    with psycopg.connect(url) as conn:
        text = []
        for table in (*TABLES, "cosigner_multisig_events"):
            rows = conn.execute(
                f"SELECT t::text FROM {table} t WHERE namespace = %s".encode(), (namespace,)
            ).fetchall()
            text.extend(r[0] for r in rows)
        envelopes = conn.execute(
            b"SELECT body FROM cosigner_multisig_keygen_messages "
            b"WHERE namespace = %s AND kind = 'round2'",
            (namespace,),
        ).fetchall()
    return "\n".join(text).encode(), [bytes(r[0]) for r in envelopes]


def _wait_for_listeners(url: str, namespace: str, count: int) -> None:
    """Until ``count`` server instances LISTEN on the namespace's channel."""
    import psycopg

    deadline = time.monotonic() + 15
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            (found,) = conn.execute(
                b"SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s",
                (f"LISTEN %{namespace}%",),
            ).fetchone() or (0,)
            if found >= count:
                return
            time.sleep(0.05)
    raise AssertionError("the instances did not LISTEN in time")


def _journal(url: str, group_id: str, expected: int) -> list[dict[str, object]]:
    """The group's event journal, once it holds at least ``expected`` events."""
    headers = {"Authorization": f"Bearer {DASHBOARD_TOKEN}"}
    deadline = time.monotonic() + 10
    while True:
        found = httpx.get(
            f"{url}/multisig/groups/{group_id}/events",
            params={"limit": 500},
            headers=headers,
            timeout=10,
        ).json()["events"]
        if len(found) >= expected or time.monotonic() > deadline:
            return list(found)
        time.sleep(0.05)


def test_five_owners_two_instances_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    namespace = f"ms-{uuid.uuid4().hex[:12]}"
    store_url = f"{postgres_url}&namespace={namespace}"
    with processes() as procs:
        a = start_server(procs, tmp_path, store_url, "instance-a")
        b = start_server(procs, tmp_path, store_url, "instance-b")
        _wait_for_listeners(postgres_url, namespace, 2)
        dashboards = [
            EventListener(a.url, DASHBOARD_TOKEN, "dashboard@a"),
            EventListener(b.url, DASHBOARD_TOKEN, "dashboard@b"),
        ]
        owners = make_owners(procs, tmp_path, [a.url, b.url], 5)
        # Owner 1 works through instance b; its event stream comes from instance a.
        watcher_client = MultisigClient(a.url)
        watcher_client.login(owners[1].identity())
        watcher = EventListener(a.url, watcher_client.token or "", "owner1@a")
        assert watcher.role == "owner" and {d.role for d in dashboards} == {"dashboard"}

        created = owners[0].ok_json(
            "create-group",
            *(arg for o in owners[1:] for arg in ("--owner", o.key.hex())),
            "--threshold",
            "3",
        )
        group_id = created["group_id"]

        for owner, done in zip(
            owners, run_parallel(owners, "dkg", "--group", group_id), strict=True
        ):
            assert done.returncode == 0, f"{owner.name}: {done.stderr}"

        proposer = owners[1]
        proposal = proposer.ok_json("propose", "--group", group_id, "--to", "bob", "--amount", "77")
        proposal_id = proposal["proposal_id"]
        signers = [owners[0], owners[2], owners[3]]  # a, a, b
        for done in run_parallel(signers, "approve", "--proposal", proposal_id, "--yes"):
            assert done.returncode == 0, done.stderr
            assert f"{proposal_id}: ready" in done.stdout

        reporter = MultisigClient(b.url)
        reporter.login(owners[3].identity())
        group = reporter.group(group_id)
        ready = reporter.proposal(proposal_id)
        assert group.status == "active" and group.group_public_key is not None
        assert ready.status == "ready" and ready.signature is not None
        ledger = ReferenceLedger(
            [k.hex() for k in group.owner_keys], 3, group.group_public_key, balance=500
        )
        transfer = Transfer.from_bytes(ThresholdMessage.from_bytes(ready.message).operation_data)
        operation = ExecuteWithThresholdSignature(
            transfer.to, transfer.amount, 0, ready.signature, ready.message
        )
        ledger.execute(operation)
        assert ledger.balances == {"bob": 77}
        assert reporter.report_execution(proposal_id, "ledger nonce 0").status == "executed"

        # The fifth owner comes too late, through instance a.
        late = owners[4].run("approve", "--proposal", proposal_id, "--yes")
        assert late.returncode == 1 and "proposal_finished" in late.stderr
        late_client = MultisigClient(a.url)
        late_client.login(owners[4].identity())
        _, commitments = frost.commit(owners[4].key_package(group_id))
        with pytest.raises(MultisigApiError) as refused:
            late_client.submit_commitment(proposal_id, commitments.to_bytes())
        assert refused.value.code == "proposal_finished" and refused.value.status == 409

        # Replays, on the instance that did not record the execution.
        with pytest.raises(MultisigApiError) as again:
            late_client.report_execution(proposal_id)
        assert again.value.code == "proposal_finished"
        replay = owners[4].run(
            "propose", "--group", group_id, "--to", "bob", "--amount", "77", "--nonce", "0"
        )
        assert replay.returncode == 1 and "nonce_already_used (409)" in replay.stderr
        with pytest.raises(InvalidNonce):
            ledger.execute(operation)

        # A proposal withdrawn by its proposer.
        withdrawn = late_client.propose_transfer(group_id, "carol", 5)
        assert withdrawn.nonce == 1
        assert late_client.cancel(withdrawn.proposal_id).status == "cancelled"

        # Every listener saw every event of the group, once, from both instances.
        journal = _journal(a.url, group_id, expected=40)
        ids = {str(e["id"]) for e in journal}
        types = {str(e["type"]) for e in journal}
        for kind in EXPECTED:
            assert kind in types, kind
        for listener in (*dashboards, watcher):
            missing = listener.wait_for(ids)
            assert not missing, (listener.name, len(missing))
            group_events = [e for e in listener.events if e["groupId"] == group_id]
            assert len(group_events) == len({e["id"] for e in group_events}), listener.name
            assert {e["type"] for e in group_events} >= set(EXPECTED)
        # The owner's stream carries its group's events only; the dashboards see every group.
        assert {e["groupId"] for e in watcher.events} == {group_id}

        # No secret share in any multisig table.
        dump, envelopes = _dump(postgres_url, namespace)
        assert len(envelopes) == 20
        identities = {o.key: o.identity() for o in owners}
        secrets_ = [o.key_package(group_id).signing_share for o in owners]
        secrets_ += envelope_shares(envelopes, identities)
        assert len(secrets_) == 25
        assert group.group_public_key.hex().encode() in dump
        for value in secrets_:
            assert not find_any(dump, scalar_encodings(value))

        for listener in (*dashboards, watcher):
            listener.close()
        for client in (watcher_client, reporter, late_client):
            client.close()
