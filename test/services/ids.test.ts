import t from 'tap'
import { newId } from '../../services/ids.ts'

t.test('ids are a prefix and 22 letters or digits: what Assistants-era code extracts from a message with /run_[a-zA-Z0-9]+/', async t => {
  const ids = Array.from({ length: 2000 }, () => newId('run'))
  t.ok(ids.every(id => /^run_[A-Za-z0-9]{22}$/.test(id)), 'letters and digits only, fixed length')
  t.ok(ids.every(id => `a run ${id} is active`.match(/run_\w+/)?.[0] === id), 'the whole id is found in a sentence')
  t.equal(new Set(ids).size, ids.length, 'no repeats')
  // 2000 ids: each of the 62 digits shows up in the last place (the first only goes to 7: 62^22 is just above 2^128).
  t.equal(new Set(ids.map(id => id.at(-1))).size, 62, 'the last digit takes every value')
})
