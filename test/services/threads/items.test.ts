import t from 'tap'
import { estimateTokens } from '../../../services/threads/items.ts'

t.test('token estimates count UTF-8 bytes, so no script is underestimated', async t => {
  // One token per two bytes plus 16 of message overhead.
  t.equal(estimateTokens('Hello, world'), 6 + 16)
  t.equal(estimateTokens('Привет, мир'), 10 + 16, 'Cyrillic: two bytes a letter')
  t.equal(estimateTokens('你好世界'), 6 + 16, 'CJK: three bytes a character')
  t.equal(estimateTokens('👍👍'), 4 + 16, 'emoji: four bytes each')
  t.equal(estimateTokens([{ type: 'text', text: 'ab' }, { type: 'text', text: 'cd' }]), 2 + 16, 'all text parts count')
  t.equal(estimateTokens('', 2), 16 + 3000, 'attachments: 1500 each')
})
