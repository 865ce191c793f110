import { Groth16Proof } from './chain.js'
import type { Circuit } from './artifacts.js'
import { loadSnarkjs } from './vendor.js'

/**
 * snarkjs, kept in this process. snarkjs shares one multi-threaded bn128 curve (worker threads) in
 * `globalThis.curve_bn128`; {@link releaseProver} terminates it so the process can exit. The next
 * prove or verify builds a new one.
 */

/** Proves `input` with the circuit's wasm and zkey; returns the proof and public signals. */
export async function prove(circuit: Circuit, input: Record<string, unknown>): Promise<{ proof: Groth16Proof; publicSignals: string[] }> {
  const { groth16 } = await loadSnarkjs()
  const { proof, publicSignals } = await groth16.fullProve(input, circuit.wasm, circuit.zkey)
  return { proof: Groth16Proof.parse(proof), publicSignals }
}

/** snarkjs' Groth16 check against the circuit's verification key; a malformed proof is `false`. */
export async function verifyProof(circuit: Circuit, publicSignals: readonly string[], proof: Groth16Proof): Promise<boolean> {
  const { groth16 } = await loadSnarkjs()
  try {
    return await groth16.verify(circuit.vkey, publicSignals, proof)
  } catch {
    return false
  }
}

interface Terminable {
  terminate?: () => Promise<void>
}

/** Terminates snarkjs' worker threads, if any. Safe to call at any time no proof is running. */
export async function releaseProver(): Promise<void> {
  const g = globalThis as { curve_bn128?: Terminable | null }
  const curve = g.curve_bn128
  if (curve !== null && curve !== undefined && typeof curve.terminate === 'function') await curve.terminate()
  g.curve_bn128 = null
}
