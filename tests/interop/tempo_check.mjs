// Parses cosigner's Tempo serializations with wevm/ox (`ox/tempo`) and reports what ox sees.
//
// stdin: {"cases": [{"name", "serialized", "sender"?}]} with 0x hex strings.
// stdout: {"results": [{"name", "ok", "error"?, "fields", "from", "signPayload", "hash",
//          "reserialized", "verified", "feePayerSignPayload", "keyAuthorizationSignPayload",
//          "authorizationSignPayloads", "authorizationSigners"}]}
//
// `fields` is ox's parsed envelope written in cosigner's field names (decimal strings,
// lowercase hex), so the Python side compares it with its own transaction field by field.
// `verified` is ox's own check of the sender signature over ox's sign payload
// (SignatureEnvelope.verify; for a keychain signature, of the inner signature over
// keccak256(0x04 || payload || userAddress) for v2, or the payload for v1).
import { Hash, Hex } from 'ox'
import {
  AuthorizationTempo,
  KeyAuthorization,
  SignatureEnvelope,
  TxEnvelopeTempo,
} from 'ox/tempo'

const lower = (value) => (value === undefined || value === null ? null : value.toLowerCase())
const word = (value) => {
  const digits = typeof value === 'bigint' ? value.toString(16) : value.slice(2)
  return `0x${digits.padStart(64, '0').toLowerCase()}`
}
const dec = (value) => (value === undefined || value === null ? null : BigInt(value).toString())

function signature(envelope) {
  switch (envelope.type) {
    case 'secp256k1':
      return {
        type: 'secp256k1',
        r: word(envelope.signature.r),
        s: word(envelope.signature.s),
        yParity: envelope.signature.yParity,
      }
    case 'p256':
      return {
        type: 'p256',
        r: word(envelope.signature.r),
        s: word(envelope.signature.s),
        x: word(envelope.publicKey.x),
        y: word(envelope.publicKey.y),
        prehash: envelope.prehash,
      }
    case 'webAuthn':
      return {
        type: 'webauthn',
        r: word(envelope.signature.r),
        s: word(envelope.signature.s),
        x: word(envelope.publicKey.x),
        y: word(envelope.publicKey.y),
        authenticatorData: lower(envelope.metadata.authenticatorData),
        clientDataJSON: envelope.metadata.clientDataJSON,
      }
    case 'keychain':
      return {
        type: 'keychain',
        userAddress: lower(envelope.userAddress),
        version: envelope.version,
        inner: signature(envelope.inner),
      }
    default:
      return { type: envelope.type }
  }
}

function keyAuthorization(ka) {
  return {
    chainId: dec(ka.chainId),
    keyType: ka.type === 'webAuthn' ? 'webauthn' : ka.type,
    keyId: lower(ka.address),
    expiry: dec(ka.expiry),
    limits:
      ka.limits === undefined
        ? null
        : ka.limits.map((l) => ({
            token: lower(l.token),
            limit: dec(l.limit),
            period: dec(l.period ?? 0),
          })),
    scopes:
      ka.scopes === undefined
        ? null
        : ka.scopes.map((s) => ({
            address: lower(s.address),
            selector: lower(s.selector),
            recipients: (s.recipients ?? []).map(lower),
          })),
    witness: lower(ka.witness),
    isAdmin: Boolean(ka.isAdmin),
    account: lower(ka.account),
    signature: ka.signature ? signature(ka.signature) : null,
  }
}

function fields(env) {
  return {
    chainId: dec(env.chainId),
    maxPriorityFeePerGas: dec(env.maxPriorityFeePerGas ?? 0n),
    maxFeePerGas: dec(env.maxFeePerGas ?? 0n),
    gasLimit: dec(env.gas ?? 0n),
    calls: env.calls.map((c) => ({
      to: lower(c.to),
      value: dec(c.value ?? 0n),
      input: lower(c.data ?? '0x'),
    })),
    accessList: (env.accessList ?? []).map((a) => ({
      address: lower(a.address),
      storageKeys: a.storageKeys.map(lower),
    })),
    nonceKey: dec(env.nonceKey ?? 0n),
    nonce: dec(env.nonce ?? 0n),
    validBefore: dec(env.validBefore),
    validAfter: dec(env.validAfter),
    feeToken: lower(env.feeToken),
    feePayer: env.feePayerSignature !== undefined,
    feePayerSignature: env.feePayerSignature
      ? {
          yParity: env.feePayerSignature.yParity,
          r: word(env.feePayerSignature.r),
          s: word(env.feePayerSignature.s),
        }
      : null,
    aaAuthorizationList: (env.authorizationList ?? []).map((a) => ({
      chainId: dec(a.chainId),
      address: lower(a.address),
      nonce: dec(a.nonce),
      signature: signature(a.signature),
    })),
    keyAuthorization: env.keyAuthorization ? keyAuthorization(env.keyAuthorization) : null,
    signature: env.signature ? signature(env.signature) : null,
  }
}

function verify(envelope, payload, address) {
  if (envelope.type === 'keychain') {
    const inner =
      envelope.version === 'v1'
        ? payload
        : Hash.keccak256(Hex.concat('0x04', payload, envelope.userAddress))
    const key = SignatureEnvelope.extractAddress({ payload: inner, signature: envelope.inner })
    return SignatureEnvelope.verify(envelope.inner, { payload: inner, address: key })
  }
  return SignatureEnvelope.verify(envelope, { payload, address })
}

function check(testCase) {
  const env = TxEnvelopeTempo.deserialize(testCase.serialized)
  const signPayload = TxEnvelopeTempo.getSignPayload(env)
  const result = {
    name: testCase.name,
    ok: true,
    fields: fields(env),
    from: lower(env.from),
    signPayload,
    hash: env.signature && env.feePayerSignature !== null ? TxEnvelopeTempo.hash(env) : null,
    reserialized: TxEnvelopeTempo.serialize(env),
    verified: env.signature ? verify(env.signature, signPayload, env.from) : null,
    feePayerSignPayload: testCase.sender
      ? TxEnvelopeTempo.getFeePayerSignPayload(env, { sender: testCase.sender })
      : null,
    keyAuthorizationSignPayload: env.keyAuthorization
      ? KeyAuthorization.getSignPayload(env.keyAuthorization)
      : null,
    authorizationSignPayloads: (env.authorizationList ?? []).map((a) =>
      AuthorizationTempo.getSignPayload(a),
    ),
  }
  return result
}

const input = JSON.parse(await new Promise((resolve) => {
  let text = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk) => { text += chunk })
  process.stdin.on('end', () => resolve(text))
}))

const results = input.cases.map((testCase) => {
  try {
    return check(testCase)
  } catch (error) {
    return { name: testCase.name, ok: false, error: String(error?.stack ?? error) }
  }
})
process.stdout.write(JSON.stringify({ results }))
