/**
 * Things to undo at the end of a bench, last added first: processes to stop, connections to close,
 * folders to remove. `run` is idempotent and never throws: each step gets `stepTimeoutMs`, and what
 * failed is returned as text.
 */
export class Cleanup {
  readonly #steps: Array<{ what: string; run: () => Promise<void> | void }> = []
  #running: Promise<string[]> | undefined
  readonly #stepTimeoutMs: number

  constructor(stepTimeoutMs = 15_000) {
    this.#stepTimeoutMs = stepTimeoutMs
  }

  add(what: string, run: () => Promise<void> | void): void {
    if (this.#running !== undefined) {
      // Added after cleanup began (a process that became ready late): undo it at once.
      void Promise.resolve().then(run).catch(() => {})
      return
    }
    this.#steps.push({ what, run })
  }

  run(): Promise<string[]> {
    this.#running ??= this.#run()
    return this.#running
  }

  async #run(): Promise<string[]> {
    const failures: string[] = []
    for (const step of this.#steps.reverse()) {
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([
          Promise.resolve().then(step.run),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`took over ${this.#stepTimeoutMs} ms`)), this.#stepTimeoutMs)
          }),
        ])
      } catch (err) {
        failures.push(`${step.what}: ${(err as Error).message}`)
      } finally {
        clearTimeout(timer)
      }
    }
    this.#steps.length = 0
    return failures
  }
}
