/**
 * Preloaded with `--import` (through NODE_OPTIONS, where `--cpu-prof` is not allowed) into a
 * process the e2e bench profiles: samples its CPU with the inspector from start to exit and writes
 * `<pid>.cpuprofile` into GALACTIC_E2E_CPU_PROF_DIR. Child processes inherit it and write their own.
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { join } from 'node:path'

const dir = process.env['GALACTIC_E2E_CPU_PROF_DIR']
if (dir !== undefined && dir !== '') {
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.start')
  // A session on this thread answers synchronously, so this works inside 'exit'.
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err === null) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile))
    })
  })
}
