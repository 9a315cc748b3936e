// An idle Node process measuring its own event-loop delay exactly as prom-client does in the gateway
// (monitorEventLoopDelay, 10 ms resolution). Each line on stdin gets one line back — p99 and max in ms
// since the previous line — and resets the histogram. Its readings are the machine's own scheduling
// noise: the floor under the gateway's figures.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'

const histogram = monitorEventLoopDelay({ resolution: 10 })
histogram.enable()
createInterface({ input: process.stdin }).on('line', () => {
  process.stdout.write(`${JSON.stringify({ p99Ms: histogram.percentile(99) / 1e6, maxMs: histogram.max / 1e6 })}\n`)
  histogram.reset()
}).on('close', () => process.exit(0))
