#!/usr/bin/env node
// Compiles contracts/PGasOracle.sol with solc-js (the npm `solc`, pinned: no download, no native
// compiler) and writes contracts/PGasOracle.json: the ABI and the bytecode that tests and operators
// deploy. The JSON is committed, so nothing compiles at run time.
//
//   node contracts/build.mjs           write contracts/PGasOracle.json
//   node contracts/build.mjs --check   exit 1 if the committed JSON is not what the source compiles to
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import solc from 'solc'

export const CONTRACT = 'PGasOracle'
export const sourcePath = fileURLToPath(new URL(`./${CONTRACT}.sol`, import.meta.url))
export const artifactPath = fileURLToPath(new URL(`./${CONTRACT}.json`, import.meta.url))

/**
 * EVM version the bytecode targets. Shanghai (PUSH0) runs on every current Ethereum network and
 * on ganache 7, the local EVM of the tests; newer targets add opcodes ganache does not know.
 */
export const EVM_VERSION = 'shanghai'

/** Compiles the contract; returns the artifact as written to PGasOracle.json. Throws on any solc error. */
export function compile() {
  const input = {
    language: 'Solidity',
    sources: { [`${CONTRACT}.sol`]: { content: readFileSync(sourcePath, 'utf8') } },
    settings: {
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input)))
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`)
  const warnings = (output.errors ?? []).filter((e) => e.severity !== 'error')
  if (warnings.length > 0) throw new Error(`solc warnings (fix them):\n${warnings.map((e) => e.formattedMessage).join('\n')}`)
  const out = output.contracts[`${CONTRACT}.sol`][CONTRACT]
  return {
    contractName: CONTRACT,
    compiler: `solc-js ${solc.version()}`,
    evmVersion: EVM_VERSION,
    abi: out.abi,
    bytecode: `0x${out.evm.bytecode.object}`,
    deployedBytecode: `0x${out.evm.deployedBytecode.object}`,
  }
}

/** The artifact's file text: stable JSON, two-space indent, trailing newline. */
export function artifactText(artifact) {
  return `${JSON.stringify(artifact, null, 2)}\n`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = artifactText(compile())
  if (process.argv.includes('--check')) {
    let committed = ''
    try {
      committed = readFileSync(artifactPath, 'utf8')
    } catch {}
    if (committed !== text) {
      process.stderr.write(`${artifactPath} is stale: run node contracts/build.mjs\n`)
      process.exit(1)
    }
    process.stdout.write(`${artifactPath} is current\n`)
  } else {
    writeFileSync(artifactPath, text)
    process.stdout.write(`wrote ${artifactPath}\n`)
  }
}
