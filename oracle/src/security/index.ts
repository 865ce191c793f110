import { join } from 'node:path'
import { getAddress, verifyTypedData } from 'ethers'
import {
  ALLOWLIST_FILE,
  EIP712_DOMAIN,
  GalacticError,
  parsedGraphHash,
  REGISTRATION_SKEW_SECONDS,
  REGISTRATION_TYPES,
  SUBMISSION_TYPES,
  type AgentMessage,
  type Graph,
  type SubmitAuth,
  signedResult,
  type SignedResult,
  type TaskResultEntry,
} from '@galactic/schemas'
import { verifyResults } from '@galactic/net'
import type { Clock } from '../core/index.js'
import { AllowlistReader } from './allowlist.js'
import { EvidenceStore } from './evidence.js'

export { AllowlistReader } from './allowlist.js'
export { EvidenceStore, type RegistrationEvidence, type ResultEvidence } from './evidence.js'
export { TokenBucket, type RateLimitInit, type RateVerdict } from './token-bucket.js'

export interface OracleSecurityInit {
  /** The oracle's data dir: `allowlist.json` and `evidence.sqlite` live there. */
  dataDir: string
  /** Refuse unsigned submissions. @default false */
  requireSignatures?: boolean
  /** Accept only requesters on the allowlist (implies signatures). @default false */
  allowlist?: boolean
}

export interface OracleSecurityComponents {
  clock: Clock
}

export type RegisterMessage = Extract<AgentMessage, { type: 'register' }>

/**
 * Who may do what: checks requester signatures, expiries and the allowlist on submit; checks
 * prover registrations (signature, peer id, one address per prover id); checks and keeps
 * signed results as evidence. Each check throws a GalacticError (`UNAUTHORIZED`, `EXPIRED`)
 * or returns; nothing here touches the scheduler.
 */
export class OracleSecurity {
  readonly requireSignatures: boolean
  readonly allowlistRequired: boolean
  readonly allowlist: AllowlistReader
  readonly evidence: EvidenceStore
  private readonly clock: Clock

  constructor(init: OracleSecurityInit, components: OracleSecurityComponents) {
    this.allowlistRequired = init.allowlist ?? false
    this.requireSignatures = (init.requireSignatures ?? false) || this.allowlistRequired
    this.allowlist = new AllowlistReader(join(init.dataDir, ALLOWLIST_FILE))
    this.evidence = EvidenceStore.open(join(init.dataDir, 'evidence.sqlite'))
    this.clock = components.clock
  }

  private get nowSeconds(): number {
    return Math.floor(this.clock.now() / 1000)
  }

  /**
   * Checks a parsed graph's `auth` (`graph` is what `parseGraph` returned for the received graph).
   * A signature is checked whenever one is sent, required or not.
   *
   * @throws GalacticError `UNAUTHORIZED` (missing, forged, requester not the signer or not allowed), `EXPIRED`.
   */
  checkSubmission(graph: Graph, auth: SubmitAuth | undefined): void {
    if (auth === undefined) {
      if (this.requireSignatures) throw new GalacticError('UNAUTHORIZED', 'this oracle accepts signed submissions only: send auth { signature, expiresAt }')
      return
    }
    let requester: string
    try {
      requester = getAddress(graph.requester)
    } catch {
      throw new GalacticError('UNAUTHORIZED', `a signed graph's requester must be an Ethereum address, got ${JSON.stringify(graph.requester.slice(0, 64))}`, {
        issues: [{ path: 'graph.requester', message: 'not an Ethereum address' }],
      })
    }
    if (requester !== graph.requester) {
      throw new GalacticError('UNAUTHORIZED', `requester must be the checksummed address ${requester}`, {
        issues: [{ path: 'graph.requester', message: `use the checksummed form ${requester}` }],
      })
    }
    if (auth.expiresAt < this.nowSeconds) {
      throw new GalacticError('EXPIRED', `the signed request expired at ${auth.expiresAt} (unix seconds), now is ${this.nowSeconds}`, { expiresAt: auth.expiresAt })
    }
    const message = { graphHash: parsedGraphHash(graph), requester, nonce: graph.nonce, expiresAt: auth.expiresAt }
    const signer = recover(() => verifyTypedData(EIP712_DOMAIN, SUBMISSION_TYPES, message, auth.signature))
    if (signer !== requester) {
      throw new GalacticError('UNAUTHORIZED', `the signature is not ${requester}'s over this graph, nonce and expiry`, { requester, signer: signer ?? null })
    }
    if (this.allowlistRequired && !this.allowlist.has(requester)) {
      throw new GalacticError('UNAUTHORIZED', `requester ${requester} is not on this oracle's allowlist`, { requester })
    }
  }

