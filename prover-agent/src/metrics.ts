import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/** A prover agent's Prometheus metrics. Names end in their unit. */
export class AgentMetrics {
  readonly registry = new Registry()
  readonly tasks: Counter<'op' | 'outcome'>
  readonly taskSeconds: Histogram<'op'>
  readonly blobBytes: Counter<'direction'>
  /** P_gas as the oracle last announced it on gossipsub (docs/pricing.md). */
  readonly pGas: Gauge
  private server: Server | undefined

  constructor(running: () => number) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'galactic_agent_' })
    this.tasks = new Counter({ name: 'galactic_agent_tasks_total', help: 'Tasks finished, by op name and outcome', labelNames: ['op', 'outcome'], registers })
    this.taskSeconds = new Histogram({
      name: 'galactic_agent_task_duration_seconds',
      help: 'Wall time of a task: inputs fetched, plugin run, outputs hashed',
      labelNames: ['op'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers,
    })
    this.pGas = new Gauge({ name: 'galactic_agent_pgas_wei_per_gas', help: 'The price per gas the oracle last announced (gossipsub)', registers })
    this.blobBytes = new Counter({ name: 'galactic_agent_blob_bytes_total', help: 'Blob bytes fetched (in) and uploaded (out)', labelNames: ['direction'], registers })
    new Gauge({
      name: 'galactic_agent_running_tasks',
      help: 'Tasks running now',
      registers,
      collect() {
        this.set(running())
      },
    })
  }

  /** Serves GET /metrics on host:port (port 0: any free port); returns the bound port. */
  async listen(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/metrics') {
        this.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(String(err)),
        )
      } else res.writeHead(404).end('GET /metrics\n')
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve())
    })
    this.server = server
    return (server.address() as AddressInfo).port
  }

  async close(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
