import { Cache, Field, Poseidon, SelfProof, Struct, ZkProgram } from 'o1js'
import { GalacticError } from '@galactic/schemas'
import { SEGMENT_SIZE, type JsonProof } from './chain.js'
import { PROGRAM_NAME, type VerificationKey } from './keys.js'

/**
 * The recursive o1js program (Pickles, over the Pasta curves): one ZkProgram, two methods, one
 * claim as public output. Loaded only where proofs are made (the prover process, the setup
 * script): verifying needs the verification key only. Choose the backend (`loadO1js()`) before
 * compiling it. o1js' own types stay inside this module.
 */

/** What every proof of the program claims: the chain takes `start` = s(offset) to `end` = s(offset + steps). */
class Claim extends Struct({ start: Field, offset: Field, steps: Field, end: Field }) {}

/**
 * - `leaf(start, offset)`: runs {@link SEGMENT_SIZE} chain steps `s <- Poseidon(s, offset + j)` in
 *   the circuit; claims `{ start, offset, steps: 16, end }`.
 * - `merge(left, right)`: verifies both proofs inside the circuit (real recursion), checks
 *   `left.end = right.start` and `left.offset + left.steps = right.offset`, and claims
 *   `{ left.start, left.offset, left.steps + right.steps, right.end }`.
 */
const ChainProgram = ZkProgram({
  name: PROGRAM_NAME,
  publicOutput: Claim,
  methods: {
    leaf: {
      privateInputs: [Field, Field],
      async method(start: Field, offset: Field) {
        let s = start
        for (let j = 0; j < SEGMENT_SIZE; j++) s = Poseidon.hash([s, offset.add(j)])
        return { publicOutput: new Claim({ start, offset, steps: Field(SEGMENT_SIZE), end: s }) }
      },
    },
    merge: {
      privateInputs: [SelfProof, SelfProof],
      async method(left: SelfProof<undefined, Claim>, right: SelfProof<undefined, Claim>) {
        left.verify()
        right.verify()
        const l = left.publicOutput
        const r = right.publicOutput
        l.end.assertEquals(r.start, 'merge: the left proof does not end where the right one starts')
        l.offset.add(l.steps).assertEquals(r.offset, 'merge: the right proof does not start at the step after the left one')
        return { publicOutput: new Claim({ start: l.start, offset: l.offset, steps: l.steps.add(r.steps), end: r.end }) }
      },
    },
  },
})

const ChainProgramProof = ZkProgram.Proof(ChainProgram)

/** The compiled program: what the prover process proves with. */
export interface CompiledProgram {
  verificationKey: VerificationKey
  /** A leaf proof: 16 steps from `start` = s(offset). */
  leaf(start: bigint, offset: number): Promise<JsonProof>
  /**
   * A merge proof. Verifies both proofs first: one that is malformed or does not verify is
   * TASK_INVALID; proofs that do not continue each other fail in the circuit (an Error).
   */
  merge(left: JsonProof, right: JsonProof): Promise<JsonProof>
}

/** The first line of an error's message, cut short: o1js' messages carry long constraint dumps. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return (text.split('\n').find((l) => l.trim() !== '') ?? text).slice(0, 1000)
}

/**
 * Compiles the program with the key cache in `cacheDir`: seconds when it is filled, minutes when
 * o1js has to make the SRS and keys (and writes them there when `canWrite`).
 */
export async function compileChainProgram(cacheDir: string, canWrite: boolean): Promise<CompiledProgram> {
  const cache = { ...Cache.FileSystem(cacheDir), canWrite }
  const { verificationKey } = await ChainProgram.compile({ cache })
  const readProof = async (json: JsonProof, side: string): Promise<InstanceType<typeof ChainProgramProof>> => {
    let proof: InstanceType<typeof ChainProgramProof>
    try {
      proof = await ChainProgramProof.fromJSON(json)
    } catch (err) {
      throw new GalacticError('TASK_INVALID', `the ${side} proof is malformed: ${firstLine(err)}`)
    }
    if (!(await ChainProgram.verify(proof))) throw new GalacticError('TASK_INVALID', `the ${side} proof does not verify`)
    return proof
  }
  return {
    verificationKey: { hash: verificationKey.hash.toString(), data: verificationKey.data },
    async leaf(start, offset) {
      const { proof } = await ChainProgram.leaf(Field(start), Field(offset))
      return proof.toJSON() as JsonProof
    },
    async merge(leftJson, rightJson) {
      const left = await readProof(leftJson, 'left')
      const right = await readProof(rightJson, 'right')
      const { proof } = await ChainProgram.merge(left, right)
      return proof.toJSON() as JsonProof
    },
  }
}

/** The size of each method's circuit (rows of the Kimchi constraint system), without compiling. */
export async function programRows(): Promise<Record<'leaf' | 'merge', number>> {
  const methods = await ChainProgram.analyzeMethods()
  return { leaf: methods.leaf.rows, merge: methods.merge.rows }
}
