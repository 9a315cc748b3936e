import http from 'node:http'
import { mintToken } from '../../scripts/dev-tokens.ts'
import { pool } from '../harness/http.ts'
import { SIM_KEY, sleep, startGateway, startSimulator, stopAll, type GatewayService, type SimulatorService } from '../harness/processes.ts'
import { monotonicUs, summarizeProfile } from '../harness/profile.ts'
import { rssOf, sampleRss } from '../harness/rss.ts'
import { MiB, round, toMB } from '../harness/stats.ts'
import { barChart } from '../report/svg.ts'
import { defineScenario, type ScenarioContext } from './types.ts'

const CONCURRENCY = 20
const SIZES_MIB = [10, 25]
/** Above the largest file plus the form: the simulator's default is OpenAI's 25 MiB request limit. */
const LIMIT_BYTES = 64 * MiB
const ROUTE = '/api/openai/audio/transcriptions'
/** Peak RSS may grow by at most this share of the extra bytes in flight (buffering would grow by all of them). */
const GROWTH_SHARE = 0.1

/** A valid 16 kHz mono 16-bit PCM WAV of exactly `bytes` bytes, filled with noise (nothing compresses it). */
function wav (bytes: number): Buffer {
  const buf = Buffer.allocUnsafe(bytes)
  let x = 0x2545f491
  for (let i = 44; i + 4 <= bytes; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    buf.writeInt32LE(x | 0, i)
  }
  buf.fill(0, bytes - ((bytes - 44) % 4))
  buf.write('RIFF', 0, 'ascii')
  buf.writeUInt32LE(bytes - 8, 4)
  buf.write('WAVEfmt ', 8, 'ascii')
  buf.writeUInt32LE(16, 16)
  buf.writeUInt16LE(1, 20) // PCM
  buf.writeUInt16LE(1, 22) // mono
  buf.writeUInt32LE(16_000, 24)
  buf.writeUInt32LE(32_000, 28)
  buf.writeUInt16LE(2, 32)
  buf.writeUInt16LE(16, 34)
  buf.write('data', 36, 'ascii')
  buf.writeUInt32LE(bytes - 44, 40)
  return buf
}

/** A multipart form around `file` without copying it: the parts are written one after the other. */
function form (fileField: string, fields: Record<string, string>, file: Buffer) {
  const boundary = `----agw-bench-${Math.random().toString(16).slice(2)}`
  const head = Buffer.from(Object.entries(fields).map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') +
    `--${boundary}\r\nContent-Disposition: form-data; name="${fileField}"; filename="lecture.wav"\r\nContent-Type: audio/wav\r\n\r\n`)
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  return { contentType: `multipart/form-data; boundary=${boundary}`, parts: [head, file, tail], length: head.length + file.length + tail.length }
}

interface Upload { status: number, ms: number }

function upload (url: string, authorization: string, body: ReturnType<typeof form>): Promise<Upload> {
  const started = performance.now()
  return new Promise((resolve) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { authorization, 'content-type': body.contentType, 'content-length': body.length },
      timeout: 120_000
    }, res => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }))
    })
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }))
    req.on('timeout', () => req.destroy())
    for (const part of body.parts.slice(0, -1)) req.write(part)
    req.end(body.parts.at(-1))
  })
}

interface Batch { seconds: number, mibPerSecond: number, statusCounts: Record<string, number> }
interface SizeFigures {
  fileMiB: number
  inFlightMB: number
  direct: Batch
  gateway: Batch & { rssBeforeMB: number, peakRssMB: number, peakOverBeforeMB: number }
}
export interface UploadsFigures { concurrency: number, routeAvailable: boolean, sizes: SizeFigures[], growthMB: number | null, growthLimitMB: number }

async function batch (send: () => Promise<Upload>, fileMiB: number): Promise<Batch> {
  const started = performance.now()
  const results = await pool(Array.from({ length: CONCURRENCY }, (_, i) => i), CONCURRENCY, send)
  const seconds = (performance.now() - started) / 1000
  const statusCounts: Record<string, number> = {}
  for (const r of results) statusCounts[r.status] = (statusCounts[r.status] ?? 0) + 1
  return { seconds: round(seconds, 2), mibPerSecond: round((fileMiB * CONCURRENCY) / seconds, 1), statusCounts }
}

