export * from './chain.js'
export { Artifacts, PLUGIN_DIR, SETUP_COMMAND, defaultArtifactsDir, type Circuit } from './artifacts.js'
export { releaseProver } from './groth16.js'
export { GAS_MODEL, VERIFY_MULS } from './gas.js'
export {
  aggregateProofs,
  checkProof,
  checkSegmentProof,
  continuityError,
  leaves,
  makeSnark,
  proveSegment,
  span,
  verifyFinal,
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
export { asInput, decodeOutput, runPipeline, type PipelineResult, type RunPipelineOptions } from './pipeline.js'
export { PluginConfig, PluginServer, groth16ChainPlugin, type Groth16PluginOptions, type PluginServerComponents } from './server.js'
