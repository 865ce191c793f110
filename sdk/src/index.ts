export {
  GalacticClient,
  type GalacticClientInit,
  type CallOptions,
  type WatchEvent,
  type WatchOptions,
  type GraphOutput,
  type GraphResult,
} from './client.js'
export { GalacticError, buildZkmGraph, parseGraph } from '@galactic/schemas'
export type { ErrorCode, Explanation, GraphInput, GraphStatus, GraphEvent, GraphSummary, OpState, OpStatus, ProverStatus, ZkmGraphOptions } from '@galactic/schemas'
