import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../server.ts'
import { loadConfig, type Config } from '../../services/config.ts'
import type { Store } from '../../services/store/types.ts'
import { startSimulator, type Simulator, type SimulatorOptions } from '../../simulator/index.ts'
import { TEST_JWT_SECRET } from './tokens.ts'

export const SIM_KEY = 'sk-sim-test-key'

interface Teardown { teardown: (fn: () => unknown) => void }

/** A simulator for one test file (or test), closed with it. Short generation times keep suites fast. */
export async function startSim (t: Teardown, options: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const sim = await startSimulator({ apiKey: SIM_KEY, generationMs: 40, queueMs: 5, ...options })
  t.teardown(() => sim.close())
  return sim
}

/** The environment a test gateway runs with: the simulator upstream, an HS256 secret, a throwaway store. */
export function testEnv (sim: Pick<Simulator, 'url'> | null, env: Record<string, string> = {}): Record<string, string> {
  return {
    OPENAI_API_KEY: SIM_KEY,
    OPENAI_BASE_URL: sim?.url ?? 'http://127.0.0.1:9/v1',
    OPENAI_MAX_RETRIES: '0',
    OPENAI_TIMEOUT_MS: '5000',
    JWT_SECRET: TEST_JWT_SECRET,
    SQLITE_PATH: ':memory:',
    LOG_LEVEL: 'silent',
    RUN_POLL_MIN_MS: '20',
    // Load shedding answers 503 when the event loop lags; a busy CI machine running suites in
    // parallel lags without the gateway being overloaded, which is not what these tests are about.
    MAX_EVENT_LOOP_DELAY_MS: '0',
    ...env
  }
}

export function testConfig (sim: Pick<Simulator, 'url'> | null, env: Record<string, string> = {}): Config {
  return loadConfig(testEnv(sim, env))
}

export interface BuildOptions {
  env?: Record<string, string>
  clock?: () => number
  store?: Store
  logStream?: Writable
}

/** The gateway with production server options, ready for inject(); closed when the test ends. */
export async function build (t: Teardown, sim: Pick<Simulator, 'url'> | null, options: BuildOptions = {}): Promise<FastifyInstance> {
  const config = testConfig(sim, options.env)
  const app = await buildServer(config, {
    logStream: options.logStream,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.store ? { store: options.store } : {})
  })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

/** A private temp directory removed when the test ends. */
export function tempDir (t: Teardown, prefix = 'agw-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
