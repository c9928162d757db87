// Cross-check of cosigner's NEAR encodings against near-api-js (@near-js/transactions).
//
// stdin: a JSON array of {"name": ..., "signed_transaction_base64": ...}.
// stdout: a JSON array, one entry per input, of what near-api-js makes of it:
// the decoded fields, whether re-encoding gives the same bytes, the sha256 of
// the Borsh Transaction, and whether the signature verifies under the
// transaction's public key (with @near-js/crypto). Delegate actions inside are
// checked the same way: their NEP-366 bytes from encodeDelegateAction, their
// signature under the sender's key.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import { KeyType, PublicKey } from "@near-js/crypto";
import {
  decodeSignedTransaction,
  encodeDelegateAction,
  encodeTransaction,
} from "@near-js/transactions";

const sha256 = (bytes) => new Uint8Array(createHash("sha256").update(bytes).digest());
const hex = (bytes) => Buffer.from(bytes).toString("hex");

function publicKeyOf(decoded) {
  if (decoded.ed25519Key) {
    return new PublicKey({ keyType: KeyType.ED25519, data: Uint8Array.from(decoded.ed25519Key.data) });
  }
  return new PublicKey({ keyType: KeyType.SECP256K1, data: Uint8Array.from(decoded.secp256k1Key.data) });
}

function signatureBytes(decoded) {
  const inner = decoded.ed25519Signature || decoded.secp256k1Signature;
  return Uint8Array.from(inner.data);
}

// JSON.stringify cannot write bigint (u64 and u128 decode to bigint).
const plain = (value) =>
  JSON.parse(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v)));

function check(entry) {
  const bytes = Uint8Array.from(Buffer.from(entry.signed_transaction_base64, "base64"));
  const signed = decodeSignedTransaction(bytes);
  const tx = signed.transaction;
  const reencoded = encodeTransaction(signed);
  const hash = sha256(encodeTransaction(tx));
  const publicKey = publicKeyOf(tx.publicKey);
  const delegates = tx.actions
    .filter((action) => action.signedDelegate)
    .map((action) => {
      const sd = action.signedDelegate;
      const digest = sha256(encodeDelegateAction(sd.delegateAction));
      return {
        sender_id: sd.delegateAction.senderId,
        digest_hex: hex(digest),
        verified: publicKeyOf(sd.delegateAction.publicKey).verify(digest, signatureBytes(sd.signature)),
      };
    });
  return {
    name: entry.name,
    reencoded_equal: Buffer.compare(Buffer.from(reencoded), Buffer.from(bytes)) === 0,
    signer_id: tx.signerId,
    receiver_id: tx.receiverId,
    nonce: tx.nonce.toString(),
    public_key: publicKey.toString(),
    block_hash_hex: hex(Uint8Array.from(tx.blockHash)),
    actions: tx.actions.map((action) => Object.keys(action)[0]),
    decoded_actions: plain(tx.actions.map((action) => (action.signedDelegate ? {} : action))),
    hash_hex: hex(hash),
    verified: publicKey.verify(hash, signatureBytes(signed.signature)),
    delegates,
  };
}

const input = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(input.map(check)));
