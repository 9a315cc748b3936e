import t from 'tap'
import { parseDirectives, plan, tokens } from '../../simulator/scripted-model.ts'
import type { Item } from '../../simulator/scripted-model.ts'

const user = (text: string): Item => ({ id: 'msg_1', type: 'message', role: 'user', content: [{ type: 'input_text', text }] })
const base = { model: 'm', context: [], tools: [{ type: 'function', name: 'f' }], toolChoice: 'auto', parallelToolCalls: true, maxOutputTokens: null }

t.test('directives', async (t) => {
  const d = parseDirectives('Hi [len:5] there [slow:250] [fail] [incomplete] [stuck] [call:a {"x":[1,"]"]}] [call:b] [not a directive]')
  t.same(d.calls, [{ name: 'a', arguments: '{"x":[1,"]"]}' }, { name: 'b', arguments: '{}' }])
  t.match(d, { len: 5, slowMs: 250, fail: true, incomplete: true, stuck: true, rest: 'Hi there [not a directive]' })
  t.same(parseDirectives('[call:f {"broken": ]').calls, [{ name: 'f', arguments: '{"broken":' }], 'unbalanced arguments end at the first ]')
  t.match(parseDirectives('Rude [safety:warning] words'), { safety: { notice: 'warning', caseOnly: false }, rest: 'Rude words' })
  t.match(parseDirectives('[safety:deactivation:case-only]'), { safety: { notice: 'deactivation', caseOnly: true }, rest: '' })
  t.match(parseDirectives('[safety:other] [safety:warning:x]'), { safety: null, rest: '[safety:other] [safety:warning:x]' }, 'unknown notices are plain text')
})

t.test('plans', async (t) => {
  t.equal(plan({ ...base, input: [user('[len:7]')] }).text, 'The simulator streams this deterministic answer one')
  t.equal(plan({ ...base, input: [user('x [fail]')] }).status, 'failed')
  const capped = plan({ ...base, input: [user('[len:100]')], maxOutputTokens: 20 })
  t.equal(capped.status, 'incomplete')
  t.equal(tokens(capped.text ?? ''), 20)
  const fromContext = plan({ ...base, input: [], context: [user('earlier')] })
  t.match(fromContext.text, /^You said: "earlier"/)
  const outputs = plan({ ...base, input: [{ id: 'fco_1', type: 'function_call_output', call_id: 'call_1', output: [{ type: 'input_text', text: 'part' }] }] })
  t.equal(outputs.text, 'Tool result for call_1: part')
})
