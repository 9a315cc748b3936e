import t from 'tap'
import { createVerifiedTokens } from '../../services/verified-tokens.ts'

t.test('a remembered token is given back only until it expires, clock tolerance included', async t => {
  let now = 1_000_000_000_000
  const tokens = createVerifiedTokens<{ id: string }>({ clockToleranceMs: 5_000, now: () => now })
  const exp = now / 1000 + 30
  tokens.set('Bearer a.b.c', exp, { id: 'u1' })
  t.same(tokens.get('Bearer a.b.c'), { id: 'u1' })
  t.equal(tokens.get('Bearer a.b.d'), undefined, 'only the exact string that verified')
  now = exp * 1000 + 4_999
  t.same(tokens.get('Bearer a.b.c'), { id: 'u1' }, 'within the tolerance the verifier allows')
  now = exp * 1000 + 5_000
  t.equal(tokens.get('Bearer a.b.c'), undefined, 'expired: verified again')
  now = exp * 1000 - 1_000
  t.equal(tokens.get('Bearer a.b.c'), undefined, 'and forgotten once found expired')
})

t.test('a token without a numeric exp is not remembered', async t => {
  const tokens = createVerifiedTokens<{ id: string }>({ clockToleranceMs: 0 })
  tokens.set('Bearer x', undefined, { id: 'u1' })
  tokens.set('Bearer y', '9999999999', { id: 'u1' })
  tokens.set('Bearer z', Number.POSITIVE_INFINITY, { id: 'u1' })
  t.equal(tokens.get('Bearer x'), undefined)
  t.equal(tokens.get('Bearer y'), undefined)
  t.equal(tokens.get('Bearer z'), undefined)
})

t.test('a remembered token is verified again a minute after it verified, however far its exp', async t => {
  let now = 1_000_000_000_000
  const tokens = createVerifiedTokens<{ id: string }>({ clockToleranceMs: 0, now: () => now })
  tokens.set('Bearer a.b.c', now / 1000 + 3600, { id: 'u1' })
  now += 59_000
  t.same(tokens.get('Bearer a.b.c'), { id: 'u1' }, 'reading it does not extend its minute')
  now += 1_001
  t.equal(tokens.get('Bearer a.b.c'), undefined)
})
