import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { ROOT } from './processes.ts'

export interface OtlpSink {
  url: string
  /** Export requests and bytes received so far, by path (/v1/traces, /v1/metrics). */
  received (): Promise<Record<string, { requests: number, bytes: number }>>
  /** Resolves once no trace export has arrived for `quietMs`: what a gateway had buffered has been sent. */
  drained (quietMs: number): Promise<void>
  close (): Promise<void>
}

/** The OTLP/HTTP collector of otlp-sink-main.ts, which keeps nothing: the gateway pays its real export cost, nothing downstream adds load. */
export async function startOtlpSink (): Promise<OtlpSink> {
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'harness', 'otlp-sink-main.ts')], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = once(child, 'exit')
  const [port] = await once(createInterface({ input: child.stdout! }), 'line') as [string]
  const url = `http://127.0.0.1:${port.trim()}`
  const received = async () => await (await fetch(`${url}/counts`)).json() as Record<string, { requests: number, bytes: number }>
  return {
    url,
    received,
    async drained (quietMs) {
      let last = -1
      let since = performance.now()
      for (;;) {
        const now = (await received())['/v1/traces']?.requests ?? 0
        if (now !== last) {
          last = now
          since = performance.now()
        } else if (performance.now() - since >= quietMs) {
          return
        }
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    },
    async close () {
      child.kill('SIGTERM')
      await exited
    }
  }
}
