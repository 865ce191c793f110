export {
  definePlugin,
  type DescribeResult,
  type MaybePromise,
  type PluginConfigValue,
  type PluginContext,
  type PluginDefinition,
  type StartResult,
  type StartTask,
  type VerifyResult,
  type VerifyTask,
} from './definition.js'
export { PluginServer, createPluginServer, type PluginServerComponents } from './server.js'
export { runPluginProcess, type PluginProcessIo, type PluginProcessOptions } from './process.js'
export { canonicalJson, decodeInput, decodeOutput, expectInputs, jsonOutput, taskInvalid, type JsonSchema } from './task-io.js'
export { segmentOf, splitChain, type ChainSegment, type ChainSplit, type HashChain } from './zkm-chain.js'
