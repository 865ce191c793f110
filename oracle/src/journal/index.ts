export * from './journal.js'
