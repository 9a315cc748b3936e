import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import OpenAI, { toFile, toStreamingFile } from 'openai'
import { assertNoNonconforming, conformance, failure, setup, wav } from './helpers.ts'

const MiB = 1024 * 1024

function digest (bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 8)
}

t.test('transcriptions through the SDK', async (t) => {
  const { sim, openai } = await setup(t)
  const audio = wav(1.5)

  t.test('json (default) with gpt-transcribe: WAV duration, digest, token usage', async (t) => {
    const result = await openai.audio.transcriptions.create({ file: await toFile(audio, 'clip.wav', { type: 'audio/wav' }), model: 'gpt-transcribe' })
    t.equal(result.text, `Transcript ${digest(audio)} of 1.50 s of audio`)
    t.match(result.usage, { type: 'tokens', input_token_details: { audio_tokens: 15, text_tokens: 0 } })
    const usage = result.usage as { input_tokens: number, output_tokens: number, total_tokens: number }
    t.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens)
    t.equal(conformance(sim, 'createTranscription', result), null, 'conforms to the spec')
  })

  t.test('text with whisper-1 and a language', async (t) => {
    const text = await openai.audio.transcriptions.create({
      file: await toFile(wav(2, { sampleRate: 8000, channels: 2 }), 'clip.wav', { type: 'audio/wav' }),
      model: 'whisper-1',
      response_format: 'text',
      language: 'fr',
      prompt: 'Bonjour',
      temperature: 0
    })
    t.type(text, 'string')
    t.match(text, /^Transcript [0-9a-f]{8} of 2\.00 s of audio \[fr\]\n$/)
  })

  t.test('verbose_json with whisper-1: duration, language, segments, words', async (t) => {
    const result = await openai.audio.transcriptions.create({
      file: await toFile(wav(3.25), 'clip.wav', { type: 'audio/wav' }),
      model: 'whisper-1',
      response_format: 'verbose_json',
      language: 'en',
      timestamp_granularities: ['word', 'segment']
    })
    t.equal(result.duration, 3.25)
    t.equal(result.language, 'english')
    t.equal(result.segments?.length, 1)
    t.match(result.segments?.[0], { id: 0, start: 0, end: 3.25, text: result.text })
    t.equal(result.words?.length, result.text.split(' ').length)
    t.same(result.usage, { type: 'duration', seconds: 4 })
    t.equal(conformance(sim, 'createTranscription', result), null, 'conforms to the spec')
  })

  t.test('verbose_json is whisper-1 only, and unknown models are refused', async (t) => {
    const file = await toFile(audio, 'clip.wav', { type: 'audio/wav' })
    const verbose = await failure(openai.audio.transcriptions.create({ file, model: 'gpt-4o-transcribe', response_format: 'verbose_json' }))
    t.type(verbose, OpenAI.BadRequestError)
    t.match(verbose, { param: 'response_format', code: 'unsupported_value' })
    const model = await failure(openai.audio.transcriptions.create({ file, model: 'tts-1' }))
    t.match(model, { status: 400, param: 'model' })
  })

  t.test('audio that is not WAV: duration estimated from the size', async (t) => {
    const mp3 = Buffer.alloc(48_000, 7)
    const result = await openai.audio.transcriptions.create({ file: await toFile(mp3, 'clip.mp3', { type: 'audio/mpeg' }), model: 'gpt-4o-mini-transcribe' })
    t.equal(result.text, `Transcript ${digest(mp3)} of 3.00 s of audio`)
  })

  t.test('a streamed WAV whose header has no data size', async (t) => {
    const streamed = wav(0.5, { declaredDataSize: 0xffffffff })
    const result = await openai.audio.transcriptions.create({
      file: toStreamingFile(Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)]), 'live.wav', { type: 'audio/wav' }),
      model: 'gpt-transcribe'
    })
    t.equal(result.text, `Transcript ${digest(streamed)} of 0.50 s of audio`, 'a chunked upload works and the duration comes from the bytes')
  })

  t.test('the 25 MiB request limit', async (t) => {
    const tooBig = Buffer.alloc(25 * MiB, 1)
    const error = await failure(openai.audio.transcriptions.create({ file: await toFile(tooBig, 'big.wav', { type: 'audio/wav' }), model: 'whisper-1' }))
    t.type(error, OpenAI.APIError)
    t.match(error, { status: 413, type: 'server_error', message: /Maximum content size limit \(26214400\) exceeded \(\d+ bytes read\)/ })
    const fits = Buffer.alloc(25 * MiB - 4096, 1)
    const ok = await openai.audio.transcriptions.create({ file: await toFile(fits, 'fits.mp3', { type: 'audio/mpeg' }), model: 'whisper-1' })
    t.match(ok.text, /^Transcript /, 'just under the limit is accepted')
    t.equal(sim.counters()['POST /v1/audio/transcriptions'] >= 2, true)
  })

  t.test('stream: true for gpt models', async (t) => {
    const stream = await openai.audio.transcriptions.create({ file: await toFile(audio, 'clip.wav', { type: 'audio/wav' }), model: 'gpt-4o-mini-transcribe', stream: true })
    const events: Array<{ type: string, delta?: string, text?: string }> = []
    for await (const event of stream) events.push(event)
    t.equal(events.at(-1)?.type, 'transcript.text.done')
    t.equal(events.filter((e) => e.type === 'transcript.text.delta').map((e) => e.delta).join(''), events.at(-1)?.text)
    for (const event of events) t.equal(conformance(sim, 'createTranscription', event, 'text/event-stream'), null, `${event.type} conforms`)
  })

  t.test('no nonconforming requests', async (t) => assertNoNonconforming(t, sim))
})