function clients (sim: SimulatorService, gateway: GatewayService) {
  const bearer = `Bearer ${mintToken(gateway.jwtSecret, { sub: 'bench-uploads' })}`
  return {
    direct: (file: Buffer) => upload(`${sim.v1}/audio/transcriptions`, `Bearer ${SIM_KEY}`, form('file', { model: 'gpt-transcribe' }, file)),
    gateway: (file: Buffer) => upload(`${gateway.url}${ROUTE}`, bearer, form('audio', { response_format: 'json' }, file))
  }
}

const gatewayEnv = { UPLOAD_AUDIO_MAX_BYTES: String(LIMIT_BYTES), UPLOAD_TIMEOUT_MS: '300000' }

/**
 * Each size gets a fresh gateway process, warmed by one small upload: peaks are then compared from the
 * same start (memory a first batch leaves behind would otherwise flatter the second).
 */
async function measure (ctx: ScenarioContext): Promise<UploadsFigures> {
  let sim: SimulatorService | undefined
  let gateway: GatewayService | undefined
  try {
    sim = await startSimulator({ maxTranscriptionBytes: LIMIT_BYTES })
    const small = wav(MiB)
    let routeAvailable = true
    const sizes: SizeFigures[] = []
    for (const fileMiB of SIZES_MIB) {
      gateway = await startGateway(sim, { env: gatewayEnv })
      const send = clients(sim, gateway)
      const probe = await send.gateway(small)
      routeAvailable = probe.status !== 404
      if (!routeAvailable) ctx.log(`${ROUTE} answered 404: the route is not in this checkout; measuring the direct floor only`)
      else if (probe.status !== 200) throw new Error(`${ROUTE} answered ${probe.status} to a 1 MiB WAV`)
      await send.direct(small)
      const file = wav(fileMiB * MiB)
      ctx.log(`${CONCURRENCY} × ${fileMiB} MiB: direct`)
      const direct = await batch(() => send.direct(file), fileMiB)
      let gw: SizeFigures['gateway'] = { seconds: NaN, mibPerSecond: NaN, statusCounts: {}, rssBeforeMB: NaN, peakRssMB: NaN, peakOverBeforeMB: NaN }
      if (routeAvailable) {
        ctx.log(`${CONCURRENCY} × ${fileMiB} MiB: gateway`)
        await sleep(500)
        const before = rssOf(gateway.pid)
        const sampler = sampleRss(gateway.pid, 50)
        const result = await batch(() => send.gateway(file), fileMiB)
        const { peak } = sampler.stop()
        gw = { ...result, rssBeforeMB: toMB(before), peakRssMB: toMB(peak), peakOverBeforeMB: toMB(peak - before) }
      }
      sizes.push({ fileMiB, inFlightMB: toMB(fileMiB * MiB * CONCURRENCY), direct, gateway: gw })
      await gateway.stop()
      gateway = undefined
    }
    const [a, b] = sizes
    return {
      concurrency: CONCURRENCY,
      routeAvailable,
      sizes,
      growthMB: routeAvailable ? round(b.gateway.peakRssMB - a.gateway.peakRssMB, 1) : null,
      growthLimitMB: round(GROWTH_SHARE * (b.inFlightMB - a.inFlightMB), 1)
    }
  } finally {
    await stopAll([sim, gateway])
  }
}

const allOk = (b: Batch) => Object.keys(b.statusCounts).every(code => code === '200')

