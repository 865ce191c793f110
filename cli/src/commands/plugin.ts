import { join } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { CATALOG_FILE, type CatalogEntry } from '@galactic/schemas'
import { fail, intOption } from '../util.js'

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value)
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`)
    return n
  }
}

function entryLine(e: CatalogEntry): string {
  const needs = [
    e.resources.cpuCores === undefined ? '' : `${e.resources.cpuCores} cpu`,
    e.resources.memoryMiB === undefined ? '' : `${e.resources.memoryMiB} MiB`,
    e.resources.gpu === true ? 'gpu' : '',
  ].filter((s) => s !== '')
  const archive = e.image.archive === undefined ? 'no archive' : `archive ${(e.image.archive.size / 1024 / 1024).toFixed(1)} MiB in ${e.image.archive.chunks.length} chunk(s)`
  return `${e.name}@${e.version}  ops=${e.ops.join(',')}  image=${e.image.ref} ${e.image.digest.slice(0, 19)}  ${archive}${needs.length > 0 ? `  needs ${needs.join(', ')}` : ''}`
}

/** `galactic plugin publish|list`: the oracle operator's plugin catalog (docs/plugin-protocol.md, "Plugin catalog"). */
export function pluginCommand(): Command {
  const plugin = new Command('plugin').description("manage the plugin catalog an oracle serves to agents (--catalog)")
  plugin
    .command('publish')
    .description("publish a Docker-image plugin in an oracle's catalog; a running oracle serves it at once")
    .requiredOption('--data-dir <dir>', "the oracle's data folder")
    .requiredOption('--manifest <file>', 'galactic-plugin.json with runtime { type: "docker", image, digest }')
    .requiredOption('--archive <file>', 'the image as written by `docker save` (a tar); its image id must be the manifest digest')
    .option('--cpu-cores <n>', 'CPU cores one task needs', positiveNumber('--cpu-cores'))
    .option('--memory-mib <n>', 'memory one task needs, in MiB (agents with less do not offer it)', intOption('--memory-mib', 1, 1 << 30))
    .option('--gpu', 'one task needs a GPU (only agents with one offer it)')
    .option('--replace', 'replace an entry of the same name@version that has another image')
    .option('--json', 'print the entry as JSON')
    .action(async (opts: { dataDir: string; manifest: string; archive: string; cpuCores?: number; memoryMib?: number; gpu?: boolean; replace?: boolean; json?: boolean }) => {
      try {
        const { publishPlugin } = await import('@galactic/oracle')
        const entry = await publishPlugin({
          dataDir: opts.dataDir,
          manifest: opts.manifest,
          archive: opts.archive,
          resources: {
            ...(opts.cpuCores === undefined ? {} : { cpuCores: opts.cpuCores }),
            ...(opts.memoryMib === undefined ? {} : { memoryMiB: opts.memoryMib }),
            ...(opts.gpu === true ? { gpu: true } : {}),
          },
          replace: opts.replace === true,
        })
        process.stdout.write(opts.json === true ? `${JSON.stringify(entry)}\n` : `published ${entryLine(entry)}\n`)
      } catch (err) {
        fail(err, opts.json === true)
      }
    })
  plugin
    .command('list')
    .description("print an oracle's plugin catalog")
    .requiredOption('--data-dir <dir>', "the oracle's data folder")
    .option('--json', 'print the catalog as JSON')
    .action(async (opts: { dataDir: string; json?: boolean }) => {
      try {
        const { CatalogFile } = await import('@galactic/oracle')
        const catalog = await new CatalogFile(join(opts.dataDir, CATALOG_FILE)).read()
        if (opts.json === true) process.stdout.write(`${JSON.stringify(catalog)}\n`)
        else if (catalog.plugins.length === 0) process.stdout.write('the catalog is empty\n')
        else for (const e of catalog.plugins) process.stdout.write(`${entryLine(e)}\n`)
      } catch (err) {
        fail(err, opts.json === true)
      }
    })
  return plugin
}
