"""The Zcash Foundation's DKG and repair vector tests, reproduced for cosigner.

``check_dkg_vector`` follows ``frost-core/src/tests/vectors_dkg.rs``
(``check_dkg_keygen``): for each participant ``i`` of ``vectors_dkg.json``,
rebuild its round-one secret package from ``signing_key`` and
``coefficient``, run part 2 with the other participants' broadcast packages
(their proofs of knowledge are verified there) and part 3 with the shares
``i`` received, then compare the key package and the public key package with
the file, field by field. ``inputs[i].signing_shares[j]`` is ``f_j(i)``,
the share ``i`` RECEIVED from ``j``. Beyond ZF, it also checks that ``i``'s
own commitment is the file's and that the shares ``i`` sends are the ones the
others list as received.

``check_repair_vector`` follows ``frost-core/src/tests/repairable.rs``
(``check_repair_share_part2`` and ``check_repair_share_part3``).

``suite`` is a :class:`~cosigner.frost.Ciphersuite` or its name; ``data``
is the parsed JSON file.
"""

from __future__ import annotations

from typing import Any

from cosigner import frost
from cosigner.frost import dkg, repair
from cosigner.frost.keys import KeyPackage, PublicKeyPackage, keygen_with_dealer


def _suite(suite: frost.Ciphersuite | str) -> frost.Ciphersuite:
    return frost.ciphersuite(suite) if isinstance(suite, str) else suite


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def _participant_keys(inputs: dict[str, Any]) -> list[str]:
    """The numbered entries of ``inputs`` (ZF skips keys that do not parse as u16)."""
    keys = []
    for key in inputs:
        try:
            int(key)
        except ValueError:
            continue
        keys.append(key)
    return keys


def check_dkg_vector(suite: frost.Ciphersuite | str, data: dict[str, Any]) -> None:
    s = _suite(suite)
    config, inputs = data["config"], data["inputs"]
    max_participants = int(config["MAX_PARTICIPANTS"])
    min_signers = int(config["MIN_PARTICIPANTS"])
    numbered = _participant_keys(inputs)
    assert sorted(numbered, key=int) == [str(i) for i in range(1, max_participants + 1)]

    def ident(entry: dict[str, Any]) -> frost.Identifier:
        return frost.Identifier.for_suite(s, int(entry["identifier"]))

    verifying_key = s.decode_element(_h(inputs["verifying_key"]))
    expected_public = PublicKeyPackage(
        s,
        {
            ident(inputs[str(i)]): s.decode_element(_h(inputs[str(i)]["verifying_share"]))
            for i in range(1, max_participants + 1)
        },
        verifying_key,
        min_signers,
    )
    broadcast = {
        ident(inputs[key]): dkg.Round1Package(
            s,
            [s.decode_element(_h(c)) for c in inputs[key]["vss_commitments"]],
            _h(inputs[key]["proof_of_knowledge"]),
        )
        for key in numbered
    }

    for i in range(1, max_participants + 1):
        key_i = str(i)
        entry = inputs[key_i]
        own = ident(entry)
        round1 = {ident(inputs[k]): broadcast[ident(inputs[k])] for k in numbered if k != key_i}
        round2 = {
            ident(inputs[k]): dkg.Round2Package(s, s.decode_scalar(_h(entry["signing_shares"][k])))
            for k in numbered
            if k != key_i
        }
        # ZF hard-codes (min, max) = (2, 3) for the secret package; so does the file's config.
        secret1 = dkg.Round1SecretPackage(
            s,
            own,
            [s.decode_scalar(_h(entry["signing_key"])), s.decode_scalar(_h(entry["coefficient"]))],
            None,
            2,
            3,
        )
        assert [e.to_bytes().hex() for e in secret1.commitment] == entry["vss_commitments"]
        assert secret1.commitment == broadcast[own].commitment

        secret2, outgoing = dkg.part2(secret1, round1)
        # Not in ZF's test: what i sends j is what j lists as received from i.
        for k in numbered:
            if k != key_i:
                sent = outgoing[ident(inputs[k])].signing_share
                assert s.encode_scalar(sent).hex() == inputs[k]["signing_shares"][key_i]

        key_package, public = dkg.part3(secret2, round1, round2)
        expected_key_package = KeyPackage(
            s,
            own,
            s.decode_scalar(_h(entry["signing_share"])),
            s.decode_element(_h(entry["verifying_share"])),
            verifying_key,
            min_signers,
        )
        assert public == expected_public
        assert key_package == expected_key_package
        assert key_package.verifying_share.to_bytes().hex() == entry["verifying_share"]
        assert s.encode_scalar(key_package.signing_share).hex() == entry["signing_share"]
        assert public.verifying_key.to_bytes().hex() == inputs["verifying_key"]


def check_repair_vector(suite: frost.Ciphersuite | str, data: dict[str, Any]) -> None:
    s = _suite(suite)

    if "scalar_generation" in data:
        values = data["scalar_generation"]
        deltas = [
            repair.Delta(s, s.decode_scalar(_h(values[f"random_scalar_{k}"]))) for k in (1, 2, 3)
        ]
        sigma = repair.repair_share_part2(deltas)
        expected_sigma = repair.Sigma(s, s.decode_scalar(_h(values["random_scalar_sum"])))
        assert sigma == expected_sigma
        assert s.encode_scalar(sigma.value).hex() == values["random_scalar_sum"]

    if "sigma_generation" in data:
        values = data["sigma_generation"]
        sigmas = [repair.Sigma(s, s.decode_scalar(_h(values[f"sigma_{k}"]))) for k in (1, 2, 3, 4)]
        # ZF uses a dummy (5, 3) dealer package and repairs identifier 2. Ours also checks
        # the result against the package's verifying share for 2, so the dummy group leaves
        # 2 out; with 2 in it, the unrelated share must be refused.
        _, public = keygen_with_dealer(s, 3, 5, identifiers=[1, 3, 4, 5, 6])
        repaired = repair.repair_share_part3(sigmas, 2, public)
        assert s.encode_scalar(repaired.signing_share).hex() == values["sigma_sum"]
        assert repaired.signing_share == s.decode_scalar(_h(values["sigma_sum"]))
        assert repaired.identifier == 2
        assert repaired.verifying_key == public.verifying_key
        assert repaired.min_signers == 3
        _, with_two = keygen_with_dealer(s, 3, 5)
        try:
            repair.repair_share_part3(sigmas, 2, with_two)
        except frost.InvalidSecretShare:
            pass
        else:
            raise AssertionError("a repaired share unlike the listed verifying share was accepted")
