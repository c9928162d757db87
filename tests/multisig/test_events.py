"""Events: published after the change commits, never for a refused request; the bus fans out.

Also: two coordinator instances on one SQLite file serve the same group, as
two server processes sharing a database would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cosigner.multisig import Coordinator, Event, EventBus, SQLiteMultisigStore
from cosigner.multisig.errors import InvalidSubmission

from .helpers import make_harness


def test_bus_filters_isolates_and_unsubscribes() -> None:
    bus = EventBus()
    everything: list[Event] = []
    only_g1: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    stop = bus.subscribe(everything.append)
    bus.subscribe(only_g1.append, group_id="g_1")
    bus.publish(Event("group_created", "g_1", 1))
    bus(Event("group_created", "g_2", 2))
    assert [e.group_id for e in everything] == ["g_1", "g_2"]
    assert [e.group_id for e in only_g1] == ["g_1"]
    stop()
    bus.publish(Event("group_created", "g_3", 3))
    assert len(everything) == 2
    assert Event("x", "g", 1, "p", {"a": 1}).to_dict() == {
        "type": "x",
        "group_id": "g",
        "proposal_id": "p",
        "at": 1,
        "data": {"a": 1},
    }


def test_refused_requests_publish_nothing() -> None:
    h = make_harness(3)
    group = h.create_group(2)
    session = group.session
    assert session is not None
    before = list(h.events)
    with pytest.raises(InvalidSubmission):
        h.coordinator.submit_round1(group.group_id, h.keys[0], session.name, b"junk", bytes(64))
    assert h.events == before
    m = h.owners[0].keygen_round1(h.group(group.group_id))
    h.coordinator.submit_round1(group.group_id, h.keys[0], session.name, m.package, m.signature)
    (progress,) = h.events[len(before) :]
    assert progress.type == "dkg_progress"
    assert progress.data["received"] == 1 and progress.data["expected"] == 3


def test_two_coordinators_on_one_database(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    h = make_harness(3, SQLiteMultisigStore(path))
    first = h.coordinator
    second = Coordinator(SQLiteMultisigStore(path), clock=h.clock, events=h.events.append)
    gid = h.create_group(2).group_id
    h.round1(gid)
    h.coordinator = second
    h.echo(gid)
    h.coordinator = first
    h.round2(gid)
    h.coordinator = second
    h.finish(gid)
    group = h.sync(gid)
    assert group.status == "active"
    pid = first.propose_transfer(gid, h.keys[0], "alice", 1).proposal_id
    h.commit(pid, h.owners[:2])
    h.coordinator = first
    assert h.sign(pid, h.owners[:2]).status == "ready"
