import { GalacticError } from '@galactic/schemas'
import { DEFAULT_FILTERS, REQUIRED_FILTERS } from './filters.js'
import { DEFAULT_SCORES } from './scores.js'
import type { FilterPlugin, PluginRegistry, SchedulerProfile, ScorePlugin } from './types.js'

/** A registry of the built-in plugins plus `extra` ones (an extra plugin replaces a built-in of the same name). */
export function createRegistry(extra: { filters?: readonly FilterPlugin[]; scores?: readonly ScorePlugin[] } = {}): PluginRegistry {
  return {
    filters: new Map([...DEFAULT_FILTERS, ...(extra.filters ?? [])].map((f) => [f.name, f])),
    scores: new Map([...DEFAULT_SCORES, ...(extra.scores ?? [])].map((s) => [s.name, s])),
  }
}

/** The built-in plugins by name. */
export const DEFAULT_REGISTRY: PluginRegistry = createRegistry()

/** Every built-in filter in order; idle first, then inputs locality, measured speed, cost. */
export const DEFAULT_PROFILE: Required<SchedulerProfile> = Object.freeze({
  filters: Object.freeze(DEFAULT_FILTERS.map((f) => f.name)),
  scores: Object.freeze({ idle: 10, locality: 3, speed: 2, cost: 1 }),
  candidatesToScore: 16,
})

/** A profile with its plugins looked up. */
export interface ResolvedProfile {
  readonly filters: readonly FilterPlugin[]
  readonly scores: ReadonlyArray<{ plugin: ScorePlugin; weight: number }>
  readonly candidatesToScore: number
}

/**
 * Looks a profile's plugins up in `registry`; fields it leaves out come from {@link DEFAULT_PROFILE}.
 *
 * @throws GalacticError `INVALID_INPUT` for an unknown or repeated plugin name, a missing required
 * filter (`live`, `capacity`, `plugin`), a negative or non-finite weight, or a bad candidatesToScore.
 */
export function resolveProfile(profile: SchedulerProfile | undefined, registry: PluginRegistry): ResolvedProfile {
  const names = profile?.filters ?? DEFAULT_PROFILE.filters
  const bad = (message: string, details: Record<string, unknown>): never => {
    throw new GalacticError('INVALID_INPUT', `profile: ${message}`, details)
  }
  if (new Set(names).size !== names.length) bad('a filter is listed twice', { filters: names })
  for (const r of REQUIRED_FILTERS) if (!names.includes(r)) bad(`filter ${r} is required`, { filter: r })
  const filters = names.map((n) => registry.filters.get(n) ?? bad(`unknown filter plugin ${n}`, { filter: n }))
  const weights = profile?.scores ?? DEFAULT_PROFILE.scores
  const scores = Object.entries(weights).map(([n, weight]) => {
    if (!Number.isFinite(weight) || weight < 0) bad(`score ${n} has weight ${weight}, needs a finite number >= 0`, { score: n, weight })
    return { plugin: registry.scores.get(n) ?? bad(`unknown score plugin ${n}`, { score: n }), weight }
  })
  const k = profile?.candidatesToScore ?? DEFAULT_PROFILE.candidatesToScore
  if (!Number.isInteger(k) || k < 1) bad('candidatesToScore must be an integer >= 1', { candidatesToScore: k })
  return { filters, scores: scores.filter((s) => s.weight > 0), candidatesToScore: k }
}
