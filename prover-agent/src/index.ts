export { ProverAgent, AGENT_VERSION, type ProverAgentComponents } from './agent.js'
export type { ProverAgentInit } from './options.js'
export { detectDevice, parseNvidiaSmi } from './device.js'

