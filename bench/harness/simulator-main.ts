// The simulator as its own process for the benchmarks. Unlike simulator/cli.ts it takes every
// startSimulator option (the upload scenario needs a transcription limit above OpenAI's 25 MiB),
// as one JSON argument: node bench/harness/simulator-main.ts '{"port":4010,...}'.
import { startSimulator, type SimulatorOptions } from '../../simulator/index.ts'

const options = JSON.parse(process.argv[2] ?? '{}') as SimulatorOptions
const sim = await startSimulator({
  ...options,
  precompile: true,
  logger: { info () {}, warn () {}, error: (m) => process.stderr.write(`${m}\n`) }
})
const stop = () => { sim.close().then(() => process.exit(0), () => process.exit(1)) }
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
process.stdout.write(`simulator listening on ${sim.url}\n`)
