export { OP_NAMES, OUTPUT_NAMES, PLUGIN_NAME, PLUGIN_VERSION, canonicalJson, outputBytes, runOp, verifyOp } from './ops.js'
export type { OpName, VerifyResult } from './ops.js'
export { describePlugin, noopPlugin, PluginServer } from './server.js'
export type { PluginServerComponents } from './server.js'
