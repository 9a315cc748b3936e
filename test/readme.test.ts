import crypto from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { signWebhook } from '../services/tools/registry.ts'

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

t.test("the README's webhook signature check accepts the gateway's signature and nothing else, without throwing", async t => {
  const snippet = [...README.matchAll(/```js\n([\s\S]*?)\n```/g)].map(m => m[1]!).find(code => code.includes('x-gateway-signature'))
  t.ok(snippet, 'the README has the snippet')
  // eslint-disable-next-line no-new-func -- the README's own code, run as a reader would paste it
  const check = new Function('crypto', 'secret', 'req', 'rawBody', `${snippet}\nreturn ok`) as
    (c: typeof crypto, secret: string, req: { headers: Record<string, string | undefined> }, rawBody: string) => boolean
  const secret = 'webhook-secret-0123456789'
  const body = JSON.stringify({ tool: 'get_user_achievements', arguments: {}, user_id: 'alice', run_id: 'run_1', thread_id: 'thread_1' })
  const now = String(Math.floor(Date.now() / 1000))
  const headers = (timestamp: string, signature?: string) => ({ headers: { 'x-gateway-timestamp': timestamp, 'x-gateway-signature': signature } })

  t.equal(check(crypto, secret, headers(now, signWebhook(secret, now, body)), body), true, "the gateway's own signature")
  t.equal(check(crypto, secret, headers(now), body), false, 'no signature: false, not a RangeError')
  t.equal(check(crypto, secret, { headers: {} }, body), false, 'no headers at all')
  t.equal(check(crypto, secret, headers(now, 'sha256=short'), body), false, 'a signature of another length')
  t.equal(check(crypto, secret, headers(now, signWebhook('another-secret-0123456789', now, body)), body), false, 'another secret')
  t.equal(check(crypto, secret, headers(now, signWebhook(secret, now, body)), body.replace('alice', 'mallory')), false, 'another body')
  const old = String(Number(now) - 3600)
  t.equal(check(crypto, secret, headers(old, signWebhook(secret, old, body)), body), false, 'a replay an hour later')
})

t.test("every npm script the README names exists, and every script is in the README's Development table", async t => {
  const { scripts } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }
  const named = new Set([...README.matchAll(/npm run ([a-z][\w:-]*)/g)].map(m => m[1]!))
  for (const name of named) t.ok(scripts[name], `npm run ${name} is a script`)
  const table = README.slice(README.indexOf('## Development'), README.indexOf('Layout:', README.indexOf('## Development')))
  for (const name of Object.keys(scripts)) {
    if (['start', 'test', 'prestart'].includes(name)) continue // npm start, npm test: named without "run"
    t.ok(table.includes(`npm run ${name}`) || table.includes(`\`${name}\``), `npm run ${name} is in the Development table`)
  }
  t.match(table, /npm test/)
  t.match(table, /npm start/)
})
