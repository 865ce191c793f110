#!/usr/bin/env node
/**
 * The sha256-chain plugin process: newline-delimited JSON-RPC 2.0 requests on stdin, one
 * response line each on stdout, diagnostics on stderr. See README.md.
 */
import { runPluginProcess } from '@galactic/plugin-kit'
import { sha256ChainPlugin } from './server.js'

runPluginProcess(sha256ChainPlugin)
