import { GalacticError } from '@galactic/schemas'

/**
 * The GalacticError `p` rejects with, with `code` when one is given. Fails the test when `p`
 * resolves, or rejects with anything else (another error, or a GalacticError with another code).
 */
export async function rejection(p: Promise<unknown>, code?: GalacticError['code']): Promise<GalacticError> {
  try {
    await p
  } catch (err) {
    if (err instanceof GalacticError && (code === undefined || err.code === code)) return err
    throw new Error(`expected ${code ?? 'a GalacticError'}, got ${String(err)}`, { cause: err })
  }
  throw new Error(`expected ${code ?? 'a rejection'}, it resolved`)
}

/**
 * The GalacticError `fn` throws, with `code` when one is given. Fails the test when `fn` returns,
 * or throws anything else (another error, or a GalacticError with another code).
 */
export function thrown(fn: () => unknown, code?: GalacticError['code']): GalacticError {
  try {
    fn()
  } catch (err) {
    if (err instanceof GalacticError && (code === undefined || err.code === code)) return err
    throw err
  }
  throw new Error(`expected ${code ?? 'a GalacticError'}, nothing was thrown`)
}
