import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { getAddress, Wallet, type Signer } from 'ethers'
import {
  EIP712_DOMAIN,
  GalacticError,
  graphHash,
  REGISTRATION_TYPES,
  SUBMISSION_TYPES,
  type GraphInput,
  type SubmitAuth,
} from '@galactic/schemas'

/** A graph to submit; `requester` may be left out when a signer fills it in. */
export type SubmitGraphInput = Omit<GraphInput, 'requester'> & { requester?: string }

export interface SignSubmissionOptions {
  /** Unix seconds after which the oracle refuses the request. @default now + `ttlSeconds` */
  expiresAt?: number
  /** @default 600 */
  ttlSeconds?: number
  /** Milliseconds clock. @default Date.now */
  now?: () => number
}

/**
 * Signs a submission as `signer`: fills `requester` with its checksummed address when absent
 * (refuses a different one), and signs the EIP-712 `GraphSubmission` over the graph's hash, the
 * requester, the nonce and the expiry. Returns the `graph.submit` params.
 *
 * @example
 * const params = await signSubmission(Wallet.createRandom(), { nonce: '1', ops })
 * await client.call('graph.submit', params)
 */
export async function signSubmission(
  signer: Signer,
  graph: SubmitGraphInput,
  options: SignSubmissionOptions = {},
): Promise<{ graph: GraphInput; auth: SubmitAuth }> {
  const address = getAddress(await signer.getAddress())
  if (graph.requester !== undefined && graph.requester.toLowerCase() !== address.toLowerCase()) {
    throw new GalacticError('INVALID_INPUT', `graph.requester is ${graph.requester}, but the signer is ${address}`, {
      issues: [{ path: 'requester', message: `must be the signer's address ${address}` }],
    })
  }
  // What the oracle will see: the graph after a JSON round trip.
  const filled = JSON.parse(JSON.stringify({ ...graph, requester: address })) as GraphInput
  const now = options.now ?? Date.now
  const expiresAt = options.expiresAt ?? Math.floor(now() / 1000) + (options.ttlSeconds ?? 600)
  const message = { graphHash: graphHash(filled), requester: address, nonce: filled.nonce, expiresAt }
  const signature = await signer.signTypedData(EIP712_DOMAIN, SUBMISSION_TYPES, message)
  return { graph: filled, auth: { signature, expiresAt } }
}

/**
 * The checksummed (EIP-55) form of an address in any case.
 * @throws GalacticError `INVALID_INPUT` for something that is not an address.
 */
export function checksumAddress(address: string): string {
  try {
    return getAddress(address.toLowerCase())
  } catch {
    throw new GalacticError('INVALID_INPUT', `not an Ethereum address: ${JSON.stringify(address.slice(0, 64))}`)
  }
}

/** A prover's registration proof: what the `register` message carries besides its device. */
export async function signRegistration(
  wallet: Signer,
  reg: { proverId: string; peerId: string; signedAt?: number },
): Promise<{ peerId: string; address: string; signedAt: number; signature: string }> {
  const address = getAddress(await wallet.getAddress())
  const signedAt = reg.signedAt ?? Math.floor(Date.now() / 1000)
  const signature = await wallet.signTypedData(EIP712_DOMAIN, REGISTRATION_TYPES, { proverId: reg.proverId, peerId: reg.peerId, address, signedAt })
  return { peerId: reg.peerId, address, signedAt, signature }
}

/**
 * Loads an Ethereum key from `path` (a 0x-prefixed hex private key, one line), or makes one and
 * saves it there with mode 0600. A prover agent keeps its key in `<dataDir>/eth.key`.
 */
export async function loadOrCreateEthKey(path: string): Promise<Wallet> {
  let text: string | undefined
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (text !== undefined) return walletFrom(text, path)
  const wallet = Wallet.createRandom()
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.tmp`
  await writeFile(tmp, `${wallet.privateKey}\n`, { mode: 0o600 })
  await chmod(tmp, 0o600)
  await rename(tmp, path)
  return new Wallet(wallet.privateKey)
}

/** Reads an Ethereum private key file (0x-prefixed hex). */
export async function loadEthKey(path: string): Promise<Wallet> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new GalacticError('INVALID_INPUT', `cannot read key file ${path}: ${(err as Error).message}`, { path })
  }
  return walletFrom(text, path)
}

function walletFrom(text: string, path: string): Wallet {
  try {
    return new Wallet(text.trim())
  } catch (err) {
    throw new GalacticError('STORAGE_ERROR', `key file ${path} does not hold an Ethereum private key`, { path }, { cause: err })
  }
}
