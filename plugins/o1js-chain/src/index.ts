export * from './chain.js'
export { KeyCache, PLUGIN_DIR, PROGRAM_NAME, SETUP_COMMAND, VerificationKeyFile, defaultCacheDir, type VerificationKey } from './keys.js'
export { chooseBackend, loadO1js, nativeBackendAvailable, o1jsVersion, type Backend } from './o1js.js'
export { PROVER_ENTRY, Prover, type ProofResult, type ProverInit, type ProverReady } from './prover.js'
export type { ProofStats } from './prover-protocol.js'
export {
  checkChainProof,
  claimError,
  continuityError,
  makeSnark,
  mergeProofs,
  proveSegment,
  publicOutputOf,
  verifyFinal,
  verifyJsonProof,
  type VerifyFinalOptions,
  type VerifyResult,
} from './proofs.js'
export {
  DESCRIPTION,
  OP_NAMES,
  OP_OUTPUTS,
  OP_PARAMS,
  PLUGIN_NAME,
  PLUGIN_VERSION,
  canonicalJson,
  parseOpParams,
  runOp,
  split,
  verifyOp,
  type OpContext,
  type OpName,
  type OpParams,
} from './ops.js'
export { PluginConfig, PluginServer, o1jsChainPlugin, type O1jsChainPluginOptions, type PluginServerComponents } from './server.js'
export { GAS_MODEL } from './gas.js'
