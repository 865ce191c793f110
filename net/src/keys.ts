import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { GalacticError, resultsSigningBytes, type SignedResult } from '@galactic/schemas'

/**
 * Loads the node's libp2p identity from `path`, or makes a new Ed25519 key and saves it
 * there (mode 0600). A stable key means a stable peer id across restarts, so agents
 * can reconnect to a restarted oracle at the same address.
 */
export async function loadOrCreateKey(path: string): Promise<PrivateKey> {
  let bytes: Buffer | undefined
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (bytes !== undefined) {
    try {
      return privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new GalacticError('STORAGE_ERROR', `identity key file ${path} is not a libp2p private key`, { path }, { cause: err })
    }
  }
  const key = await generateKeyPair('Ed25519')
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.tmp`
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  await rename(tmp, path)
  return key
}

/**
 * Node key objects of Ed25519 private keys, made once per key: libp2p's `key.sign` imports the
 * key anew on every call, deriving its public half each time (most of a signature's cost).
 */
const signKeys = new WeakMap<PrivateKey, KeyObject>()

function signKey(key: PrivateKey): KeyObject | undefined {
  if (key.type !== 'Ed25519') return undefined
  let object = signKeys.get(key)
  if (object === undefined) {
    // raw: the 32-byte seed, then the 32-byte public key
    const d = Buffer.from(key.raw.subarray(0, 32)).toString('base64url')
    const x = Buffer.from(key.publicKey.raw).toString('base64url')
    object = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x }, format: 'jwk' })
    signKeys.set(key, object)
  }
  return object
}

/** A prover's signature over results it sends together (`task.results.signature`), base64. */
export async function signResults(key: PrivateKey, results: SignedResult[]): Promise<string> {
  const bytes = resultsSigningBytes(results)
  const object = signKey(key)
  return Buffer.from(object === undefined ? await key.sign(bytes) : sign(null, bytes, object)).toString('base64')
}

/** Ed25519 public keys by peer id, as Node key objects: made once per peer, not once per check. */
const verifyKeys = new Map<string, KeyObject>()

function verifyKey(peerId: string): KeyObject | undefined {
  let key = verifyKeys.get(peerId)
  if (key === undefined) {
    const publicKey = peerIdFromString(peerId).publicKey
    if (publicKey?.type !== 'Ed25519') return undefined
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey.raw).toString('base64url') }, format: 'jwk' })
    if (verifyKeys.size >= 100_000) verifyKeys.clear()
    verifyKeys.set(peerId, key)
  }
  return key
}

/**
 * Whether `signature` over `results` was made by the identity key of `peerId`, which must be an
 * Ed25519 key (what loadOrCreateKey makes; the wire schema takes 64-byte signatures only). False
 * for anything else or malformed.
 */
export function verifyResults(peerId: string, results: SignedResult[], signature: string): boolean {
  try {
    const key = verifyKey(peerId)
    return key !== undefined && verify(null, resultsSigningBytes(results), key, Buffer.from(signature, 'base64'))
  } catch {
    return false
  }
}
