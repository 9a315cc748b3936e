import OpenAI from 'openai'
import type { Test } from 'tap'
import type { Response as OpenAIResponse } from 'openai/resources/responses/responses'
import { startSimulator } from '../../simulator/index.ts'
import type { Simulator, SimulatorOptions } from '../../simulator/index.ts'

export const API_KEY = 'sk-sim-local'

/** A simulator with fast timings and an SDK client pointed at it, both closed with the test. */
export async function setup (t: Test, options: SimulatorOptions = {}, client: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) {
  const sim = await startSimulator({ generationMs: 30, queueMs: 10, ...options })
  t.teardown(() => sim.close())
  const openai = new OpenAI({ apiKey: API_KEY, baseURL: sim.url, maxRetries: 0, timeout: 5_000, ...client })
  return { sim, openai }
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'incomplete'])

/** Polls like a gateway would, recording every status seen. */
export async function poll (openai: OpenAI, id: string, statuses: string[] = []): Promise<OpenAIResponse> {
  for (let i = 0; i < 500; i++) {
    const r = await openai.responses.retrieve(id)
    if (statuses.at(-1) !== r.status) statuses.push(String(r.status))
    if (TERMINAL.has(String(r.status))) return r
    await sleep(5)
  }
  throw new Error(`response ${id} did not finish`)
}

/** A PCM WAV file of the given length; the samples are a fixed pattern so the digest is stable. */
export function wav (seconds: number, { sampleRate = 16_000, channels = 1, bitsPerSample = 16, declaredDataSize }: { sampleRate?: number, channels?: number, bitsPerSample?: number, declaredDataSize?: number } = {}): Buffer {
  const blockAlign = channels * bitsPerSample / 8
  const byteRate = sampleRate * blockAlign
  const dataSize = Math.round(seconds * sampleRate) * blockAlign
  const buffer = Buffer.alloc(44 + dataSize)
  buffer.write('RIFF', 0, 'latin1')
  buffer.writeUInt32LE(36 + dataSize, 4)
  buffer.write('WAVE', 8, 'latin1')
  buffer.write('fmt ', 12, 'latin1')
  buffer.writeUInt32LE(16, 16)
  buffer.writeUInt16LE(1, 20)
  buffer.writeUInt16LE(channels, 22)
  buffer.writeUInt32LE(sampleRate, 24)
  buffer.writeUInt32LE(byteRate, 28)
  buffer.writeUInt16LE(blockAlign, 32)
  buffer.writeUInt16LE(bitsPerSample, 34)
  buffer.write('data', 36, 'latin1')
  buffer.writeUInt32LE(declaredDataSize ?? dataSize, 40)
  for (let i = 44; i < buffer.length; i++) buffer[i] = (i * 31) & 0xff
  return buffer
}

export function assertNoNonconforming (t: Test, sim: Simulator): void {
  t.same(sim.nonconforming(), [], 'every request the SDK sent conforms to the OpenAPI schema')
}

/** A plain JSON copy of what the SDK returned (drops the SDK's own additions such as output_text). */
export function wire<T> (value: T): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(value)) as Record<string, unknown>
  delete copy.output_text
  return copy
}

export const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true
}

/** The error a promise rejects with; throws if it resolves. */
export async function failure (promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise
  } catch (error) {
    return error as Error & Record<string, unknown>
  }
  throw new Error('expected the promise to reject')
}

/**
 * Issues of a body against the spec's response schema. OpenAI sends null for two fields the spec
 * declares optional but not nullable (a response's `usage` until it ends, a file's `expires_at` when
 * it never expires), so a null there is left out of the comparison.
 */
export function conformance (sim: Simulator, operationId: string, body: unknown, contentType = 'application/json') {
  const copy = JSON.parse(JSON.stringify(body)) as Record<string, unknown> & { response?: Record<string, unknown> }
  delete copy.output_text
  if (copy.usage === null) delete copy.usage
  if (copy.expires_at === null) delete copy.expires_at
  if (copy.response?.usage === null) delete copy.response.usage
  return sim.checkResponse(operationId, copy, 200, contentType)
}
