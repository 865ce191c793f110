import { streamPair } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { encode as varint } from 'uint8-varint'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { FramedStream } from '../src/index.js'
import { rejection } from '../../test/support/rejection.js'

const Msg = z.strictObject({ text: z.string() })
type Msg = z.infer<typeof Msg>

const encoder = new TextEncoder()
/** One message as it travels: its varint length, then its JSON. */
const frame = (m: Msg): Uint8Array => {
  const body = encoder.encode(JSON.stringify(m))
  return new Uint8Array([...varint(body.byteLength), ...body])
}
const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}
/** Lets the pair deliver what was sent (it waits `delay` ms before each message). */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5))

const streams: Stream[] = []
afterEach(() => {
  for (const s of streams.splice(0)) s.abort(new Error('test over'))
})

/** Two connected libp2p streams (a real message stream pair in memory), the raw writer and a framed reader. */
async function pair(maxMessageBytes?: number): Promise<{ raw: Stream; framed: FramedStream<Msg, Msg>; peer: FramedStream<Msg, Msg> }> {
  const [a, b] = await streamPair({ delay: 0 })
  streams.push(a, b)
  return { raw: a, framed: new FramedStream<Msg, Msg>(b, Msg, 'test message', maxMessageBytes), peer: new FramedStream<Msg, Msg>(a, Msg, 'test reply') }
}

describe('FramedStream reading', () => {
  // Lengths of 1, 2 and 3 varint bytes.
  const messages: Msg[] = [{ text: 'a' }, { text: 'b'.repeat(300) }, { text: 'c'.repeat(20_000) }]
  const bytes = concat(messages.map(frame))

  it('cuts the same messages out of the bytes however they are chunked, the length prefix split too', async () => {
    const cuts = [[], [1], [2], [3], [4], [1, 2, 3], [9, 10, 11, 12], [bytes.length - 1], Array.from({ length: 40 }, (_, i) => i + 1)]
    for (const at of cuts) {
      const { raw, framed } = await pair()
      let from = 0
      for (const to of [...at, bytes.length]) {
        raw.send(bytes.subarray(from, to))
        from = to
        await settle() // each piece its own 'message' event
      }
      const got: Msg[] = []
      for (let i = 0; i < messages.length; i++) got.push(await framed.read())
      expect(got, `cut at ${at.join(',')}`).toEqual(messages)
    }
  })

  it('hands out several frames that came in one chunk one read at a time, in order', async () => {
    const { raw, framed } = await pair()
    raw.send(concat([bytes, bytes]))
    const got: Msg[] = []
    for (let i = 0; i < 2 * messages.length; i++) got.push(await framed.read())
    expect(got).toEqual([...messages, ...messages])
  })

  it('refuses a frame declared over maxMessageBytes with PAYLOAD_TOO_LARGE, and the stream can still answer', async () => {
    const { raw, framed, peer } = await pair(1024)
    raw.send(concat([varint(2048), new Uint8Array(100)]))
    const err = await rejection(framed.read(), 'PAYLOAD_TOO_LARGE')
    expect(err.message).toContain('frame of 2048 bytes, more than the 1024 allowed')
    // Reading is over for good; writing is not: the caller can say why before it hangs up.
    await rejection(framed.read(), 'PAYLOAD_TOO_LARGE')
    await framed.send({ text: 'too large' })
    expect(await peer.read()).toEqual({ text: 'too large' })
  })

  it('refuses a length prefix longer than the largest allowed frame needs with PAYLOAD_TOO_LARGE, without waiting for more', async () => {
    const { raw, framed } = await pair(1024)
    // 1,024 needs 2 varint bytes; the third "more follows" byte is already too many.
    raw.send(new Uint8Array(3).fill(0xff))
    expect((await rejection(framed.read(), 'PAYLOAD_TOO_LARGE')).message).toContain('length prefix')
  })

  it('gives the frames sent before the remote closed, then CONNECTION_CLOSED; a close mid-frame says so', async () => {
    const whole = await pair()
    whole.raw.send(concat([frame({ text: 'one' }), frame({ text: 'two' })]))
    await whole.raw.close()
    expect(await whole.framed.read()).toEqual({ text: 'one' })
    expect(await whole.framed.read()).toEqual({ text: 'two' })
    await rejection(whole.framed.read(), 'CONNECTION_CLOSED')

    const cut = await pair()
    cut.raw.send(frame({ text: 'three' }).subarray(0, 5))
    await cut.raw.close()
    expect((await rejection(cut.framed.read(), 'CONNECTION_CLOSED')).message).toContain('5 bytes into a frame') // its 1-byte length and 4 of its bytes
  })

  it('ends a waiting read with ABORTED when its signal aborts, and reads on after', async () => {
    const { raw, framed } = await pair()
    const controller = new AbortController()
    const waiting = rejection(framed.read({ signal: controller.signal }), 'ABORTED')
    controller.abort()
    await waiting
    raw.send(frame({ text: 'later' }))
    expect(await framed.read()).toEqual({ text: 'later' })
  })

  it('refuses to hold more than maxMessageBytes + 4 MiB unread: the frames before are read, then PAYLOAD_TOO_LARGE', async () => {
    const { raw, framed } = await pair(64 * 1024)
    const one = frame({ text: 'x'.repeat(60_000) })
    const sent = Math.ceil((64 * 1024 + 4 * 1024 * 1024) / one.byteLength) + 10
    for (let i = 0; i < sent; i++) raw.send(one)
    await settle()
    let read = 0
    const err = await rejection(
      (async () => {
        for (;;) {
          await framed.read()
          read++
        }
      })(),
      'PAYLOAD_TOO_LARGE',
    )
    expect(err.message).toContain('received and not read')
    expect(read).toBeGreaterThan(0)
    expect(read).toBeLessThan(sent)
  })
})
