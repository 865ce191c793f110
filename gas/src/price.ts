import { GalacticError, Wei } from '@galactic/schemas'

/**
 * P = P_gas x Gas, in wei, with bigint arithmetic (prices outgrow JavaScript numbers).
 *
 * @example
 * price(1_000_000, 2_000_000_000n) // 2000000000000000n wei
 */
export function price(gas: number | bigint, pGasWei: bigint): bigint {
  if (typeof gas === 'number' && (!Number.isSafeInteger(gas) || gas < 0)) {
    throw new GalacticError('INVALID_INPUT', `gas must be a non-negative safe integer, got ${gas}`)
  }
  if (pGasWei < 0n) throw new GalacticError('INVALID_INPUT', `P_gas must be >= 0 wei, got ${pGasWei}`)
  return BigInt(gas) * pGasWei
}

/**
 * Parses an amount in wei written as a decimal string (no sign, no leading zeros, no decimal point),
 * or throws INVALID_INPUT naming `field` and the problem.
 */
export function parseWei(text: string, field = 'wei'): bigint {
  const parsed = Wei.safeParse(text)
  if (!parsed.success) {
    const problem = `${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)} is not an integer amount of wei (a decimal string of digits, no sign, decimal point or leading zeros)`
    throw new GalacticError('INVALID_INPUT', `${field}: ${problem}`, { issues: [{ path: field, message: problem }] })
  }
  return BigInt(parsed.data)
}
