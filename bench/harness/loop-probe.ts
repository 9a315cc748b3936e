import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { ROOT } from './processes.ts'

export interface LoopProbe {
  /** Event-loop delay of an idle process since the previous read (ms), as prom-client reports it. */
  read: () => Promise<{ p99Ms: number, maxMs: number }>
  stop: () => Promise<void>
}

export function startLoopProbe (): LoopProbe {
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'harness', 'loop-probe-main.ts')], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const waiting: Array<(line: string) => void> = []
  lines.on('line', line => waiting.shift()?.(line))
  const exited = once(child, 'exit')
  return {
    read () {
      return new Promise(resolve => {
        waiting.push(line => resolve(JSON.parse(line)))
        child.stdin!.write('\n')
      })
    },
    async stop () {
      child.stdin!.end()
      await exited
    }
  }
}
