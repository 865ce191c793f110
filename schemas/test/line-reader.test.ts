import { describe, expect, it } from 'vitest'
import { LineReader } from '../src/index.js'

describe('LineReader', () => {
  it('splits chunks into lines, drops an over-long line once and keeps going', () => {
    const lines: string[] = []
    let overflows = 0
    const r = new LineReader(8, (l) => lines.push(l), () => overflows++)
    r.push(Buffer.from('ab'))
    r.push(Buffer.from('c\r\n\n12345678\n123456789'))
    r.push(Buffer.from('0\nxy'))
    r.end()
    expect(lines).toEqual(['abc', '12345678', 'xy'])
    expect(overflows).toBe(1)
  })
})
