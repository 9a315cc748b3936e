import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import type { Test } from 'tap'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../server.ts'
import { startSpaServer, type SpaServer } from '../../examples/spa/server.ts'
import { startSdkExampleServer } from '../../examples/spa-sdk/server.ts'
import type { Simulator } from '../../simulator/index.ts'
import { tempDir, testConfig } from '../helpers/build.ts'
import { wav } from '../fixtures/samples.ts'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const ARTIFACTS = join(import.meta.dirname, 'artifacts')

// On an offline machine Chromium's background connections (updates, sync, QUIC probes) fail and slow it down.
const BASE_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic'
]

export interface Browser {
  context: BrowserContext
  page: Page
  /** Console messages and page errors, as `type: text`. */
  console: string[]
}

/**
 * Debian's Chromium with a fresh profile, closed when the test ends. A failing test leaves a
 * screenshot and the console log in test/e2e/artifacts/.
 */
export async function openBrowser (t: Test, options: { args?: string[], ignoreHTTPSErrors?: boolean, timezoneId?: string } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}. Install it with "apt-get install chromium" (Debian; .ci/run does this) or set CHROMIUM_PATH.`)
  }
  const context = await chromium.launchPersistentContext(tempDir(t, 'agw-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_ARGS, ...(options.args ?? [])],
    ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false,
    ...(options.timezoneId ? { timezoneId: options.timezoneId } : {}),
    viewport: { width: 1200, height: 760 }
  })
  const page = context.pages()[0] ?? await context.newPage()
  page.setDefaultTimeout(15_000)
  const lines: string[] = []
  page.on('console', message => lines.push(`${message.type()}: ${message.text()}`))
  page.on('pageerror', err => lines.push(`pageerror: ${err.message}`))
  t.teardown(async () => {
    if (!t.passing()) {
      mkdirSync(ARTIFACTS, { recursive: true })
      const name = t.name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase().slice(0, 100)
      const file = join(ARTIFACTS, `${name}.png`)
      try {
        await page.screenshot({ path: file, fullPage: true })
        writeFileSync(join(ARTIFACTS, `${name}.console.txt`), lines.join('\n') + '\n')
        t.comment(`failed: screenshot ${file}`)
      } catch (err) {
        t.comment(`failed; no screenshot: ${(err as Error).message}`)
      }
    }
    await context.close()
  })
  return { context, page, console: lines }
}

export interface Gateway {
  app: FastifyInstance
  url: string
  /** Every request that reached the gateway's HTTP server, as `METHOD /path`, preflights included. */
  requests: string[]
  /** Cuts every open client connection, as a flaky network would. */
  dropConnections: () => void
}

/** The real gateway (production server options) listening on 127.0.0.1 in front of the simulator. */
export async function startGateway (t: Test, sim: Simulator, env: Record<string, string> = {}, port = 0): Promise<Gateway> {
  // No load shedding: a busy CI machine (Chromium included) easily lags the event loop past the 1 s default.
  const app = await buildServer(testConfig(sim, { MAX_EVENT_LOOP_DELAY_MS: '0', ...env }))
  const requests: string[] = []
  app.server.on('request', req => requests.push(`${req.method} ${req.url}`))
  const sockets = new Set<Socket>()
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  t.teardown(() => app.close())
  const url = await app.listen({ host: '127.0.0.1', port })
  return { app, url, requests, dropConnections: () => { for (const socket of sockets) socket.destroy() } }
}

/** The reference SPA's static server, in process. */
export async function startSpa (t: Test, options: { tls?: Certificate, port?: number } = {}): Promise<SpaServer> {
  const spa = await startSpaServer({
    host: '127.0.0.1',
    port: options.port ?? 0,
    ...(options.tls ? { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) } : {})
  })
  t.teardown(() => spa.close())
  return spa
}

/** The SDK example's static server (examples/spa-sdk/), in process. */
export async function startSdkExample (t: Test): Promise<SpaServer> {
  const spa = await startSdkExampleServer({ host: '127.0.0.1', port: 0 })
  t.teardown(() => spa.close())
  return spa
}

const SPA_SERVER = join(import.meta.dirname, '..', '..', 'examples', 'spa', 'server.ts')

/** `node examples/spa/server.ts --port 0 …`, as a developer runs it; resolves with the URL it prints. */
export async function startSpaProcess (t: Test, args: string[] = []): Promise<string> {
  const child = spawn(process.execPath, [SPA_SERVER, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = once(child, 'exit')
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await exited
    }
  })
  let output = ''
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk
      const match = /Reference SPA at (https?:\/\/[^/\s]+)\//.exec(output)
      if (match) resolve(match[1]!)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', code => reject(new Error(`the SPA server exited with ${code}:\n${output}`)))
  })
}

export interface Certificate { certFile: string, keyFile: string }

/** A throwaway self-signed certificate for 127.0.0.1 and localhost, made with openssl. */
export function selfSignedCertificate (t: Test): Certificate {
  const dir = tempDir(t, 'agw-tls-')
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '1',
      '-keyout', keyFile, '-out', certFile, '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'
    ], { stdio: 'pipe' })
  } catch (err) {
    throw new Error(`openssl could not make a test certificate (apt-get install openssl): ${(err as Error).message}`)
  }
  return { certFile, keyFile }
}

/** A mono 16-bit PCM WAV: a tone that Chromium's fake microphone plays in a loop. */
export function writeToneWav (file: string, seconds = 2, sampleRate = 48_000): void {
  writeFileSync(file, wav({ seconds, sampleRate }))
}

/** Requests to the API itself (not CORS preflights). */
export const apiRequests = (gateway: Gateway) => gateway.requests.filter(r => !r.startsWith('OPTIONS ') && r.includes(' /api/'))

/** The gateway's API as one user, for what a test checks beside the page: `(method, path under /api/openai, body?)`. */
export function apiAs (gateway: Gateway, token: string) {
  return async (method: string, path: string, body?: object) => {
    const res = await fetch(`${gateway.url}/api/openai${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {})
    })
    return { status: res.status, body: await res.json() }
  }
}
