import net from 'node:net'
import type { AddressInfo } from 'node:net'

/**
 * A TCP relay in front of the simulator that counts the bytes each way: what a gateway sends upstream
 * and receives, on the wire (headers, bodies, chunked framing), whatever client it uses.
 */
export async function startByteCounter (target: { host: string, port: number }) {
  let sent = 0
  let received = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer(client => {
    const upstream = net.connect(target.port, target.host)
    sockets.add(client).add(upstream)
    client.on('data', chunk => { sent += chunk.length; upstream.write(chunk) })
    upstream.on('data', chunk => { received += chunk.length; client.write(chunk) })
    const close = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
    client.on('close', close).on('error', close)
    upstream.on('close', close).on('error', close)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    /** Bytes the gateway sent upstream and received from it so far. */
    read: () => ({ sent, received }),
    close: () => new Promise<void>(resolve => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
  }
}
