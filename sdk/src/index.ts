export {
  GalacticClient,
  type GalacticClientInit,
  type CallOptions,
  type WatchEvent,
  type WatchOptions,
  type GraphOutput,
  type GraphResult,
} from './client.js'
export {
  checksumAddress,
  loadEthKey,
  loadOrCreateEthKey,
  signRegistration,
  signSubmission,
  type SignSubmissionOptions,
  type SubmitGraphInput,
} from './signing.js'
/** ethers 6, as the SDK uses it: `new Wallet(key)` or `Wallet.createRandom()` is a `signer`. */
export { Wallet, type Signer } from 'ethers'
export { GalacticError, buildZkmGraph, parseGraph } from '@galactic/schemas'
export type { ErrorCode, Explanation, GraphInput, GraphStatus, GraphEvent, GraphSummary, OpState, OpStatus, ProverStatus, ZkmGraphOptions } from '@galactic/schemas'
