/** A binary min-heap under `less`. */
export class Heap<T> {
  private readonly items: T[] = []
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length
  }

  peek(): T | undefined {
    return this.items[0]
  }

  push(x: T): void {
    const a = this.items
    a.push(x)
    let i = a.length - 1
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
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      this.siftDown()
    }
    return top
  }

  /** Restores order after the top item's key grew. */
  siftDown(): void {
    const a = this.items
    const n = a.length
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
    this.items.length = 0
  }
}

/** A set with O(1) add, delete and indexed access (delete swaps the last item in). */
export class IndexedSet<T> {
  readonly items: T[] = []
  private readonly pos = new Map<T, number>()

  get size(): number {
    return this.items.length
  }

  has(x: T): boolean {
    return this.pos.has(x)
  }

  add(x: T): void {
    if (this.pos.has(x)) return
    this.pos.set(x, this.items.length)
    this.items.push(x)
  }

  delete(x: T): void {
    const i = this.pos.get(x)
    if (i === undefined) return
    this.pos.delete(x)
    const last = this.items.pop() as T
    if (i < this.items.length) {
      this.items[i] = last
      this.pos.set(last, i)
    }
  }
}
