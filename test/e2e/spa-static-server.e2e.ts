import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import t from 'tap'
import { selfSignedCertificate, startSpaProcess } from './helpers.ts'

t.test('the SPA\'s static server serves the page\'s own files only, TypeScript as JavaScript', async t => {
  const url = await startSpaProcess(t)
  const get = (path: string, init?: RequestInit) => fetch(url + path, init)

  const page = await get('/')
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /^text\/html/)
  t.match(page.headers.get('content-security-policy'), /script-src 'self'/)
  t.match(await page.text(), '<script type="module" src="app.ts"></script>')

  const app = await get('/app.ts')
  t.equal(app.status, 200)
  t.match(app.headers.get('content-type'), /^text\/javascript/, 'browsers run it as a module script')
  const js = await app.text()
  t.match(js, /import \{\s+ApiError, createClient,/, 'values are kept')
  t.notMatch(js, /\btype (Assistant|Client|Usage)\b/, 'type-only imports are gone')
  t.notMatch(js, /import type|: Promise<void>|as HTMLElement/, 'types are gone')

  for (const path of ['/server.ts', '/README.md', '/../package.json', '/%2e%2e/package.json', '/.env']) {
    t.equal((await get(path)).status, 404, `${path} is not served`)
  }
  t.equal((await get('/index.html', { method: 'POST' })).status, 405)
})

t.test('with --cert and --key it serves HTTPS', async t => {
  const tls = selfSignedCertificate(t)
  const url = await startSpaProcess(t, ['--cert', tls.certFile, '--key', tls.keyFile])
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/)
  const status = await new Promise<number | undefined>((resolve, reject) => {
    request(`${url}/`, { ca: readFileSync(tls.certFile) }, res => { res.resume(); resolve(res.statusCode) }).on('error', reject).end()
  })
  t.equal(status, 200)
})
