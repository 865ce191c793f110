#!/usr/bin/env node
/**
 * The noop plugin process: newline-delimited JSON-RPC 2.0 requests on stdin, one response line
 * each on stdout. Every op answers at once; see README.md. Quiet: a stderr line per task (which the
 * agent logs) would cost more than the task and blur what the benchmarks measure.
 */
import { runPluginProcess } from '@galactic/plugin-kit'
import { noopPlugin } from './server.js'

runPluginProcess(noopPlugin, { quiet: true })
