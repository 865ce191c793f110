export * from './chain.js'
export { OP_NAMES, OP_PARAMS, PLUGIN_NAME, PLUGIN_VERSION, MAX_SEGMENTS, MAX_SEGMENT_STEPS, parseOpParams, runOp, split } from './ops.js'
export type { OpName, OpParams } from './ops.js'
export { PluginServer } from './server.js'
export type { PluginServerComponents } from './server.js'

