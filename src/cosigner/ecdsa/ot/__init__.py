"""The two-party OT layer of Cait-Sith triple generation: setup, OT extension, MTA.

Spec: ``docs/ecdsa/ot_based_ecdsa/triples.md`` of near/threshold-signatures
(and ``docs/triples.md`` of cronokirby/cait-sith), bottom up:

========================  ==================================================
module                    spec section
========================  ==================================================
:mod:`.base_ot`           "Random Oblivious Transfer", "'Simplest' OT Protocol"
:mod:`.setup`             "Setup Phase" (``Triples-Setup``)
:mod:`.correlated_ot`     "Correlated OT Extension"
:mod:`.random_ot`         "Random OT Extension"
:mod:`.mta`               "Multiplicative to Additive Conversion"
:mod:`.multiplication`    "Multiplication", steps 1-3, for one pair
========================  ==================================================

Everything here is sans-I/O: step functions take the previous state and the
peer's message and return the next state and the message to send. Randomness
comes from an injected ``rng(n) -> bytes`` (default: the OS). Every message
and every state has ``to_bytes()`` / ``from_bytes()``; decoders raise a
:class:`~cosigner.errors.DecodeError` subclass on any malformed input. States
and setups are secret (their reprs say ``<secret>``), states are single-use
(:class:`~cosigner.ecdsa.ot.errors.OtStateReusedError` on a second
continuation; a store holding serialized states must hand each out once).
All messages need a private, authenticated channel.

API contract for the multi-party triple protocol
------------------------------------------------

**Roles.** For a pair of participants, the one with the lower participant id
is ``PairRole.LOWER``, the other ``PairRole.HIGHER``:

* LOWER is the base-OT sender of the setup and keeps ``K^0, K^1``; in every
  multiplication it is the OT-extension receiver and the MTA receiver;
* HIGHER samples ``Δ``, is the base-OT receiver and keeps ``Δ, K^Δ``; in
  every multiplication it is the OT-extension sender and the MTA sender.

(The spec's "Multiplication" section calls the lower party the sender; that
contradicts its setup section, where the lower party ends with ``K^0, K^1``.
We follow the setup and the original cait-sith code, see
:mod:`.multiplication`.)

**Setup, once per pair** (:mod:`.setup`)::

    LOWER:  state, m1 = setup_lower_start(rng)               send m1 (BaseOtSenderMessage)
    HIGHER: setup, m2 = setup_higher_respond(m1, rng)        send m2 (BaseOtReceiverMessage)
    LOWER:  setup = setup_lower_finish(state, m2)

Both end with a :class:`PairSetup` (``setup.role`` says which side), to be
stored (encrypted) and reused for every later batch with that peer.

**Multiplication, per batch** (:mod:`.multiplication`). ``sid`` is the
batch session id (bytes, at most 1024, unique per batch and pair: derive it
from the triple protocol's confirmation hashes and both participant ids);
``inputs`` is one ``(a, b)`` pair of scalars per triple, ``count =
len(inputs)`` between 1 and ``MAX_BATCH``; both sides must use the same
``sid`` and ``count``. Triple ``k`` of the batch runs its own extension with
session id ``(sid, nonce, rows, k)``::

    LOWER:  s1, m1 = multiply_batch_lower_start(setup, sid, inputs, rng)
            send m1: CorrelatedOtMessage                          LOWER -> HIGHER
    HIGHER: h1, m2 = multiply_batch_higher_challenge(setup, sid, inputs, m1, rng)
            send m2: RandomOtChallenge                            HIGHER -> LOWER
    LOWER:  s2, m3 = multiply_batch_lower_check(s1, m2)
            send m3: RandomOtCheck                                LOWER -> HIGHER
    HIGHER: h2, m4 = multiply_batch_higher_encrypt(h1, m3, rng)   # OtConsistencyError
            send m4: MtaCiphertexts                               HIGHER -> LOWER
    LOWER:  shares, m5 = multiply_batch_lower_finish(s2, m4, rng)
            send m5: MtaChallenge                                 LOWER -> HIGHER
    HIGHER: shares = multiply_batch_higher_finish(h2, m5)

``shares[k]`` (a scalar ``int``) is that party's additive share of
``a_L·b_H + b_L·a_H`` for triple ``k``: LOWER's and HIGHER's shares sum to it
modulo q. A party's multiplication output is then ``a_i·b_i`` plus its
shares from every pair it is in (spec "Multiplication", step 4). The states
``s1, s2`` (:class:`LowerAwaitingChallenge`, :class:`LowerAwaitingCiphertexts`)
and ``h1, h2`` (:class:`HigherAwaitingCheck`,
:class:`HigherAwaitingMtaChallenge`) serialize with ``to_bytes()`` and
restore with ``<Class>.from_bytes()``; so do the five message classes.

Errors: :class:`OtParameterError` for impossible calls (wrong role, empty
batch), :class:`OtProtocolError` when the peer's message does not fit the
session (wrong counts), :class:`OtConsistencyError` (a subclass) when the
peer cheated in the OT extension, :class:`OtDecodeError` and the other
:class:`~cosigner.errors.DecodeError` subclasses for malformed bytes.
"""

