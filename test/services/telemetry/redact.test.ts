import t from 'tap'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node'
import { keyShaped } from '../../helpers/fake-secrets.ts'
import { capturedContent, CONTENT_MAX_CHARS, redactSpan, redactText, redactingExporter } from '../../../services/telemetry/redact.ts'

t.test('credentials are redacted by their shape, other text is left alone', async t => {
  const cases: Array<[string, string]> = [
    [`key ${keyShaped('proj-abcdefghijklmnopqrstuvwxyz0123')}`, 'key sk-[REDACTED]'],
    ['whsec_abcdefghijklmnop', 'whsec_[REDACTED]'],
    ['Authorization: Bearer abc.def.ghijklmnop', 'Authorization: Bearer [REDACTED]'],
    ['token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl', 'token [REDACTED JWT]'],
    ['https://x/y?access_token=abcdefgh&x=1', 'https://x/y?access_token=[REDACTED]&x=1'],
    ['{"api_key":"12345678"}', '{"api_key":"[REDACTED]"}'],
    ['password=hunter22 next', 'password=[REDACTED] next'],
    ['AKIAABCDEFGHIJKLMNOP', 'AKIA[REDACTED]'],
    ['ghp_abcdefghijklmnop1234', 'ghp_[REDACTED]'],
    ['-----BEGIN PRIVATE KEY-----\nMIIabc\n-----END PRIVATE KEY-----', '[REDACTED PRIVATE KEY]']
  ]
  for (const [text, redacted] of cases) t.equal(redactText(text), redacted, text)
  for (const text of ['What should I study next?', 'risk-management-framework', 'max_output_tokens must be at most 1500', 'input_tokens: 594', '']) {
    t.equal(redactText(text), text, `"${text}" is left alone`)
  }
})

t.test('captured content is redacted, then cut', async t => {
  t.equal(capturedContent(`use ${keyShaped('abcdefghijklmnop1234')}`), 'use sk-[REDACTED]')
  const long = capturedContent('x'.repeat(CONTENT_MAX_CHARS + 10))
  t.equal(long, `${'x'.repeat(CONTENT_MAX_CHARS)}…[truncated]`)
})

function fakeSpan (attributes: ReadableSpan['attributes'], message?: string): ReadableSpan {
  const context = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 }
  return {
    name: 'POST /x',
    spanContext: function (this: { _context: typeof context }) { return this._context },
    _context: context,
    attributes,
    events: [{ name: 'e', time: [0, 0], attributes: { note: 'Bearer abcdefghijkl' } }],
    links: [],
    status: { code: message ? 2 : 0, ...(message ? { message } : {}) }
  } as unknown as ReadableSpan
}

t.test('a span leaves the process redacted: attributes, event attributes, status message; the rest read through', async t => {
  const clean = fakeSpan({ 'http.route': '/x' })
  clean.events.length = 0
  t.equal(redactSpan(clean), clean, 'nothing to redact: the span itself')

  const key = keyShaped('abcdefghijklmnop1234')
  const dirty = fakeSpan({ 'url.path': '/x', note: key, list: ['ok', 'Bearer abcdefghijkl'], n: 3 }, `refused ${key}`)
  const out = redactSpan(dirty)
  t.not(out, dirty)
  t.same(out.attributes, { 'url.path': '/x', note: 'sk-[REDACTED]', list: ['ok', 'Bearer [REDACTED]'], n: 3 })
  t.same(out.events[0]!.attributes, { note: 'Bearer [REDACTED]' })
  t.equal(out.status.message, 'refused sk-[REDACTED]')
  t.equal(out.name, 'POST /x')
  t.equal(out.spanContext().spanId, 'b'.repeat(16), 'methods still work on the redacted view')
  t.equal(dirty.attributes.note, key, 'the span itself is not changed')

  const exported: ReadableSpan[][] = []
  const exporter = redactingExporter({ export: (spans, done) => { exported.push(spans); done({ code: 0 }) }, shutdown: async () => {} })
  await new Promise(resolve => exporter.export([dirty], resolve))
  t.equal(exported[0]![0]!.attributes.note, 'sk-[REDACTED]', 'the exporter sends the redacted view')
})
