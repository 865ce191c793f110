import { GalacticError } from '@galactic/schemas'

/**
 * The GalacticError `p` rejects with, for assertions on its code. Fails the test when `p`
 * resolves, or rejects with anything that is not a GalacticError.
 */
export async function rejection(p: Promise<unknown>): Promise<GalacticError> {
  try {
    await p
  } catch (err) {
    if (err instanceof GalacticError) return err
    throw new Error(`expected a GalacticError, got ${String(err)}`, { cause: err })
  }
  throw new Error('expected a rejection')
}
