export { program } from './program.js'
export * from './processes.js'
