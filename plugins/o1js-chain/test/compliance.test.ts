import { beforeAll } from 'vitest'
import { pluginCompliance } from '../../../plugin-runtime/test/compliance.js'
import { processTarget } from '../../../plugin-runtime/test/process-target.js'
import { o1jsChainPlugin } from './fixture.js'
import { ensureKeys } from './keys.js'

/**
 * The plugin compliance suite (plugin-runtime/test/compliance.ts) for o1js-chain on the process
 * runtime; the fixture is in fixture.ts.
 */

// `init` checks the key cache; fill it first if this checkout has none.
beforeAll(ensureKeys, 900_000)

pluginCompliance('o1js-chain on the process runtime', processTarget, o1jsChainPlugin)
