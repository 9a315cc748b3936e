import type { Test } from 'tap'
import { profile, type Setup } from './fixtures.ts'

export function assistantsContract (tap: Test, setup: Setup): void {
  tap.test('assistants: versions and tombstones', async t => {
    const { store } = await setup(t)
    t.equal(await store.getAssistant('curator'), null)
    t.same(await store.listAssistants(), [])

    const v1 = await store.putAssistant(profile('curator'), 0, 1000)
    t.same(v1, { profile: profile('curator'), deleted: false, version: 1, updated_at: 1000 })
    t.same(await store.getAssistant('curator'), v1)
    const edited = profile('curator', { instructions: 'Be brief.', temperature: null, tools: [] })
    t.same(await store.putAssistant(edited, 0, 1001), { profile: edited, deleted: false, version: 2, updated_at: 1001 })
    t.equal((await store.putAssistant(edited, 5, 1002)).version, 6, 'a higher base version wins')
    t.equal((await store.putAssistant(edited, 1, 1003)).version, 7, 'a higher stored version wins')

    const tomb = await store.deleteAssistant('curator', 0, 1004)
    t.same(tomb, { profile: null, deleted: true, version: 8, updated_at: 1004 })
    t.same(await store.getAssistant('curator'), tomb)
    t.same(await store.putAssistant(profile('mentor'), 1, 1005), { profile: profile('mentor'), deleted: false, version: 2, updated_at: 1005 },
      'the bundled file counts as version 1')
    t.same(await store.deleteAssistant('analyst', 1, 1006), { profile: null, deleted: true, version: 2, updated_at: 1006 },
      'a profile only in the file is hidden by a tombstone')

    const listed = (await store.listAssistants()).sort((a, b) => a.id.localeCompare(b.id))
    t.same(listed, [
      { id: 'analyst', profile: null, deleted: true, version: 2, updated_at: 1006 },
      { id: 'curator', ...tomb },
      { id: 'mentor', profile: profile('mentor'), deleted: false, version: 2, updated_at: 1005 }
    ], 'tombstones are listed')
    t.same(await store.putAssistant(profile('curator'), 0, 1007), { profile: profile('curator'), deleted: false, version: 9, updated_at: 1007 },
      'saving over a tombstone revives the profile')
  })
}
