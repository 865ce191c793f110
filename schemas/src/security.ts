import { createHash } from 'node:crypto'
import { z } from 'zod'
import { GalacticError } from './errors.js'
import { parseGraph, type Graph } from './graph.js'

/**
 * Identities and signatures: the wire shapes and the exact bytes that requesters and provers
 * sign. Signing and recovery need an Ethereum library (ethers, in the SDK and the oracle); this
 * file only says *what* is signed, so every side computes the same digest.
 *
 * Every signature is EIP-712 typed data under {@link EIP712_DOMAIN}. See docs/security.md.
 */

/** An Ethereum address: `0x` and 40 hex digits (any case; the oracle compares checksummed forms). */
export const EthAddress = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'an Ethereum address: 0x and 40 hex digits')
export type EthAddress = z.infer<typeof EthAddress>

/** A 65-byte secp256k1 signature (r, s, v) as `0x` and 130 hex digits. */
export const EthSignature = z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'a 65-byte signature: 0x and 130 hex digits')
export type EthSignature = z.infer<typeof EthSignature>

/** Unix time in seconds, as signed (EIP-712 `uint64`). */
export const UnixSeconds = z.int().min(0).max(2 ** 40)

/** A requester's signature over a submission: `graph.submit` params carry it as `auth`. */
export const SubmitAuth = z.strictObject({
  /** EIP-712 signature of {@link SUBMISSION_TYPES} by `graph.requester`. */
  signature: EthSignature,
  /** The request is refused after this moment (unix seconds). */
  expiresAt: UnixSeconds,
})
export type SubmitAuth = z.infer<typeof SubmitAuth>

/**
 * The EIP-712 domain of every galactic signature. No `chainId` and no verifying contract:
 * nothing here is on chain. A signature is therefore valid at every galactic oracle
 * (see docs/security.md, "not covered").
 */
export const EIP712_DOMAIN = { name: 'galactic', version: '1' } as const

/** What a requester signs to submit a graph. */
export const SUBMISSION_TYPES: Record<string, Array<{ name: string; type: string }>> = {
  GraphSubmission: [
    { name: 'graphHash', type: 'bytes32' },
    { name: 'requester', type: 'address' },
    { name: 'nonce', type: 'string' },
    { name: 'expiresAt', type: 'uint64' },
  ],
}

/** What a prover signs when it registers: binds its name, its libp2p peer id and its address. */
export const REGISTRATION_TYPES: Record<string, Array<{ name: string; type: string }>> = {
  ProverRegistration: [
    { name: 'proverId', type: 'string' },
    { name: 'peerId', type: 'string' },
    { name: 'address', type: 'address' },
    { name: 'signedAt', type: 'uint64' },
  ],
}

/** An Ed25519 signature (64 bytes), base64: what a prover's libp2p identity key makes. */
export const Ed25519Signature = z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'a 64-byte Ed25519 signature, base64')
export type Ed25519Signature = z.infer<typeof Ed25519Signature>

/** Names what a `task.results` signature is over, so it cannot be taken for any other signed bytes. */
export const RESULTS_SIGNING_DOMAIN = 'galactic/task-results/1'

/**
 * The bytes a prover signs for the results it sends together (`task.results`), with the Ed25519
 * key of its libp2p identity (the peer id its EIP-712-signed registration binds to its address):
 * the domain, a newline, and the canonical JSON of each result's `{ graphId, opId, attempt,
 * outcomeHash }`, in order. One signature covers the whole list.
 */
export function resultsSigningBytes(results: SignedResult[]): Uint8Array {
  return new TextEncoder().encode(`${RESULTS_SIGNING_DOMAIN}\n${canonicalJson(results)}`)
}

/** What a prover's signature covers of one result (see resultsSigningBytes). */
export interface SignedResult {
  graphId: string
  opId: string
  attempt: number
  outcomeHash: string
}

