/**
 * `/dashboard/rpc.js`: a JSON-RPC 2.0 client over one WebSocket that reconnects by itself
 * (backoff 0.5 s doubling up to 5 s). Kept free of backticks and `${` so it can live in
 * this template string verbatim.
 */
export const RPC_JS = String.raw`// JSON-RPC 2.0 over WebSocket, reconnecting when the socket drops.

/** An error answered by the oracle: JSON-RPC code, message, and galactic's stable code if any. */
export class RpcError extends Error {
  constructor(error) {
    super(String(error && error.message || 'rpc error'))
    this.name = 'RpcError'
    this.rpcCode = error && error.code
    this.code = error && error.data && error.data.code || null
  }
}

export class RpcClient {
  /**
   * @param {string} url the oracle's ws: URL
   * @param {{ onOpen?: () => void, onClose?: () => void, onNotification?: (method: string, params: unknown) => void }} handlers
   */
  constructor(url, handlers) {
    this.url = url
    this.handlers = handlers
    this.ws = null
    this.nextId = 1
    this.pending = new Map()
    this.backoffMs = 500
    this.timer = null
    this.open = false
  }

  start() {
    this.connect()
  }

  connect() {
    this.timer = null
    const ws = new WebSocket(this.url)
    this.ws = ws
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return
      this.open = true
      this.backoffMs = 500
      if (this.handlers.onOpen) this.handlers.onOpen()
    })
    ws.addEventListener('message', (e) => {
      if (this.ws === ws) this.onMessage(e.data)
    })
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return
      this.ws = null
      const wasOpen = this.open
      this.open = false
      for (const p of this.pending.values()) p.reject(new RpcError({ message: 'connection closed' }))
      this.pending.clear()
      if (wasOpen && this.handlers.onClose) this.handlers.onClose()
      this.timer = setTimeout(() => this.connect(), this.backoffMs)
      this.backoffMs = Math.min(this.backoffMs * 2, 5000)
    })
  }

  onMessage(data) {
    let msg
    try {
      msg = JSON.parse(String(data))
    } catch {
      return
    }
    // The oracle sends the notifications of one moment as a JSON-RPC batch.
    if (Array.isArray(msg)) {
      for (const item of msg) this.onParsed(item)
      return
    }
    this.onParsed(msg)
  }

  onParsed(msg) {
    if (msg === null || typeof msg !== 'object') return
    if (typeof msg.method === 'string' && msg.id === undefined) {
      if (this.handlers.onNotification) this.handlers.onNotification(msg.method, msg.params)
      return
    }
    const p = this.pending.get(msg.id)
    if (p === undefined) return
    this.pending.delete(msg.id)
    if (msg.error !== undefined) p.reject(new RpcError(msg.error))
    else p.resolve(msg.result)
  }

  /** Calls a method; rejects with RpcError when the oracle answers an error or the socket drops. */
  call(method, params) {
    const ws = this.ws
    if (ws === null || !this.open) return Promise.reject(new RpcError({ message: 'not connected' }))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params: params || {} }))
    })
  }
}
`
