export { OracleNode, ORACLE_VERSION, type OracleComponents } from './oracle-node.js'
export { resolveOracleInit, type OracleInit } from './options.js'
export * from './core/index.js'
export { Journal, type JournalInit } from './journal/index.js'
