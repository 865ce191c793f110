import type { ScorePlugin } from './types.js'

/** Idle first: 100 for an idle prover, then 100 / (1 + running ops): fewer running ops score higher. */
export const idleScore: ScorePlugin = {
  name: 'idle',
  score: (_ctx, p) => 100 / (1 + p.running),
}

/**
 * Measured speed for this kind of op: `100 * ref / (ref + own)`, where `own` is this prover's
 * run time EWMA for the op's name and `ref` the mean over every prover that ran it. 50 when
 * either is unknown (neutral); above 50 when faster than the mean, below when slower.
 */
export const speedScore: ScorePlugin = {
  name: 'speed',
  skip: (ctx) => ctx.referenceMs === undefined,
  score(ctx, p) {
    const ref = ctx.referenceMs
    const own = p.speed.get(ctx.op.spec.name)
    if (ref === undefined || own === undefined) return 50
    const sum = ref + own
    return sum <= 0 ? 50 : (100 * ref) / sum
  },
}

/** Holds the op's inputs: the share of the op's inputs this prover produced (fewer transfers). 0 without inputs. */
export const localityScore: ScorePlugin = {
  name: 'locality',
  skip: (ctx) => ctx.inputHolders.size === 0,
  score(ctx, p) {
    if (ctx.inputCount === 0) return 0
    return (100 * (ctx.inputHolders.get(p.record.proverId) ?? 0)) / ctx.inputCount
  },
}

/**
 * Cost: the smallest device that fits scores highest. 100 for a device that matches the op's
 * requirements exactly; each GPU beyond what the op needs and each doubling of cores beyond
 * what it needs lower it: `100 / (1 + spareGpus + 0.1 * log2(cores / neededCores))`.
 */
export const costScore: ScorePlugin = {
  name: 'cost',
  score(ctx, p) {
    const req = ctx.op.spec.requirements
    const d = p.record.device
    const spareGpus = Math.max(0, d.gpus.length - (req.gpu?.count ?? 0))
    const needCores = Math.max(1, req.cpu?.minCores ?? 1)
    const spareCores = Math.max(0, Math.log2(d.cpu.cores / needCores))
    return 100 / (1 + spareGpus + 0.1 * spareCores)
  },
}

/** The built-in score plugins. */
export const DEFAULT_SCORES: readonly ScorePlugin[] = [idleScore, localityScore, speedScore, costScore]
