"""The MultisigStore contract (tests/multisig/test_store.py) on PostgreSQL and Redis.

The same contract tests as the memory and SQLite backends, over real
connections, plus what only a shared store has to show: two instances on one
database see each other's writes (groups listed too) and conflict on the
same version, and a coordinator on each completes one DKG with owners'
requests split between them. Also: Redis indexes groups stored before the
listing existed, and PostgreSQL pages groups from an index.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from cosigner.multisig import Coordinator, MultisigStore
from cosigner.multisig.backends import open_multisig_store
from cosigner.multisig.errors import StaleState
from multisig import test_store as contract
from multisig.helpers import make_harness

BACKENDS = ("postgresql", "redis")

Opener = Callable[[], MultisigStore]


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest) -> Iterator[Opener]:
    if request.param == "postgresql":
        base = request.getfixturevalue("postgres_url")
        url = f"{base}&namespace=t-{uuid.uuid4().hex[:12]}"
    else:
        url = request.getfixturevalue("redis_url")
    opened: list[MultisigStore] = []

    def open_one() -> MultisigStore:
        store = open_multisig_store(url)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> MultisigStore:
    return opener()


test_protocol_is_implemented = contract.test_protocol_is_implemented
test_group_compare_and_swap = contract.test_group_compare_and_swap
test_list_groups_pages_by_id = contract.test_list_groups_pages_by_id
test_keygen_messages_are_insert_if_absent = contract.test_keygen_messages_are_insert_if_absent
test_proposals = contract.test_proposals
test_commitment_claims_and_challenges = contract.test_commitment_claims_and_challenges
test_failed_transaction_rolls_back_everything = (
    contract.test_failed_transaction_rolls_back_everything
)


def test_two_instances_share_one_database(opener: Opener) -> None:
    one, two = opener(), opener()
    group = one.insert_group(contract._group())
    assert two.get_group("g_1") == group
    two.update_group(replace(group, status="active"))
    with pytest.raises(StaleState):
        one.update_group(replace(group, status="failed"))
    assert one.claim_commitment("g_1", b"z" * 32, "p")
    assert not two.claim_commitment("g_1", b"z" * 32, "p")


def test_every_instance_lists_every_group(opener: Opener) -> None:
    one, two = opener(), opener()
    for gid in ("g_2", "g_1", "g_3"):
        (one if gid == "g_2" else two).insert_group(contract._group(gid))
    for store in (one, two):
        assert [g.group_id for g in store.list_groups(2)] == ["g_1", "g_2"]
        assert [g.group_id for g in store.list_groups(2, "g_2")] == ["g_3"]


def test_redis_indexes_groups_stored_before_the_listing(redis_url: str) -> None:
    """Groups written before ``list_groups`` existed (no ``groups`` index) are indexed on open."""
    import redis

    from cosigner.multisig.store_redis import RedisMultisigStore

    old = open_multisig_store(redis_url)
    assert isinstance(old, RedisMultisigStore)
    for gid in ("g_b", "g_a", "g_[*?]"):  # glob characters in an id stay literal
        old.insert_group(contract._group(gid))
    client = redis.Redis.from_url(redis_url.split("?")[0])
    prefix = f"cosigner:{{{old.namespace}}}:ms:"
    client.delete(prefix + "groups", prefix + "groups-indexed")  # as an older version left it
    assert old.list_groups(10) == []
    new = open_multisig_store(redis_url)
    try:
        assert [g.group_id for g in new.list_groups(10)] == ["g_[*?]", "g_a", "g_b"]
        assert client.exists(prefix + "groups-indexed")
    finally:
        new.close()
        old.close()
        client.close()


def test_postgres_lists_groups_from_the_index(postgres_url: str) -> None:
    """The page query reads the (namespace, group_id COLLATE "C") index, in its order."""
    import psycopg

    store = open_multisig_store(f"{postgres_url}&namespace=t-{uuid.uuid4().hex[:12]}")
    store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_sort = off")
        plan = "\n".join(
            str(row[0])
            for row in conn.execute(
                "EXPLAIN SELECT data FROM cosigner_multisig_groups WHERE namespace = 'n' "
                'AND group_id COLLATE "C" > \'g_1\' ORDER BY group_id COLLATE "C" LIMIT 5'
            )
        )
    assert "cosigner_multisig_groups_by_id" in plan and "Sort" not in plan, plan


def test_a_losing_transaction_writes_nothing(opener: Opener) -> None:
    one, two = opener(), opener()
    group = one.insert_group(contract._group())
    with pytest.raises(StaleState), one.transaction():
        assert one.claim_commitment("g_1", b"c" * 32, "p_1")
        one.insert_proposal(contract._proposal())
        two.update_group(replace(group, status="active"))  # another instance wins the race
        one.update_group(replace(group, status="failed"))
    assert one.get_proposal("p_1") is None
    assert two.claim_commitment("g_1", b"c" * 32, "p_2")
    current = two.get_group("g_1")
    assert current is not None and current.status == "active"


def test_dkg_and_signing_across_two_coordinators(opener: Opener) -> None:
    h = make_harness(3, store=opener())
    other = Coordinator(opener(), clock=h.clock)
    group = h.create_group(2)
    gid = group.group_id
    session = "dkg-1"
    # Owners alternate between the two instances for every request.
    for i, owner in enumerate(h.owners):
        m = owner.keygen_round1(h.group(gid))
        (h.coordinator if i % 2 else other).submit_round1(
            gid, owner.public_key, session, m.package, m.signature
        )
    h.echo(gid)
    h.round2(gid)
    h.finish(gid)
    group = h.sync(gid)
    assert group.status == "active"
    assert other.get_group(gid, h.keys[2]).group_public_key == group.group_public_key
    proposal = other.propose_transfer(gid, h.keys[0], "alice", 7)
    ready = h.approve(proposal.proposal_id, h.owners[:2])
    assert ready.status == "ready" and ready.signature is not None
