"""The MultisigStore contract, run against the memory and the SQLite backends.

Versioned records with compare-and-swap, the paged listing of every group,
insert-if-absent messages and commitment claims, single-use challenges,
rollback of a failed transaction, and a second SQLite connection on the
same file seeing the same data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cosigner.multisig import MemoryMultisigStore, MultisigStore, SQLiteMultisigStore
from cosigner.multisig.errors import StaleState
from cosigner.multisig.identity import LoginChallenge
from cosigner.multisig.records import Group, KeygenMessage, KeygenSession, OwnerInfo, Proposal

KEYS = [bytes([i]) * 32 for i in range(1, 4)]


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MultisigStore]:
    s: MultisigStore = (
        MemoryMultisigStore()
        if request.param == "memory"
        else SQLiteMultisigStore(tmp_path / "store.sqlite")
    )
    yield s
    s.close()


def _group(group_id: str = "g_1") -> Group:
    return Group(
        group_id=group_id,
        threshold=2,
        owners=tuple(OwnerInfo(k, i + 1) for i, k in enumerate(KEYS)),
        created_by=KEYS[0],
        created_at=1000,
        status="dkg",
        session=KeygenSession("dkg-1", "dkg", 1, "round1", KEYS[0], 1000),
    )


def _proposal(proposal_id: str = "p_1", group_id: str = "g_1", expires_at: int = 5000) -> Proposal:
    return Proposal(
        proposal_id=proposal_id,
        group_id=group_id,
        proposer=KEYS[0],
        kind="operation",
        message=b"\x00" * 8 + b"transfer" + b"\x00" * 8,
        ui_model={
            "chain": "multisig",
            "kind": "transfer",
            "summary": "s",
            "fields": {},
            "display": {},
        },
        created_at=1000,
        expires_at=expires_at,
        key_epoch=1,
        nonce=2**64 - 1,
        operation_type="transfer",
    )


def test_protocol_is_implemented(store: MultisigStore) -> None:
    assert isinstance(store, MultisigStore)


def test_group_compare_and_swap(store: MultisigStore) -> None:
    inserted = store.insert_group(_group())
    assert inserted.version == 1
    assert store.get_group("g_1") == inserted
    assert store.get_group("missing") is None
    with pytest.raises(StaleState):
        store.insert_group(_group())
    updated = store.update_group(replace(inserted, status="active", next_nonce=2**64 - 1))
    assert updated.version == 2 and store.get_group("g_1") == updated
    with pytest.raises(StaleState):
        store.update_group(replace(inserted, status="failed"))  # read at version 1
    assert store.get_group("g_1") == updated
    assert [g.group_id for g in store.groups_for_owner(KEYS[1])] == ["g_1"]
    assert store.groups_for_owner(b"\x09" * 32) == []


def test_list_groups_pages_by_id(store: MultisigStore) -> None:
    assert store.list_groups(10) == []
    # Code point order on every backend: digits < upper case < lower case < non-ASCII,
    # "10" before "9"; created_at plays no part.
    ids = ["g_a", "g_\u00e9", "g_9", "g_Z", "g_10", "g_b"]
    for i, gid in enumerate(ids):
        store.insert_group(replace(_group(gid), created_at=1000 - i))
    ordered = ["g_10", "g_9", "g_Z", "g_a", "g_b", "g_\u00e9"]
    assert [g.group_id for g in store.list_groups(100)] == ordered
    assert store.list_groups(1) == [store.get_group("g_10")]
    walked, after = [], None
    while page := store.list_groups(4, after):
        walked += [g.group_id for g in page]
        after = page[-1].group_id
    assert walked == ordered
    assert [g.group_id for g in store.list_groups(2, "g_9")] == ["g_Z", "g_a"]
    assert [g.group_id for g in store.list_groups(9, "g_Y")] == ["g_Z", "g_a", "g_b", "g_\u00e9"]
    assert store.list_groups(9, "g_\u00e9") == []
    updated = store.update_group(replace(store.get_group("g_a") or _group(), status="active"))
    assert store.list_groups(1, "g_Z") == [updated]  # the current version
    with store.transaction():  # a transaction sees its own inserts
        store.insert_group(_group("g_B"))
        assert [g.group_id for g in store.list_groups(2, "g_9")] == ["g_B", "g_Z"]
    with pytest.raises(RuntimeError), store.transaction():
        store.insert_group(_group("g_c"))
        raise RuntimeError("boom")
    assert [g.group_id for g in store.list_groups(100, "g_a")] == ["g_b", "g_\u00e9"]
    for limit in (0, -1):
        with pytest.raises(ValueError):
            store.list_groups(limit)


def test_keygen_messages_are_insert_if_absent(store: MultisigStore) -> None:
    first = KeygenMessage("g_1", "dkg-1", "round1", KEYS[0], b"", b"pkg", b"sig", 10)
    assert store.add_keygen_message(first)
    assert not store.add_keygen_message(replace(first, body=b"other"))
    second = KeygenMessage("g_1", "dkg-1", "round2", KEYS[0], KEYS[1], b"\x00\xff", b"", 11)
    assert store.add_keygen_message(second)
    assert store.add_keygen_message(replace(second, recipient=KEYS[2]))
    assert store.keygen_messages("g_1", "dkg-1", "round1") == [first]
    assert len(store.keygen_messages("g_1", "dkg-1", "round2")) == 2
    assert store.keygen_messages("g_1", "refresh-2", "round1") == []


def test_proposals(store: MultisigStore) -> None:
    p = store.insert_proposal(_proposal())
    assert store.get_proposal("p_1") == p and p.nonce == 2**64 - 1
    store.insert_proposal(_proposal("p_2", expires_at=9000))
    store.insert_proposal(_proposal("p_3", group_id="g_2"))
    with pytest.raises(StaleState):
        store.insert_proposal(_proposal())
    signing = store.update_proposal(replace(p, status="signing", commitments=((KEYS[0], b"c"),)))
    assert signing.version == 2 and signing.commitments == ((KEYS[0], b"c"),)
    with pytest.raises(StaleState):
        store.update_proposal(replace(p, status="cancelled"))
    assert [x.proposal_id for x in store.list_proposals("g_1")] == ["p_1", "p_2"]
    assert [x.proposal_id for x in store.list_proposals("g_1", ["signing"])] == ["p_1"]
    assert store.list_proposals("g_1", []) == []
    assert [x.proposal_id for x in store.expiring_proposals(5000)] == ["p_1", "p_3"]
    store.update_proposal(replace(signing, status="ready"))
    assert [x.proposal_id for x in store.expiring_proposals(9000)] == ["p_3", "p_2"]  # by expiry


def test_commitment_claims_and_challenges(store: MultisigStore) -> None:
    assert store.claim_commitment("g_1", b"d" * 32, "p_1")
    assert not store.claim_commitment("g_1", b"d" * 32, "p_2")
    assert not store.claim_commitment("g_2", b"d" * 32, "p_3")  # nor in another group
    assert store.claim_commitment("g_2", b"e" * 32, "p_3")
    challenge = LoginChallenge("c_1", b"n" * 32, "aud", KEYS[0], 100, 200)
    store.put_challenge(challenge)
    with pytest.raises(StaleState):
        store.put_challenge(challenge)
    assert store.take_challenge("c_1") == challenge
    assert store.take_challenge("c_1") is None
    store.put_challenge(replace(challenge, challenge_id="c_2", expires_at=150))
    store.put_challenge(replace(challenge, challenge_id="c_3", expires_at=300))
    assert store.purge_challenges(200) == 1
    assert store.take_challenge("c_2") is None and store.take_challenge("c_3") is not None


def test_failed_transaction_rolls_back_everything(store: MultisigStore) -> None:
    group = store.insert_group(_group())
    with pytest.raises(RuntimeError), store.transaction():
        store.update_group(replace(group, status="active"))
        store.insert_proposal(_proposal())
        assert store.claim_commitment("g_1", b"x" * 32, "p_1")
        with store.transaction():  # nested: joins the outer transaction
            store.add_keygen_message(
                KeygenMessage("g_1", "dkg-1", "echo", KEYS[0], b"", b"h", b"s", 1)
            )
        raise RuntimeError("boom")
    assert store.get_group("g_1") == group
    assert store.get_proposal("p_1") is None
    assert store.claim_commitment("g_1", b"x" * 32, "p_1")
    assert store.keygen_messages("g_1", "dkg-1", "echo") == []


def test_sqlite_file_is_shared_between_connections(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    one, two = SQLiteMultisigStore(path), SQLiteMultisigStore(path)
    group = one.insert_group(_group())
    assert two.get_group("g_1") == group
    two.update_group(replace(group, status="active"))
    with pytest.raises(StaleState):
        one.update_group(replace(group, status="failed"))
    assert one.claim_commitment("g_1", b"z" * 32, "p")
    assert not two.claim_commitment("g_1", b"z" * 32, "p")
    one.close()
    two.close()
