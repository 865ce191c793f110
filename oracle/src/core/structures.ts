/** A binary min-heap under `less`. Its array keeps its capacity: `clear` and `pop` allocate nothing. */
export class Heap<T> {
  private readonly items: Array<T | undefined> = []
  private n = 0
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.n
  }

  peek(): T | undefined {
    return this.n > 0 ? this.items[0] : undefined
  }

  push(x: T): void {
    const a = this.items
    let i = this.n++
    if (i === a.length) a.push(x)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = a[parent] as T
      if (!this.less(x, p)) break
      a[i] = p
      i = parent
    }
    a[i] = x
  }

  pop(): T | undefined {
    if (this.n === 0) return undefined
    const a = this.items
    const top = a[0]
    const last = a[--this.n] as T
    a[this.n] = undefined
    if (this.n > 0) {
      a[0] = last
      this.siftDown()
    }
    return top
  }

  /** Restores order after the top item's key grew. */
  siftDown(): void {
    const a = this.items
    const n = this.n
    if (n === 0) return
    const x = a[0] as T
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let c = l
      if (r < n && this.less(a[r] as T, a[l] as T)) c = r
      const child = a[c] as T
      if (!this.less(child, x)) break
      a[i] = child
      i = c
    }
    a[i] = x
  }

  clear(): void {
    const a = this.items
    for (let i = 0; i < this.n; i++) a[i] = undefined
    this.n = 0
  }
}

/** Removes `a[i]`, keeping the order of the others, without allocating (unlike `splice`). */
export function removeAt<T>(a: T[], i: number): void {
  for (let k = i + 1; k < a.length; k++) a[k - 1] = a[k] as T
  a.pop()
}

/**
 * A small string -> count map, reused from one placement to the next (its arrays keep their
 * capacity). Read through the `ReadonlyMap` interface; keys in first-insertion order. Lookups
 * scan the keys while there are at most 8 and go through an index `Map` beyond.
 */
export class CountMap<O extends object = object> implements ReadonlyMap<string, number> {
  private readonly ids: string[] = []
  private readonly counts: number[] = []
  /** The object each key stands for, when known (see {@link countFor}). */
  private readonly owners: Array<O | undefined> = []
  /** Keys in use: the first `n` of each array. */
  private n = 0
  /** Key -> position, once there are more than 8 keys. */
  private index: Map<string, number> | undefined

  get size(): number {
    return this.n
  }

  /** Empties it, keeping its arrays. */
  reset(): void {
    const owners = this.owners
    for (let i = 0; i < this.n; i++) owners[i] = undefined
    this.n = 0
    this.index = undefined
  }

  /** Adds one to `id`'s count; `owner` is the object that `id` names, if any. */
  increment(id: string, owner: O | undefined): void {
    const i = this.position(id)
    if (i >= 0) {
      this.counts[i] = (this.counts[i] as number) + 1
      return
    }
    const n = this.n++
    this.index?.set(id, n)
    if (n < this.ids.length) {
      this.ids[n] = id
      this.counts[n] = 1
      this.owners[n] = owner
    } else {
      this.ids.push(id)
      this.counts.push(1)
      this.owners.push(owner)
    }
    if (this.index === undefined && this.n > 8) {
      this.index = new Map()
      for (let j = 0; j < this.n; j++) this.index.set(this.ids[j] as string, j)
    }
  }

  /** The owner of the `i`-th key (`i` < size). */
  ownerAt(i: number): O | undefined {
    return this.owners[i]
  }

  /** The `i`-th key in insertion order (`i` < size). */
  keyAt(i: number): string {
    return this.ids[i] as string
  }

  private position(id: string): number {
    if (this.index !== undefined) return this.index.get(id) ?? -1
    const ids = this.ids
    for (let i = 0; i < this.n; i++) if (ids[i] === id) return i
    return -1
  }

  /**
   * The count of the key whose owner is `owner` (0 when none), found by identity while there
   * are at most 8 keys; its key, `keyOf(owner)`, is looked up beyond that.
   */
  countFor(owner: O, keyOf: (owner: O) => string): number {
    if (this.index !== undefined) return this.get(keyOf(owner)) ?? 0
    const owners = this.owners
    for (let i = 0; i < this.n; i++) if (owners[i] === owner) return this.counts[i] as number
    return 0
  }

  get(id: string): number | undefined {
    const i = this.position(id)
    return i < 0 ? undefined : this.counts[i]
  }

  has(id: string): boolean {
    return this.position(id) >= 0
  }

  forEach(fn: (value: number, key: string, map: ReadonlyMap<string, number>) => void, thisArg?: unknown): void {
    for (let i = 0; i < this.n; i++) fn.call(thisArg, this.counts[i] as number, this.ids[i] as string, this)
  }

  /** A copy as a Map: the iteration methods go through it (placement never iterates). */
  private copy(): Map<string, number> {
    const m = new Map<string, number>()
    for (let i = 0; i < this.n; i++) m.set(this.ids[i] as string, this.counts[i] as number)
    return m
  }

  entries(): ReturnType<Map<string, number>['entries']> {
    return this.copy().entries()
  }

  keys(): ReturnType<Map<string, number>['keys']> {
    return this.copy().keys()
  }

  values(): ReturnType<Map<string, number>['values']> {
    return this.copy().values()
  }

  [Symbol.iterator](): ReturnType<Map<string, number>['entries']> {
    return this.copy().entries()
  }
}
