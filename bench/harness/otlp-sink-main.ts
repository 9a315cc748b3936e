// A collector that keeps nothing, in its own process so its work never lands on the load generator's event
// loop: answers every OTLP/HTTP export 200 and counts it; GET /counts answers the counts so far.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const counts: Record<string, { requests: number, bytes: number }> = {}
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/counts') {
    res.setHeader('content-type', 'application/json')
    return res.end(JSON.stringify(counts))
  }
  const entry = counts[req.url ?? ''] ??= { requests: 0, bytes: 0 }
  entry.requests++
  req.on('data', (chunk: Buffer) => { entry.bytes += chunk.length })
  req.on('end', () => {
    res.setHeader('content-type', String(req.headers['content-type'] ?? 'application/x-protobuf'))
    res.end()
  })
})
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
