import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { BlockList, isIP, type LookupFunction } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { ConfigError } from '../config.ts'
import { ToolError } from './registry.ts'

/**
 * Where a webhook tool may not send the gateway's signed calls unless TOOL_WEBHOOK_ALLOWED_NETWORKS says
 * so: this machine, private networks and link-local addresses (the cloud metadata service, 169.254.169.254).
 * A tool's host is checked on every connection, after DNS, so a name cannot be pointed inside later.
 */
const INTERNAL: ReadonlyArray<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'], ['10.0.0.0', 8, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.0.0.0', 24, 'ipv4'], ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'], ['224.0.0.0', 4, 'ipv4'], ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'], ['::1', 128, 'ipv6'], ['fc00::', 7, 'ipv6'], ['fe80::', 10, 'ipv6'], ['ff00::', 8, 'ipv6'],
  // NAT64 prefixes reach IPv4 addresses, private ones included. (IPv4-mapped ::ffff:a.b.c.d is checked as IPv4.)
  ['64:ff9b::', 96, 'ipv6'], ['64:ff9b:1::', 48, 'ipv6']
]

const familyOf = (address: string): 'ipv4' | 'ipv6' => isIP(address) === 6 ? 'ipv6' : 'ipv4'

/** The comma-separated addresses and CIDR ranges of TOOL_WEBHOOK_ALLOWED_NETWORKS; a bad entry stops start-up. */
export function parseNetworks (list: string): BlockList {
  const networks = new BlockList()
  for (const entry of list.split(',').map(s => s.trim()).filter(Boolean)) {
    const [address = '', prefix, extra] = entry.split('/')
    const family = isIP(address)
    const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix)
    if (family === 0 || extra !== undefined || !/^\d{1,3}$/.test(String(bits)) || bits > (family === 6 ? 128 : 32)) {
      throw new ConfigError(`Invalid configuration: TOOL_WEBHOOK_ALLOWED_NETWORKS entry "${entry}" is not an IP address or a CIDR range such as 10.0.0.0/8`)
    }
    networks.addSubnet(address, bits, familyOf(address))
  }
  return networks
}

export interface WebhookClientOptions {
  /** TOOL_WEBHOOK_ALLOWED_NETWORKS. */
  allowedNetworks: string
  /** TOOL_WEBHOOK_MAX_RESPONSE_BYTES: an answer is read while it arrives and never beyond this. */
  maxResponseBytes: number
  log: FastifyBaseLogger
}

class DestinationRefused extends Error {
  readonly address: string
  constructor (address: string) {
    super(`webhook destination ${address} is not allowed`)
    this.address = address
  }
}

/**
 * How webhook tools are called: a POST with the signed body and nothing else. Never follows a redirect
 * (a 3xx would move the signed call, and bring back whatever another address answers, into the user's
 * thread: it is a tool error), refuses internal destinations unless allowed (on every connection, after
 * DNS), reads the answer as it arrives and stops at `maxResponseBytes`. The caller's signal bounds the
 * whole exchange, the answer's body included.
 */
export function createWebhookClient ({ allowedNetworks, maxResponseBytes, log }: WebhookClientOptions) {
  const internal = new BlockList()
  for (const [address, prefix, family] of INTERNAL) internal.addSubnet(address, prefix, family)
  const allowed = parseNetworks(allowedNetworks)
  const permitted = (address: string) => !internal.check(address, familyOf(address)) || allowed.check(address, familyOf(address))

  const lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0)
      const refused = addresses.find(a => !permitted(a.address))
      if (refused || addresses.length === 0) return callback(new DestinationRefused(refused?.address ?? hostname), '', 0)
      if (options.all) return (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, addresses)
      callback(null, addresses[0]!.address, addresses[0]!.family)
    })
  }
  // Own agents, so the checked lookup is the only way their sockets are made.
  const agents = { 'http:': new HttpAgent({ keepAlive: true, lookup }), 'https:': new HttpsAgent({ keepAlive: true, lookup }) }

  const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1')

  function read (res: IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const tooLarge = () => {
        res.destroy()
        reject(new ToolError('tool_failed', `the tool service's answer is larger than ${maxResponseBytes} bytes`))
      }
      if (Number(res.headers['content-length']) > maxResponseBytes) return tooLarge()
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > maxResponseBytes) return tooLarge()
        chunks.push(chunk)
      })
      res.on('end', () => resolve(Buffer.concat(chunks)))
      res.on('error', reject)
      res.on('close', () => { if (!res.complete) reject(new Error('the tool service closed the connection mid-answer')) })
    })
  }

  return {
    /** Refuses, at start-up, a tool URL that names an internal address outright. */
    checkUrl (tool: string, url: string): void {
      const host = hostOf(new URL(url))
      if (isIP(host) && !permitted(host)) {
        throw new ConfigError(`Invalid configuration: AGENTS_FILE: webhook tool ${tool} points at ${host}, an internal address; list it in TOOL_WEBHOOK_ALLOWED_NETWORKS to allow it`)
      }
    },

    /** POSTs `body` and resolves with the answer's text (2xx only); anything else rejects, a ToolError for what the model should read. */
    post (tool: string, url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<string> {
      const target = new URL(url)
      const host = hostOf(target)
      if (isIP(host) && !permitted(host)) return Promise.reject(refusal(tool, host))
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest
      return new Promise<string>((resolve, reject) => {
        const req = send(target, {
          method: 'POST',
          agent: agents[target.protocol as 'http:' | 'https:'],
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          signal
        }, res => {
          const status = res.statusCode ?? 0
          if (status < 200 || status >= 300) {
            res.destroy()
            const redirect = status >= 300 && status < 400 ? ': redirects are not followed' : ''
            return reject(new ToolError('tool_failed', `the tool service answered ${status}${redirect}`))
          }
          read(res).then(buffer => resolve(buffer.toString('utf8')), reject)
        })
        req.on('error', err => reject(err instanceof DestinationRefused ? refusal(tool, err.address) : err))
        req.end(body)
      })
    },

    close (): void {
      agents['http:'].destroy()
      agents['https:'].destroy()
    }
  }

  function refusal (tool: string, address: string): ToolError {
    // The model reads the message; the address (internal by definition) goes to the log only.
    log.warn({ tool, address }, 'webhook tool destination refused: not in TOOL_WEBHOOK_ALLOWED_NETWORKS')
    return new ToolError('tool_failed', 'the tool service\'s address is not allowed (TOOL_WEBHOOK_ALLOWED_NETWORKS)')
  }
}
export type WebhookClient = ReturnType<typeof createWebhookClient>
