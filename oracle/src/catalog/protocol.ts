import type { Logger } from 'pino'
import { FramedStream, type Stream } from '@galactic/net'
import { CatalogRequest, GalacticError, type CatalogReply } from '@galactic/schemas'
import type { CatalogFile } from './catalog-file.js'

/**
 * Serves `/galactic/catalog/1.0.0`: reads one CatalogRequest, answers one CatalogReply with the
 * catalog as it is on disk now (re-read when the file changed), then closes the stream.
 */
export async function handleCatalogStream(stream: Stream, catalog: CatalogFile, log?: Logger): Promise<void> {
  const framed = new FramedStream<CatalogRequest, CatalogReply>(stream, CatalogRequest, 'catalog request')
  try {
    await framed.read({ signal: AbortSignal.timeout(10_000) })
    await framed.send({ ok: true, catalog: await catalog.read() })
  } catch (err) {
    const error = GalacticError.from(err)
    log?.warn({ code: error.code, err: error.message }, 'catalog request failed')
    await framed.send({ ok: false, error: error.toObject() }).catch(() => {})
  }
  await framed.close()
}
