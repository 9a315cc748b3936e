import t from 'tap'
import { png, pdf, text, wav } from '../fixtures/samples.ts'
import { forEachSdk, setup, refusal, all } from './helpers.ts'
import { FILE_KEYS, hasEveryField } from './shapes.ts'

// Uploads: files (create, retrieve, list with a purpose filter, del, content) and audio.transcriptions (the models, formats and options the SDK sends).
forEachSdk(t, (test, factory) => {
  test('files: create (assistants, user_data, vision), retrieve, list by purpose, delete; content is refused clearly', async t => {
    const ctx = await setup(t, factory)
    const { sdk, sim } = ctx
    const notes = pdf()
    const assistantsFile = await sdk.files.create(notes, 'notes.pdf', 'assistants')
    // expires_at is left out: OpenAI itself sends it only for files that expire.
    hasEveryField(t, assistantsFile, FILE_KEYS.filter(k => k !== 'expires_at'), 'file')
    t.match(assistantsFile, { object: 'file', filename: 'notes.pdf', bytes: notes.length, purpose: 'user_data', status: 'processed' })
    t.equal(assistantsFile.status_details, null)
    const userData = await sdk.files.create(text.plain(), 'notes.txt', 'user_data')
    t.match(userData, { purpose: 'user_data', status: 'processed' })
    const image = await sdk.files.create(png(), 'chart.png', 'vision')
    t.match(image, { purpose: 'vision', status: 'processed' })
    const foreign = await ctx.other.files.create(text.plain(), 'theirs.txt', 'user_data')
    t.same(await sdk.files.retrieve(assistantsFile.id), assistantsFile, 'retrieve gives the same file')

    const mine = await all(sdk.files.list('user_data'))
    t.same(mine.map(f => f.id).sort(), [assistantsFile.id, userData.id].sort(), 'purpose filter: my user_data files')
    t.same((await all(sdk.files.list('vision'))).map(f => f.id), [image.id], 'purpose filter: my vision file')
    const every = (await all(sdk.files.list())).map(f => f.id)
    t.same(every.sort(), [assistantsFile.id, userData.id, image.id].sort(), 'unfiltered: every file of mine')
    t.notOk(every.includes(foreign.id), 'none of another user\'s')

    const content = await refusal(t, sdk.files.content(assistantsFile.id), sdk.errors.BadRequestError, 'file content')
    t.match(content.message, /download/i, 'the message says downloads are not served')

    const deleted = await sdk.files.del(assistantsFile.id)
    t.same(deleted, { id: assistantsFile.id, object: 'file', deleted: true })
    await refusal(t, sdk.files.retrieve(assistantsFile.id), sdk.errors.NotFoundError, 'a deleted file')
    t.same(sim.nonconforming(), [])
  })

  test('audio.transcriptions: whisper-1 and gpt-transcribe, json, text and verbose_json, temperature, timestamp_granularities', async t => {
    const { sdk, sim } = await setup(t, factory)
    const audio = wav({ seconds: 0.5 })
    const whisper = await sdk.audio.json({ file: audio, filename: 'voice.wav', model: 'whisper-1', language: 'ru' })
    t.match(whisper.text, /^Transcript [0-9a-f]{8} of/, 'whisper-1 is answered')
    t.equal((whisper as typeof whisper & { model?: string }).model, 'gpt-transcribe', 'by the configured model, and the answer says which')
    const configured = await sdk.audio.json({ file: audio, filename: 'voice.wav', model: 'gpt-transcribe', temperature: 0.2, prompt: 'A lesson' })
    t.match(configured.text, /^Transcript /)
    const plain = await sdk.audio.text({ file: audio, filename: 'voice.wav', model: 'whisper-1' })
    t.type(plain, 'string')
    t.match(plain, /^Transcript /, 'response_format text is the text itself')
    const verbose = await sdk.audio.verbose({ file: audio, filename: 'voice.wav', model: 'whisper-1', language: 'ru', temperature: 0, timestamp_granularities: ['segment'] })
    t.match(verbose.text, /^Transcript /)
    t.type(verbose.duration, 'number', 'verbose_json has the duration')
    t.type(verbose.language, 'string', 'and the language')
    t.ok(verbose.segments === undefined || Array.isArray(verbose.segments), 'segments, when known, are a list')
    t.equal(sim.counters()['POST /v1/audio/transcriptions'], 4, 'one upstream call each')
    t.same(sim.nonconforming(), [])
  })
})
