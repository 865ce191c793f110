/**
 * Typed loaders for the untyped packages this plugin uses (snarkjs, circomlibjs). Loaded by a
 * computed specifier so no ambient declaration is needed; no public type refers to them.
 */

export interface Snarkjs {
  groth16: {
    fullProve(
      input: Record<string, unknown>,
      wasmFile: string,
      zkeyFile: string,
    ): Promise<{ proof: Record<string, unknown>; publicSignals: string[] }>
    verify(vkey: unknown, publicSignals: unknown, proof: unknown, logger?: unknown): Promise<boolean>
  }
}

export interface PoseidonHasher {
  (inputs: Array<bigint | number>): Uint8Array
  F: { toObject(element: Uint8Array): bigint }
}

export interface Circomlibjs {
  buildPoseidon(): Promise<PoseidonHasher>
  buildPoseidonReference(): Promise<PoseidonHasher>
}

const load = (name: string): Promise<unknown> => import(name)

let snarkjs: Promise<Snarkjs> | undefined
let circomlibjs: Promise<Circomlibjs> | undefined

export function loadSnarkjs(): Promise<Snarkjs> {
  snarkjs ??= load('snarkjs') as Promise<Snarkjs>
  return snarkjs
}

export function loadCircomlibjs(): Promise<Circomlibjs> {
  circomlibjs ??= load('circomlibjs') as Promise<Circomlibjs>
  return circomlibjs
}
