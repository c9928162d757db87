"""m-of-n multisig (seed 004): a coordinator that never holds keys, owners that do.

* :mod:`.message` - seed 004's ``ThresholdMessage`` and the ``transfer`` operation;
* :mod:`.ledger` - the reference ledger: seed 004's contract and its error codes;
* :mod:`.identity` - owners' Ed25519 identity keys, sealed with a passphrase, and login;
* :mod:`.e2e` - end-to-end encrypted, sender-signed envelopes for DKG shares;
* :mod:`.transcript` - what owners sign and hash during a DKG or refresh;
* :mod:`.records`, :mod:`.store` - the coordinator's records and storage (memory, SQLite);
* :mod:`.events` - coordinator events and an in-process event bus;
* :mod:`.coordinator` - the server-side state machine (groups, DKG, refresh, proposals);
* :mod:`.owner` - the owner-side client logic.
"""

from __future__ import annotations

from cosigner.multisig.coordinator import Coordinator
from cosigner.multisig.e2e import Envelope
from cosigner.multisig.events import Event, EventBus
from cosigner.multisig.identity import IdentityKey, LoginChallenge
from cosigner.multisig.ledger import ExecuteWithThresholdSignature, ReferenceLedger
from cosigner.multisig.message import OPERATION_TRANSFER, ThresholdMessage, Transfer
from cosigner.multisig.owner import Complaint, Confirmation, Owner
from cosigner.multisig.records import Group, Proposal
from cosigner.multisig.store import MemoryMultisigStore, MultisigStore, SQLiteMultisigStore
from cosigner.multisig.transcript import SignedPackage, owner_identifier

__all__ = [
    "OPERATION_TRANSFER",
    "Complaint",
    "Confirmation",
    "Coordinator",
    "Envelope",
    "Event",
    "EventBus",
    "ExecuteWithThresholdSignature",
    "Group",
    "IdentityKey",
    "LoginChallenge",
    "MemoryMultisigStore",
    "MultisigStore",
    "Owner",
    "Proposal",
    "ReferenceLedger",
    "SQLiteMultisigStore",
    "SignedPackage",
    "ThresholdMessage",
    "Transfer",
    "owner_identifier",
]
