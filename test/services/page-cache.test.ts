import t from 'tap'
import { createPageCache } from '../../services/page-cache.ts'

t.test('entries expire, and expired ones are swept by later inserts', async t => {
  let now = 0
  const cache = createPageCache<string>({ maxBytes: 1000, ttlMs: 100, now: () => now })
  cache.set('a', 'A', 10)
  cache.set('b', 'B', 10)
  t.equal(cache.get('a'), 'A')
  now = 50
  cache.set('c', 'C', 10)
  now = 120
  t.equal(cache.get('a'), undefined, 'expired')
  t.equal(cache.get('c'), 'C')
  cache.set('d', 'D', 10)
  t.equal(cache.size, 2, 'a and b swept without ever being read again')
  t.equal(cache.bytes, 20)
})

t.test('bounded by size, oldest out first; oversize values are not cached', async t => {
  const cache = createPageCache<number>({ maxBytes: 100, ttlMs: 60_000 })
  for (let i = 0; i < 10; i++) cache.set(`k${i}`, i, 20)
  t.ok(cache.bytes <= 100)
  t.equal(cache.get('k0'), undefined, 'the oldest went first')
  t.equal(cache.get('k9'), 9)
  cache.set('big', -1, 40)
  t.equal(cache.get('big'), undefined, 'a value over a quarter of the budget is not cached')
  const off = createPageCache<number>({ maxBytes: 0, ttlMs: 60_000 })
  off.set('x', 1, 1)
  t.equal(off.get('x'), undefined, '0 disables the cache')
})

t.test('replacing a key keeps the byte count right', async t => {
  const cache = createPageCache<string>({ maxBytes: 1000, ttlMs: 60_000 })
  cache.set('k', 'one', 30)
  cache.set('k', 'two', 50)
  t.equal(cache.bytes, 50)
  t.equal(cache.size, 1)
  t.equal(cache.get('k'), 'two')
})
