/** Polls `check` every `everyMs` until it returns a value other than undefined; fails after `withinMs`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, withinMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + withinMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`${what}: not within ${withinMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
