#!/usr/bin/env node
/**
 * The groth16-chain plugin process: newline-delimited JSON-RPC 2.0 requests on stdin, one
 * response line each on stdout, diagnostics on stderr. It exits after `stop` without a taskId,
 * when stdin closes and on SIGTERM, ending snarkjs' worker threads first. See docs/plugins.md.
 */
import { runPluginProcess } from '@galactic/plugin-kit'
import { groth16ChainPlugin } from './server.js'

runPluginProcess(groth16ChainPlugin())
