import t from 'tap'
import { JSON_MAX_DEPTH, createJsonSyntaxCheck, createTextCheck } from '../../../services/uploads/text-check.ts'

function jsonValid (text: string, chunk = 1): boolean {
  const check = createJsonSyntaxCheck()
  for (let i = 0; i < text.length; i += chunk) if (!check.push(text.slice(i, i + chunk))) return false
  return check.end()
}
function parses (text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

const SEEDS = [
  '{"a":[1,2.5e-3,-0,true,false,null,"x\\u00e9\\n\\"\\\\\\/"],"b":{}}', '[]', '{}', '0', '-1.5E+10', '"str"',
  ' [ 1 , { "k" : [ ] } ] ', 'true', 'null', '[1,]', '{"a":}', '01', '1.', '-', '1e', '"\\x"', '[1 2]', '{"a" 1}',
  '{,}', '[-]', 'tru', '"\t"', '[[[]]]', '{"a":1,}', '1 2', '.5', '+1', '"\\u12g4"', '1.0e+', '[0e5,0.0E-0]', '', '  ',
  '{"a":1}}', '[1]]', '"unterminated', '{"a":"b" , "c" : [null]}'
]

t.test('the streaming JSON check agrees with JSON.parse', async t => {
  for (const seed of SEEDS) {
    for (const chunk of [1, 2, 3, 1000]) t.equal(jsonValid(seed, chunk), parses(seed), `${JSON.stringify(seed)} in chunks of ${chunk}`)
  }
  // Deterministic mutations of the seeds: insertions, deletions and replacements of JSON-ish characters.
  let seed = 42
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  const alphabet = '{}[]",:0123456789.-+eEtrufalsn\\u \n\tab'
  let disagreements = 0
  for (let i = 0; i < 20_000; i++) {
    let text = SEEDS[random(SEEDS.length)]!
    for (let edits = 1 + random(3); edits > 0; edits--) {
      const at = random(text.length + 1)
      const ch = alphabet[random(alphabet.length)]!
      const op = random(3)
      text = op === 0 ? text.slice(0, at) + ch + text.slice(at) : op === 1 ? text.slice(0, at) + text.slice(at + 1) : text.slice(0, at) + ch + text.slice(at + 1)
    }
    if (jsonValid(text, 1 + random(4)) !== parses(text)) {
      disagreements++
      t.fail(`disagrees on ${JSON.stringify(text)}`)
    }
  }
  t.equal(disagreements, 0)
})

t.test('nesting is bounded so the check runs in constant memory', async t => {
  t.ok(jsonValid('['.repeat(JSON_MAX_DEPTH) + ']'.repeat(JSON_MAX_DEPTH)))
  t.notOk(jsonValid('['.repeat(JSON_MAX_DEPTH + 1) + ']'.repeat(JSON_MAX_DEPTH + 1)))
})

t.test('text: UTF-8 across chunk boundaries, BOM, control bytes, JSON', async t => {
  const feed = (kind: 'text' | 'json', bytes: Buffer, chunk: number) => {
    const check = createTextCheck(kind)
    for (let i = 0; i < bytes.length; i += chunk) {
      const problem = check.push(bytes.subarray(i, i + chunk))
      if (problem) return problem
    }
    return check.end()
  }
  const multibyte = Buffer.from('ünï 日本 🎙️ text\r\n\ttabbed\f')
  for (const chunk of [1, 2, 3, 5]) t.equal(feed('text', multibyte, chunk), null, `multi-byte characters split every ${chunk} bytes`)
  t.equal(feed('text', Buffer.from([0xEF, 0xBB, 0xBF, 0x68, 0x69]), 1), null, 'BOM')
  t.equal(feed('text', Buffer.from([0x68, 0xC3]), 1), 'it is not valid UTF-8 text', 'ends inside a character')
  t.equal(feed('text', Buffer.from([0x68, 0xFF, 0x69]), 2), 'it is not valid UTF-8 text')
  t.equal(feed('text', Buffer.from('a\x00b', 'latin1'), 1), 'it contains binary control bytes')
  t.equal(feed('text', Buffer.from('a\x1bb', 'latin1'), 1), 'it contains binary control bytes')
  t.equal(feed('json', Buffer.from('{"k": ["ü", 1e3]}'), 1), null)
  t.equal(feed('json', Buffer.from([0xEF, 0xBB, 0xBF, ...Buffer.from('[1]')]), 2), null, 'a BOM before JSON')
  t.equal(feed('json', Buffer.from('{"k": '), 3), 'it is not valid JSON', 'truncated')
  t.equal(feed('json', Buffer.from('{"k": 1} x'), 100), 'it is not valid JSON', 'trailing garbage')
  const check = createTextCheck('text')
  t.equal(check.push(Buffer.from([0xFF])), 'it is not valid UTF-8 text')
  t.equal(check.push(Buffer.from('fine')), 'it is not valid UTF-8 text', 'a verdict sticks')
})
