import { createHash, randomBytes } from 'node:crypto'

/** The environment variable that fixes the chaos suite's seed, to replay a failure. */
export const SEED_ENV = 'GALACTIC_CHAOS_SEED'

/** A seeded pseudo-random source: the same seed and scenario give the same choices. */
export interface Random {
  /** The suite's seed (from GALACTIC_CHAOS_SEED, else fresh). */
  readonly seed: string
  /** A number in [0, 1). */
  next(): number
  /** An integer in [min, max]. */
  int(min: number, max: number): number
  /** The items in a random order (a copy). */
  shuffle<T>(items: readonly T[]): T[]
  /** `count` distinct integers in [min, max], ascending. */
  distinct(count: number, min: number, max: number): number[]
}

/**
 * The random source of one chaos scenario. The seed comes from GALACTIC_CHAOS_SEED or is drawn
 * fresh; it is printed with the command that replays it. Each scenario draws from its own stream
 * (sha256 of seed and scenario name, then mulberry32), so one scenario's choices do not depend on
 * which others ran.
 */
export function chaosRandom(scenario: string): Random {
  const fixed = process.env[SEED_ENV]
  const seed = fixed !== undefined && fixed !== '' ? fixed : randomBytes(4).toString('hex')
  console.log(`[chaos] ${scenario}: seed ${seed} (replay: ${SEED_ENV}=${seed} npm run test:chaos)`)
  let state = createHash('sha256').update(`${seed}/${scenario}`).digest().readUInt32BE(0)
  const next = (): number => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1))
  return {
    seed,
    next,
    int,
    shuffle: (items) => {
      const out = [...items]
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(0, i)
        ;[out[i], out[j]] = [out[j] as (typeof out)[number], out[i] as (typeof out)[number]]
      }
      return out
    },
    distinct: (count, min, max) => {
      if (max - min + 1 < count) throw new RangeError(`cannot draw ${count} distinct integers from [${min}, ${max}]`)
      const picked = new Set<number>()
      while (picked.size < count) picked.add(int(min, max))
      return [...picked].sort((a, b) => a - b)
    },
  }
}
