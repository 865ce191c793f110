#!/usr/bin/env node
/**
 * The o1js-chain plugin process: newline-delimited JSON-RPC 2.0 requests on stdin, one response
 * line each on stdout, diagnostics on stderr. Proofs are made in a child process (the prover); the
 * plugin exits after `stop` without a taskId, when stdin closes and on SIGTERM, killing the
 * prover first. See docs/plugins.md.
 */
import { runPluginProcess } from '@galactic/plugin-kit'
import { o1jsChainPlugin } from './server.js'

runPluginProcess(o1jsChainPlugin())