export default defineScenario<UploadsFigures>({
  name: 'uploads',
  title: '4. Uploads',
  description: `${CONCURRENCY} concurrent transcription uploads of a ${SIZES_MIB[0]} MiB WAV, then ${CONCURRENCY} of a ${SIZES_MIB[1]} MiB one, ` +
    `to \`POST ${ROUTE}\` (multipart field \`audio\`), against the same uploads sent straight to the simulator's ` +
    '`POST /v1/audio/transcriptions` (the floor; started with a 64 MiB request limit instead of OpenAI\'s 25 MiB, and the gateway ' +
    'with `UPLOAD_AUDIO_MAX_BYTES=64 MiB`). Throughput is the batch\'s bytes over its wall time; peak RSS of the gateway is sampled ' +
    'every 50 ms plus the kernel\'s high-water mark; each size runs on a fresh gateway process warmed by one 1 MiB upload, so both ' +
    'peaks start from the same idle process. The client streams one shared buffer per size, so ' +
    'the bench\'s own memory does not scale with the number of uploads.',
  expectedSeconds: 50,
  run: measure,

  goals (f) {
    if (!f.routeAvailable) {
      return [{ goal: 'Upload RSS independent of file size', met: null, evidence: `${ROUTE} is not in this checkout yet (404); only the direct floor was measured` }]
    }
    const [a, b] = f.sizes
    const ok = allOk(a.gateway) && allOk(b.gateway)
    return [{
      goal: 'Upload RSS independent of file size',
      met: ok && f.growthMB !== null && f.growthMB <= f.growthLimitMB,
      evidence: `peak RSS ${a.gateway.peakRssMB} MB with ${CONCURRENCY} × ${a.fileMiB} MiB in flight, ${b.gateway.peakRssMB} MB with ${CONCURRENCY} × ${b.fileMiB} MiB ` +
        `(${f.growthMB! >= 0 ? '+' : ''}${f.growthMB} MB for ${round(b.inFlightMB - a.inFlightMB, 1)} MB more in flight; limit ${f.growthLimitMB} MB)` +
        `${ok ? '' : `; not every upload succeeded: ${JSON.stringify(a.gateway.statusCounts)} / ${JSON.stringify(b.gateway.statusCounts)}`}`
    }]
  },

  render (f) {
    const rows = f.sizes.flatMap(s => [
      [`${CONCURRENCY} × ${s.fileMiB} MiB`, 'simulator direct (floor)', s.direct.seconds, s.direct.mibPerSecond, '1.00', '—', '—', JSON.stringify(s.direct.statusCounts)],
      [`${CONCURRENCY} × ${s.fileMiB} MiB`, 'gateway', s.gateway.seconds, s.gateway.mibPerSecond, (s.gateway.mibPerSecond / s.direct.mibPerSecond).toFixed(2),
        s.gateway.rssBeforeMB, s.gateway.peakRssMB, JSON.stringify(s.gateway.statusCounts)]
    ])
    return {
      tables: [{ columns: ['batch', 'to', 'wall time (s)', 'MiB/s', 'share of direct', 'RSS before (MB)', 'peak RSS (MB)', 'status codes'], rows }],
      svg: barChart({
        title: 'Uploads: gateway peak RSS vs bytes in flight',
        subtitle: f.routeAvailable
          ? `${CONCURRENCY} concurrent uploads per batch; labels: MB, and throughput as a share of the direct upload`
          : `${ROUTE} not available in this checkout: direct figures only`,
        unit: 'MB',
        series: ['bytes in flight', 'gateway RSS before', 'gateway peak RSS'],
        groups: f.sizes.map(s => ({
          label: `${CONCURRENCY} × ${s.fileMiB} MiB`,
          bars: [
            { series: 'bytes in flight', value: s.inFlightMB },
            { series: 'gateway RSS before', value: s.gateway.rssBeforeMB },
            { series: 'gateway peak RSS', value: s.gateway.peakRssMB, label: Number.isFinite(s.gateway.peakRssMB) ? `${s.gateway.peakRssMB} MB · ${(s.gateway.mibPerSecond / s.direct.mibPerSecond * 100).toFixed(0)} % of direct MiB/s` : 'not measured' }
          ]
        }))
      }),
      notes: [
        `"Independent of file size" is read as: peak RSS grows by less than ${GROWTH_SHARE * 100} % of the extra bytes in flight ` +
        'between the two batches (a gateway that buffered uploads would grow by all of them). The gateway spools each upload to a ' +
        'private temp file while checking it, then streams it upstream.'
      ]
    }
  },

  async profile (ctx) {
    const sim = await startSimulator({ maxTranscriptionBytes: LIMIT_BYTES })
    let gateway: GatewayService | undefined
    try {
      gateway = await startGateway(sim, { cpuProfile: true, env: gatewayEnv })
      const send = clients(sim, gateway)
      const file = wav(SIZES_MIB[1] * MiB)
      const startUs = monotonicUs()
      await batch(() => send.gateway(file), SIZES_MIB[1])
      const endUs = monotonicUs()
      ctx.log(`profiled ${CONCURRENCY} × ${SIZES_MIB[1]} MiB`)
      await gateway.stop()
      if (!gateway.cpuProfile) throw new Error('the gateway wrote no CPU profile')
      return summarizeProfile(gateway.cpuProfile, `${CONCURRENCY} concurrent ${SIZES_MIB[1]} MiB uploads`, { startUs, endUs })
    } finally {
      await stopAll([sim, gateway])
    }
  }
})
