/**
 * The prover process: forked by the plugin (`Prover` in prover.ts) to make proofs. It compiles the
 * program with the key cache (seconds), checks the verification key against
 * `verification-key.json`, answers `ready`, then proves one request at a time. A proof blocks this
 * process' event loop for its whole duration (tens of seconds): that is why it is not done in the
 * plugin process, which stays free to answer `stop` and cancels a proof by killing this one.
 *
 * Arguments: the key cache folder, the plugin process' pid. Messages: prover-protocol.ts, over the
 * IPC channel.
 */
import { Worker } from 'node:worker_threads'
import { GalacticError } from '@galactic/schemas'
import { KeyCache } from './keys.js'
import { loadO1js, loadedBackend } from './o1js.js'
import { ProverRequest, type ProofStats, type ProverMessage } from './prover-protocol.js'

// stdout and stderr go to the plugin's log; o1js' console output with them.
console.log = console.error
console.info = console.error

function send(message: ProverMessage): void {
  process.send?.(message)
}

/** Says why it cannot serve, then exits. */
function fatal(code: 'PLUGIN_FAILED' | 'INTERNAL', message: string): void {
  process.send?.({ type: 'fatal', code, message } satisfies ProverMessage, () => process.exit(1))
}

if (process.send === undefined) {
  console.error('the o1js-chain prover process is started by the plugin (it needs an IPC channel)')
  process.exit(2)
}

// The plugin process can be killed (SIGKILL) while this one is deep in a proof with its event loop
// blocked, so 'disconnect' would come only when the proof is done. A thread of its own checks every
// quarter second whether the parent is still the plugin process that started this one (its pid is
// the second argument: by the time this code runs, the parent may already be gone), and ends this
// process at once when it is not.
const parent = Number(process.argv[3])
const watchdog = new Worker(
  `const { workerData } = require('node:worker_threads')
const check = () => { if (process.ppid !== workerData.parent) process.kill(workerData.pid, 'SIGKILL') }
check()
setInterval(check, 250)`,
  { eval: true, workerData: { parent: Number.isInteger(parent) && parent > 0 ? parent : process.ppid, pid: process.pid } },
)
watchdog.unref()
process.on('disconnect', () => process.exit(0))

function stats(wallStart: number, cpuStart: NodeJS.CpuUsage): ProofStats {
  const cpu = process.cpuUsage(cpuStart)
  return { ms: performance.now() - wallStart, cpuMs: (cpu.user + cpu.system) / 1000, maxRssMiB: process.resourceUsage().maxRSS / 1024, rssMiB: process.memoryUsage.rss() / 2 ** 20 }
}

async function main(): Promise<void> {
  const keys = new KeyCache(process.argv[2])
  let expected: string
  try {
    expected = keys.check().hash
  } catch (err) {
    fatal('PLUGIN_FAILED', GalacticError.from(err).message)
    return
  }
  await loadO1js()
  const { compileChainProgram, firstLine } = await import('./program.js')
  const started = performance.now()
  const program = await compileChainProgram(keys.dir, false)
  const hash = program.verificationKey.hash
  if (hash !== expected) {
    fatal('PLUGIN_FAILED', `the program compiles to verification key ${hash}, but ${keys.file} has ${expected}: run the setup again`)
    return
  }
  send({ type: 'ready', verificationKeyHash: hash, backend: loadedBackend() ?? 'wasm', compileMs: performance.now() - started })

  const serve = async (request: ProverRequest): Promise<void> => {
    const wall = performance.now()
    const cpu = process.cpuUsage()
    try {
      const proof = request.op === 'leaf' ? await program.leaf(BigInt(request.start), request.offset) : await program.merge(request.left, request.right)
      send({ type: 'proof', id: request.id, proof, stats: stats(wall, cpu) })
    } catch (err) {
      // TASK_INVALID: a child proof refused by the program, or a merge witness the circuit's
      // constraints reject (a plain Error: proofs that do not continue each other). Anything else,
      // a leaf included (its inputs are checked before), is the prover's own failure.
      const code = GalacticError.is(err) ? (err.code === 'TASK_INVALID' ? 'TASK_INVALID' : 'INTERNAL') : request.op === 'merge' ? 'TASK_INVALID' : 'INTERNAL'
      send({ type: 'error', id: request.id, code, message: GalacticError.is(err) ? err.message : `the circuit refused the ${request.op}: ${firstLine(err)}` })
    }
  }

  // One proof at a time, in arrival order.
  let queue = Promise.resolve()
  process.on('message', (raw: unknown) => {
    const parsed = ProverRequest.safeParse(raw)
    if (!parsed.success) {
      const id = (raw as { id?: unknown } | null)?.id
      send({ type: 'error', id: typeof id === 'number' ? id : 0, code: 'INTERNAL', message: `bad prover request: ${parsed.error.issues[0]?.message ?? ''}` })
      return
    }
    queue = queue.then(() => serve(parsed.data))
  })
}

main().catch((err: unknown) => fatal('INTERNAL', `the prover failed to start: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`))
