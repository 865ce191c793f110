// ethers 6, the one the oracle depends on (oracle/package.json), for tests outside a workspace.
// A bare `import 'ethers'` from test/ finds the repository root's node_modules/ethers, which is
// ethers 5, hoisted there for circomlibjs (plugins/groth16-chain): another API. When npm stops
// nesting ethers 6 under oracle/ (say ethers 6 becomes a root devDependency), this import fails
// at build time: point it at plain 'ethers' then.
export * from '../../oracle/node_modules/ethers/lib.esm/index.js'
