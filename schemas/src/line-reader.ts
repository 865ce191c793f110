/**
 * The plugin protocol's framing: one JSON-RPC message per line, each line bounded.
 *
 * Splits a byte stream into newline-terminated UTF-8 lines, at most `maxBytes` each (without the
 * newline). A longer line is dropped whole and reported once through `onOverflow`. Blank lines are
 * skipped; a trailing `\r` is removed.
 */
export class LineReader {
  readonly #maxBytes: number
  readonly #onLine: (line: string) => void
  readonly #onOverflow: () => void
  #parts: Buffer[] = []
  #length = 0
  #discarding = false

  constructor(maxBytes: number, onLine: (line: string) => void, onOverflow: () => void) {
    this.#maxBytes = maxBytes
    this.#onLine = onLine
    this.#onOverflow = onOverflow
  }

  push(chunk: Buffer): void {
    let start = 0
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start)
      const end = nl === -1 ? chunk.length : nl
      if (!this.#discarding) {
        const piece = chunk.subarray(start, end)
        if (this.#length + piece.length > this.#maxBytes) {
          this.#discarding = true
          this.#parts = []
          this.#length = 0
          this.#onOverflow()
        } else if (piece.length > 0) {
          // Keep a copy of an unfinished line: the stream may reuse its chunk.
          this.#parts.push(nl === -1 ? Buffer.from(piece) : piece)
          this.#length += piece.length
        }
      }
      if (nl === -1) return
      if (this.#discarding) this.#discarding = false
      else this.#flush()
      start = nl + 1
    }
  }

  /** The stream ended: emits an unterminated last line, if any. */
  end(): void {
    if (!this.#discarding) this.#flush()
    this.#discarding = false
  }

  #flush(): void {
    if (this.#length === 0) return
    let line = Buffer.concat(this.#parts, this.#length).toString('utf8')
    this.#parts = []
    this.#length = 0
    if (line.endsWith('\r')) line = line.slice(0, -1)
    if (line.trim() !== '') this.#onLine(line)
  }
}
