import { readFileSync } from 'node:fs'
import { compileCostModel, DEFAULT_GAS_TABLE, opGas, parseGasTable, type CompiledCostModel } from '@galactic/gas'
import { GalacticError, type GasTable } from '@galactic/schemas'
import type { GasModels } from './book.js'

/** The price book's gas arithmetic, from @galactic/gas with one gas table. */
export function gasModels(table: GasTable): GasModels<CompiledCostModel> {
  return {
    compile: (model) => compileCostModel(model),
    opGas: (compiled, opName, params) => opGas(table, compiled, opName, params).gas,
  }
}

/** The gas table at `path` (written by `galactic gas calibrate`), or the built-in one for null. */
export function loadGasTable(path: string | null): GasTable {
  if (path === null) return DEFAULT_GAS_TABLE
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new GalacticError('INVALID_INPUT', `gas table ${path}: ${(err as Error).message}`, { path })
  }
  return parseGasTable(value, `gas table ${path}`)
}
