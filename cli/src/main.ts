#!/usr/bin/env node
// libp2p needs Promise.withResolvers (Node 20 lacks it): load the polyfill before anything else.
import '@galactic/net/polyfill'
import { program } from './program.js'

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