from cosigner.ecdsa.ot.base_ot import (
    BaseOtReceiverMessage,
    BaseOtSenderMessage,
    BaseOtSenderState,
    base_ot_receiver_respond,
    base_ot_sender_finish,
    base_ot_sender_start,
)
from cosigner.ecdsa.ot.correlated_ot import (
    CorrelatedOtMessage,
    correlated_ot_receiver,
    correlated_ot_sender,
)
from cosigner.ecdsa.ot.errors import (
    OtConsistencyError,
    OtDecodeError,
    OtError,
    OtParameterError,
    OtProtocolError,
    OtStateReusedError,
)
from cosigner.ecdsa.ot.mta import (
    KAPPA,
    MtaChallenge,
    MtaCiphertexts,
    MtaSenderState,
    mta_receiver_respond,
    mta_sender_finish,
    mta_sender_start,
)
from cosigner.ecdsa.ot.multiplication import (
    MAX_BATCH,
    OTS_PER_TRIPLE,
    HigherAwaitingCheck,
    HigherAwaitingMtaChallenge,
    LowerAwaitingChallenge,
    LowerAwaitingCiphertexts,
    multiply_batch_higher_challenge,
    multiply_batch_higher_encrypt,
    multiply_batch_higher_finish,
    multiply_batch_lower_check,
    multiply_batch_lower_finish,
    multiply_batch_lower_start,
)
from cosigner.ecdsa.ot.random_ot import (
    RandomOtChallenge,
    RandomOtCheck,
    RandomOtReceiverOutput,
    RandomOtReceiverState,
    RandomOtSenderOutput,
    RandomOtSenderState,
    random_ot_receiver_finish,
    random_ot_receiver_start,
    random_ot_sender_challenge,
    random_ot_sender_finish,
)
from cosigner.ecdsa.ot.setup import (
    PairRole,
    PairSetup,
    setup_higher_respond,
    setup_lower_finish,
    setup_lower_start,
)

__all__ = [
    "KAPPA",
    "MAX_BATCH",
    "OTS_PER_TRIPLE",
    "BaseOtReceiverMessage",
    "BaseOtSenderMessage",
    "BaseOtSenderState",
    "CorrelatedOtMessage",
    "HigherAwaitingCheck",
    "HigherAwaitingMtaChallenge",
    "LowerAwaitingChallenge",
    "LowerAwaitingCiphertexts",
    "MtaChallenge",
    "MtaCiphertexts",
    "MtaSenderState",
    "OtConsistencyError",
    "OtDecodeError",
    "OtError",
    "OtParameterError",
    "OtProtocolError",
    "OtStateReusedError",
    "PairRole",
    "PairSetup",
    "RandomOtChallenge",
    "RandomOtCheck",
    "RandomOtReceiverOutput",
    "RandomOtReceiverState",
    "RandomOtSenderOutput",
    "RandomOtSenderState",
    "base_ot_receiver_respond",
    "base_ot_sender_finish",
    "base_ot_sender_start",
    "correlated_ot_receiver",
    "correlated_ot_sender",
    "mta_receiver_respond",
    "mta_sender_finish",
    "mta_sender_start",
    "multiply_batch_higher_challenge",
    "multiply_batch_higher_encrypt",
    "multiply_batch_higher_finish",
    "multiply_batch_lower_check",
    "multiply_batch_lower_finish",
    "multiply_batch_lower_start",
    "random_ot_receiver_finish",
    "random_ot_receiver_start",
    "random_ot_sender_challenge",
    "random_ot_sender_finish",
    "setup_higher_respond",
    "setup_lower_finish",
    "setup_lower_start",
]
