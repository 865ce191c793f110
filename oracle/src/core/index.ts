export * from './types.js'
export * from './filters.js'
export * from './scheduler.js'
