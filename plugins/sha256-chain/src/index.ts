export * from './chain.js'
export { OP_NAMES, OP_PARAMS, PLUGIN_NAME, PLUGIN_VERSION, MAX_SEGMENTS, MAX_SEGMENT_STEPS, parseOpParams, runOp, split, verifyOp } from './ops.js'
export type { OpName, OpParams, VerifyResult } from './ops.js'
export { describePlugin, PLUGIN_RESOURCES } from './server.js'
export { GAS_MODEL } from './gas.js'
export { PluginServer, sha256ChainPlugin } from './server.js'
export type { PluginServerComponents } from './server.js'

