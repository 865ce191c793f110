import { parentPort } from 'node:worker_threads'
import { getAddress, verifyTypedData } from 'ethers'
import { EIP712_DOMAIN, RESULT_TYPES } from '@galactic/schemas'
import type { ResultCheck, ResultVerdict } from './signatures.js'

/**
 * The thread behind {@link SignatureChecker}: recovers who signed each result (EIP-712, secp256k1:
 * about 2 ms of CPU each) so the oracle's event loop does not.
 */
parentPort?.on('message', (batch: ResultCheck[]) => {
  const verdicts: ResultVerdict[] = batch.map((check) => {
    let signer: string | undefined
    try {
      signer = verifyTypedData(EIP712_DOMAIN, RESULT_TYPES, { results: check.results }, check.signature)
    } catch {
      signer = undefined // a malformed signature recovers no one
    }
    return { id: check.id, signer: signer ?? null, ok: signer !== undefined && signer === getAddress(check.address) }
  })
  parentPort?.postMessage(verdicts)
})