/** The signed value of one result: its attempt and the hash of its outcome. */
export function signedResult(r: { graphId: string; opId: string; attempt: number; outcome: unknown }): SignedResult {
  return { graphId: r.graphId, opId: r.opId, attempt: r.attempt, outcomeHash: outcomeHash(r.outcome) }
}

export interface SubmissionMessage {
  graphHash: string
  requester: string
  nonce: string
  expiresAt: number
}

export interface RegistrationMessage {
  proverId: string
  peerId: string
  address: string
  signedAt: number
}

export interface ResultMessage {
  graphId: string
  opId: string
  attempt: number
  outcomeHash: string
}

/** How far a registration's `signedAt` may be from the oracle's clock, either way. */
export const REGISTRATION_SKEW_SECONDS = 300

/** Deepest nesting of arrays and objects accepted in a message (checked before any schema). */
export const MAX_JSON_DEPTH = 64

/**
 * Canonical JSON: `JSON.stringify` with every object's keys sorted (by UTF-16 code units, the
 * order of `Array.prototype.sort`), no whitespace, arrays in order, `undefined` members left
 * out. Two values that are equal as JSON give the same text whatever their key order.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key]
    if (v !== undefined) out[key] = sortKeys(v)
  }
  return out
}

function sha256Hex(text: string): string {
  return `0x${createHash('sha256').update(text, 'utf8').digest('hex')}`
}

/**
 * The graph hash a requester signs: `0x` + sha256 of the UTF-8 bytes of
 * `canonicalJson(parseGraph(graph))` - the graph as the oracle will hold it (defaults filled in,
 * ops in topological order), with keys sorted. Throws `INVALID_GRAPH` for a graph that would be
 * refused anyway.
 */
export function graphHash(graph: unknown): string {
  return parsedGraphHash(parseGraph(graph))
}

/**
 * {@link graphHash} of a graph `parseGraph` returned. Hash the parse of what was received, not
 * a parse of a parse: parsing again may order the ops differently.
 */
export function parsedGraphHash(graph: Graph): string {
  return sha256Hex(canonicalJson(graph))
}

/** `0x` + sha256 of the canonical JSON of a task outcome: what a prover's result signature covers. */
export function outcomeHash(outcome: unknown): string {
  return sha256Hex(canonicalJson(outcome))
}

/**
 * Throws `INVALID_INPUT` naming the path where `value` nests deeper than `maxDepth` arrays and
 * objects. Iterative, so hostile input cannot exhaust the stack here (schemas recurse; this
 * runs first).
 */
export function assertJsonDepth(value: unknown, maxDepth: number = MAX_JSON_DEPTH, what = 'message'): void {
  const stack: Array<{ v: unknown; depth: number; path: string }> = [{ v: value, depth: 0, path: '' }]
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop() as { v: unknown; depth: number; path: string }
    if (v === null || typeof v !== 'object') continue
    if (depth >= maxDepth) {
      throw new GalacticError('INVALID_INPUT', `invalid ${what}: ${path === '' ? '(root)' : path}: nested deeper than ${maxDepth} levels`, {
        issues: [{ path: path === '' ? '(root)' : path, message: `nested deeper than ${maxDepth} levels` }],
      })
    }
    if (Array.isArray(v)) v.forEach((item, i) => stack.push({ v: item, depth: depth + 1, path: `${path}[${i}]` }))
    else for (const [k, item] of Object.entries(v)) stack.push({ v: item, depth: depth + 1, path: path === '' ? k : `${path}.${k}` })
  }
}

/** `allowlist.json` in the oracle's data dir: the requester addresses it accepts when run with `allowlist`. */
export const ALLOWLIST_FILE = 'allowlist.json'

export const AllowlistFile = z.strictObject({
  /** Checksummed addresses, sorted. */
  addresses: z.array(EthAddress).max(1_000_000),
})
export type AllowlistFile = z.infer<typeof AllowlistFile>
