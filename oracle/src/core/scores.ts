import type { PlacementContext, ProverView, ScorePlugin } from './types.js'

/** Idle first: 100 for an idle prover, then 100 / (1 + running ops): fewer running ops score higher. */
export const idleScore: ScorePlugin = {
  name: 'idle',
  score: (_ctx, p) => idle(p),
  scoreAll(_ctx, provers, count, weight, totals) {
    for (let i = 0; i < count; i++) totals[i] = (totals[i] as number) + weight * idle(provers[i] as ProverView)
  },
}

function idle(p: ProverView): number {
  return 100 / (1 + p.running)
}

/**
 * Measured speed for this kind of op: `100 * ref / (ref + own)`, where `own` is this prover's
 * run time EWMA for the op's name and `ref` the mean over every prover that ran it. 50 when
 * either is unknown (neutral); above 50 when faster than the mean, below when slower.
 */
export const speedScore: ScorePlugin = {
  name: 'speed',
  skip: (ctx) => ctx.referenceMs === undefined,
  score: (ctx, p) => speed(ctx, p),
  scoreAll(ctx, provers, count, weight, totals) {
    for (let i = 0; i < count; i++) totals[i] = (totals[i] as number) + weight * speed(ctx, provers[i] as ProverView)
  },
}

function speed(ctx: PlacementContext, p: ProverView): number {
  const ref = ctx.referenceMs
  const own = ctx.speedOf(p)
  if (ref === undefined || own === undefined) return 50
  const sum = ref + own
  return sum <= 0 ? 50 : (100 * ref) / sum
}

/** Holds the op's inputs: the share of the op's inputs this prover produced (fewer transfers). 0 without inputs. */
export const localityScore: ScorePlugin = {
  name: 'locality',
  skip: (ctx) => ctx.inputHolders.size === 0,
  score: (ctx, p) => locality(ctx, p),
  scoreAll(ctx, provers, count, weight, totals) {
    for (let i = 0; i < count; i++) totals[i] = (totals[i] as number) + weight * locality(ctx, provers[i] as ProverView)
  },
}

function locality(ctx: PlacementContext, p: ProverView): number {
  if (ctx.inputCount === 0) return 0
  return (100 * ctx.heldBy(p)) / ctx.inputCount
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
    return cost(p, req.gpu?.count ?? 0, Math.max(1, req.cpu?.minCores ?? 1))
  },
  scoreAll(ctx, provers, count, weight, totals) {
    const req = ctx.op.spec.requirements
    const needGpus = req.gpu?.count ?? 0
    const needCores = Math.max(1, req.cpu?.minCores ?? 1)
    for (let i = 0; i < count; i++) totals[i] = (totals[i] as number) + weight * cost(provers[i] as ProverView, needGpus, needCores)
  },
}

function cost(p: ProverView, needGpus: number, needCores: number): number {
  const spareGpus = Math.max(0, p.gpuCount - needGpus)
  const spareCores = Math.max(0, Math.log2(p.cores / needCores))
  return 100 / (1 + spareGpus + 0.1 * spareCores)
}

/** The built-in score plugins. */
export const DEFAULT_SCORES: readonly ScorePlugin[] = [idleScore, localityScore, speedScore, costScore]