  /**
   * Checks a `register` message against the connection it came on, then binds the prover id to
   * its address on first sight. Returns that address EIP-55 checksummed, as checkResults takes it
   * (computed once per session, not per result batch).
   *
   * @throws GalacticError `UNAUTHORIZED` (peer id not the connection's, bad signature, prover id owned by another address), `EXPIRED`.
   */
  checkRegistration(msg: RegisterMessage, connectionPeerId: string): string {
    if (msg.peerId !== connectionPeerId) {
      throw new GalacticError('UNAUTHORIZED', `register names peer ${msg.peerId} but arrived from peer ${connectionPeerId}`, {
        proverId: msg.proverId,
        issues: [{ path: 'peerId', message: 'not the peer id of this connection' }],
      })
    }
    const now = this.nowSeconds
    if (Math.abs(now - msg.signedAt) > REGISTRATION_SKEW_SECONDS) {
      throw new GalacticError('EXPIRED', `register was signed at ${msg.signedAt}, more than ${REGISTRATION_SKEW_SECONDS} s from the oracle's clock (${now})`, {
        signedAt: msg.signedAt,
        now,
      })
    }
    const address = checksum(msg.address, 'address')
    const value = { proverId: msg.proverId, peerId: msg.peerId, address, signedAt: msg.signedAt }
    const signer = recover(() => verifyTypedData(EIP712_DOMAIN, REGISTRATION_TYPES, value, msg.signature))
    if (signer !== address) {
      throw new GalacticError('UNAUTHORIZED', `register is not signed by ${address}`, { proverId: msg.proverId, address, signer: signer ?? null })
    }
    const owner = this.evidence.addressOf(msg.proverId)
    if (owner !== undefined && owner !== address) {
      throw new GalacticError('UNAUTHORIZED', `prover id ${msg.proverId} belongs to another address`, { proverId: msg.proverId, address })
    }
    this.evidence.bind({ proverId: msg.proverId, address, peerId: msg.peerId, signedAt: msg.signedAt, signature: msg.signature }, this.clock.now())
    return address
  }

  /**
   * Checks the signature over results sent together, made by the identity key of the peer the
   * prover registered from (`peerId`, which its EIP-712 registration binds to `address`, as
   * checkRegistration returned it), and keeps them as evidence.
   *
   * @throws GalacticError `UNAUTHORIZED` when the signature does not verify.
   */
  checkResults(proverId: string, address: string, peerId: string, results: TaskResultEntry[], signature: string): void {
    const signed = results.map(signedResult)
    if (!verifyResults(peerId, signed, signature)) {
      const first = results[0] as TaskResultEntry
      throw new GalacticError('UNAUTHORIZED', `results for ${first.graphId}/${first.opId}#${first.attempt}${results.length > 1 ? ` and ${results.length - 1} more` : ''} are not signed by ${proverId}'s identity key`, {
        proverId,
        peerId,
      })
    }
    const receivedAt = this.clock.now()
    this.evidence.putResults(
      results.map((r, i) => ({ graphId: r.graphId, opId: r.opId, attempt: r.attempt, proverId, address, peerId, outcome: r.outcome, outcomeHash: (signed[i] as SignedResult).outcomeHash, signature, receivedAt })),
      signed,
    )
  }

  close(): void {
    this.evidence.close()
  }
}

function recover(fn: () => string): string | undefined {
  try {
    return fn()
  } catch {
    return undefined // a malformed signature recovers no one
  }
}

function checksum(address: string, path: string): string {
  try {
    return getAddress(address.toLowerCase())
  } catch {
    throw new GalacticError('UNAUTHORIZED', `${path} is not an Ethereum address`, { issues: [{ path, message: 'not an Ethereum address' }] })
  }
}
